"""The Debian package, end to end: built by ``make deb`` (dpkg-buildpackage
on a copy of the tracked files), lintian clean, installed with ``apt-get
install ./stanzalink_*.deb``, its configuration edited as the quickstart
says, started, and a controller's ``status`` answered through a real
Prosody; then purged. Started twice over: by hand the way the unit starts
it (ExecStartPre, then ExecStart, as User=/Group=), and with ``systemctl
enable --now stanzalink`` under a systemd booted for the test.  Under that
systemd too: docs/quickstart.md's Debian steps, each command taken from the
document (tests/test_quickstart.py lists them), and a service started
before its configuration is edited (tried again every 15 s).

The install happens in a throwaway root: an overlay over the host's ``/``
(writes go to a tmpfs) in a private mount and PID namespace, entered with
``nsenter`` for each step, so apt, dpkg and the maintainer scripts run for
real (the user is created, the conffile gets its group) and the host is
left as it was. It shares the host's network, so the agent reaches the
Prosody the test starts on loopback. Needs root, the Debian build tools
(``apt-get build-dep ./``) and lintian; in CI a missing one fails. The
systemd run is left out on a host booted with systemd, whose cgroups the
nested manager would share (as in test_systemd_supervision)."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import slixmpp

from stanzalink_testing.prosody import Prosody, free_port, make_certs

from ..integration.peers import slix_client
from ..test_quickstart import set_key
from ..test_quickstart import steps as quickstart_steps

ROOT = Path(__file__).resolve().parents[2]
# Debian's own tools and interpreter: a pyenv or venv python3 first on PATH
# would be the one pybuild builds for, and the one the root would run
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("git", "make", "dpkg-buildpackage", "dpkg-checkbuilddeps", "lintian", "unshare",
         "nsenter", "chroot", "setpriv", "prosody", "openssl")  # fmt: skip
INSIDE = "/run/stanzalink-test"  # the test's folder, as the throwaway root sees it

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        sys.platform != "linux"
        or os.geteuid() != 0
        or bool(os.environ.get("STANZALINK_TEST_PYTHON")),  # qemu-user: no namespaces
        reason="needs root on Linux: apt-get, dpkg and a mount namespace",
    ),
]


def unavailable(why: str) -> None:
    """Skip where the tool is missing; in CI (which installs it through
    scripts/bootstrap.sh) a missing tool is a failure, not a quiet skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI=true: scripts/bootstrap.sh installs it)")
    pytest.skip(why)


def debian_env(**extra: str) -> dict[str, str]:
    return {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8", "HOME": "/root", **extra}


@dataclass
class Built:
    deb: Path
    seconds: float


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``make deb`` into a fresh folder: the package of the tracked files."""
    missing = [tool for tool in TOOLS if shutil.which(tool, path=DEBIAN_PATH) is None]
    if missing:
        unavailable(f"missing: {', '.join(missing)}")
    deps = subprocess.run(
        ["dpkg-checkbuilddeps", "debian/control"],
        cwd=ROOT, env=debian_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if deps.returncode != 0:
        unavailable(deps.stderr.strip())
    if not (ROOT / ".git").exists():
        unavailable("make deb copies the files git tracks: not a git checkout")
    folder = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    res = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "deb",
         f"DEB_BUILD={folder / 'build'}", f"DEB_OUT={folder / 'out'}"],
        # no PYTHON* of this interpreter's; no DEB_BUILD_OPTIONS=nocheck either
        env={k: v for k, v in os.environ.items()
             if not k.startswith("PYTHON") and k != "DEB_BUILD_OPTIONS"},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    # the build's own check: the compiled tokenizer loads from the build tree
    assert "parser backends: ['native', 'expat']" in res.stdout, res.stdout[-4000:]
    debs = sorted((folder / "out").glob("stanzalink_*.deb"))
    assert len(debs) == 1, debs
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version and debs[0].name.startswith(f"stanzalink_{version.group(1)}_")
    print(f"make deb: {seconds:.1f} s")
    return Built(debs[0], seconds)


def test_lintian_clean(built: Built) -> None:
    # errors and warnings fail; each override in debian/*.lintian-overrides says why
    res = subprocess.run(
        ["lintian", "--fail-on", "error,warning", "--info", str(built.deb)],
        env=debian_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    tags = [ln for ln in res.stdout.splitlines() if re.match(r"[EW]: ", ln)]
    assert res.returncode == 0 and not tags, res.stdout + res.stderr


SETUP = """set -e
mount --make-rprivate /
mount -t tmpfs tmpfs "$1"
mkdir "$1/upper" "$1/work" "$1/root"
r="$1/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$1/upper,workdir=$1/work" "$r"
# the kernel's settings and devices stay the host's, read-only or out of reach
mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
mount --rbind /sys "$r/sys"
mount -o remount,bind,ro "$r/sys"
mount -t tmpfs -o mode=0755 tmpfs "$r/dev"
for n in null zero full random urandom tty; do
    touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"
done
mkdir "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs tmpfs "$r/dev/shm"
for d in run tmp; do mount -t tmpfs tmpfs "$r/$d"; done
mkdir "$r{inside}"
mount --bind "$2" "$r{inside}"
if [ "$3" = boot ]; then
    touch "$2/console.log" "$r/dev/console"
    mount --bind "$2/console.log" "$r/dev/console"
    # a device's boot, less the host's services (Prosody, ejabberd, epmd on
    # the shared network) and the units that would touch the host's kernel
    rm -rf "$r"/etc/systemd/system/*.wants
    # nor a container image's policy-rc.d, which forbids maintainer scripts
    # to start, restart or stop any service
    rm -f "$r/usr/sbin/policy-rc.d"
    for u in {masked}; do ln -sf /dev/null "$r/etc/systemd/system/$u"; done
    printf '[Unit]\\nDescription=the test boot\\n' > "$r/etc/systemd/system/stanzalink-test.target"
    echo ready
    export container=stanzalink-test
    exec chroot "$r" /lib/systemd/systemd --system --unit=stanzalink-test.target \\
        --log-target=console --log-level=info
fi
echo ready
exec chroot "$r" sleep infinity
"""
MASKED = ("systemd-sysctl.service systemd-modules-load.service systemd-binfmt.service "
          "systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service "
          "systemd-tmpfiles-setup-dev.service systemd-timesyncd.service systemd-pstore.service "
          "systemd-random-seed.service apt-daily.timer apt-daily-upgrade.timer")  # fmt: skip


class ThrowawayRoot:
    """The host's ``/`` under an overlay whose writes go to a tmpfs, in a
    mount and PID namespace of its own, held by its PID 1 chrooted into it:
    ``sleep``, or with ``boot`` a systemd (container mode, started with an
    empty target). ``run`` enters it (``nsenter --mount --pid --root``) with
    Debian's PATH."""

    def __init__(self, scratch: Path, shared: Path, boot: bool = False) -> None:
        self.shared = shared
        self.boot = boot
        script = SETUP.format(inside=INSIDE, masked=MASKED)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
             "sh", "-c", script, "setup", str(scratch), str(shared), "boot" if boot else ""],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        try:
            if self.proc.stdout.readline().strip() != "ready":
                self.proc.wait(10)
                raise RuntimeError(f"the throwaway root did not start: {self.proc.stderr.read()}")
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            self.holder = int(children.read_text().split()[0])
            if boot:
                self.wait_booted()
        except BaseException:
            self.close()
            raise

    def wait_booted(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                console = (self.shared / "console.log").read_text(errors="replace")
                raise RuntimeError(f"the nested systemd did not boot ({state}):\n{console}")
            time.sleep(0.2)

    def command(self, *argv: str, user: str | None = None) -> list[str]:
        # the PID namespace too: its /proc (where /proc/self must resolve) and
        # its systemd (which takes requests only from its own namespace);
        # nsenter forks, and waits for the command
        enter = ["nsenter", f"--target={self.holder}", "--mount", "--pid", "--root", "--wd"]
        if user is not None:  # as the unit's User=/Group=, with no capabilities left
            enter += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        return [*enter, *argv]

    def run(
        self,
        *argv: str,
        user: str | None = None,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            self.command(*argv, user=user), env=debian_env(DEBIAN_FRONTEND="noninteractive"),
            capture_output=True, text=True, timeout=timeout, check=False, input=input,
        )  # fmt: skip
        if check and res.returncode != 0:
            raise AssertionError(f"{argv} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
        return res

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def put(self, path: str, content: bytes, mode: str, owner: str = "root:root") -> None:
        """Write the file ``path`` with this owner and mode, as an admin would."""
        (self.shared / "put.tmp").write_bytes(content)
        user, group = owner.split(":")
        self.run("install", "-m", mode, "-o", user, "-g", group, f"{INSIDE}/put.tmp", path)

    def close(self) -> None:
        # unshare --fork ignores SIGTERM; killed, it takes the holder with it
        # (--kill-child), and with the holder, PID 1 of the namespace, every
        # process in it; the mounts and the tmpfs go with the last of them
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def prosody(tmp_path: Path) -> Iterator[Prosody]:
    root = tmp_path / "prosody"
    root.mkdir()
    ca, cert, key = make_certs(root)
    server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
    server.write_config(cert, key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def unit_lines(unit: str, key: str) -> list[str]:
    return [ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith(f"{key}=")]


def edit(text: str, section: str, old: str, new: str) -> str:
    """``old`` (a regular expression matching a whole line) replaced by
    ``new`` inside ``[section]`` of a TOML text; the line must be there."""
    head = re.search(rf"^\[{re.escape(section)}\][^\n]*\n", text, re.M)
    assert head, f"[{section}] is not in the shipped device.toml"
    end = re.search(r"^\[", text[head.end() :], re.M)
    stop = head.end() + (end.start() if end else len(text) - head.end())
    body, n = re.subn(rf"^{old}$", new, text[head.end() : stop], count=1, flags=re.M)
    assert n == 1, f"[{section}]: no line {old!r} in the shipped device.toml"
    return text[: head.end()] + body + text[stop:]


UNIT = "/lib/systemd/system/stanzalink.service"
DEVICE, CONTROLLER = "device1", "alice"


@dataclass
class Session:
    """One install: the throwaway root, the accounts, the timings."""

    root: ThrowawayRoot
    prosody: Prosody
    started: float = 0.0  # when apt-get install began (monotonic)
    installed: float = 0.0  # seconds apt-get install took

    @property
    def device(self) -> str:
        return f"{DEVICE}@{self.prosody.domain}"

    @property
    def controller(self) -> str:
        return f"{CONTROLLER}@{self.prosody.domain}"


@contextmanager
def session(
    built: Built, prosody: Prosody, tmp_path: Path, boot: bool = False, register: bool = True
) -> Iterator[Session]:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)  # apt fetches local files as the user _apt
    shutil.copy(built.deb, shared)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    if register:
        prosody.register(DEVICE, "device1 password")
        prosody.register(CONTROLLER, "alice password")
    host_before = host_state()
    wait_host_dpkg_idle()
    root = ThrowawayRoot(scratch, shared, boot=boot)
    try:
        yield Session(root, prosody)
    finally:
        root.close()
    assert host_state() == host_before  # the host saw none of it


def install(s: Session, built: Built) -> None:
    """apt-get install ./stanzalink_*.deb, and check what it put in place."""
    root = s.root
    assert root.run("test", "-e", "/usr/bin/stanzalink", check=False).returncode != 0
    s.started = time.monotonic()
    res = root.run("apt-get", "install", "-y", "--no-install-recommends",
                   f"{INSIDE}/{built.deb.name}", timeout=300)  # fmt: skip
    s.installed = time.monotonic() - s.started
    assert "Setting up stanzalink" in res.stdout, res.stdout
    check_installed(s)


def check_installed(s: Session) -> None:
    """What the package put in place, before its configuration is edited."""
    root = s.root
    user = root.run("getent", "passwd", "stanzalink").stdout.strip().split(":")
    assert user[5:] == ["/var/lib/stanzalink", "/usr/sbin/nologin"], user
    assert int(user[2]) < 1000  # a system user
    stat = root.run("stat", "-c", "%U:%G %a", "/etc/stanzalink/device.toml").stdout.split()
    assert stat == ["root:stanzalink", "640"]
    stat = root.run("stat", "-c", "%U:%G %a", "/var/lib/stanzalink").stdout.split()
    assert stat == ["stanzalink:stanzalink", "700"]
    conffiles = root.read("/var/lib/dpkg/info/stanzalink.conffiles").split()
    assert conffiles == ["/etc/stanzalink/device.toml"]
    # installed, neither enabled nor started before the config is edited
    enabled = root.run("systemctl", "is-enabled", "stanzalink", check=False).stdout
    assert enabled == "disabled\n"
    if root.boot:
        active = root.run("systemctl", "is-active", "stanzalink", check=False).stdout
        assert active == "inactive\n"
    res = root.run("systemd-analyze", "verify", UNIT, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert root.read(UNIT) == (ROOT / "packaging/stanzalink.service").read_text()
    for doc in ("README.md.gz", "docs/quickstart.md.gz", "copyright",
                "examples/device.toml", "examples/plugins/fan.py"):  # fmt: skip
        root.run("test", "-f", f"/usr/share/doc/stanzalink/{doc}")
    root.run("test", "-f", "/usr/share/man/man1/stanzalink.1.gz")
    rule = ROOT / "packaging/10-stanzalink.rules"  # reboot for the user stanzalink
    if rule.exists():
        assert root.read("/usr/share/polkit-1/rules.d/10-stanzalink.rules") == rule.read_text()
    where = root.run("/usr/bin/python3", "-c", "import stanzalink.xml as x, stanzalink as s;"
                     "print(s.__file__, x.available_backends())").stdout  # fmt: skip
    assert where.startswith("/usr/lib/python3/dist-packages/stanzalink/__init__.py "), where
    assert "'native'" in where
    # the shipped file is refused until it is edited: the service cannot
    # start with it by mistake
    res = root.run("stanzalink", "check-config", "/etc/stanzalink/device.toml", check=False)
    assert res.returncode != 0 and "password" in res.stderr, res.stderr


def configure(s: Session) -> None:
    """Edit /etc/stanzalink/device.toml as the quickstart says, and put the
    password and the server's CA beside it."""
    root = s.root
    conf = root.read("/etc/stanzalink/device.toml")
    conf = edit(conf, "account", r'jid = "[^"]*"', f'jid = "{s.device}"')
    conf = edit(conf, "server", r"# host = .*", 'host = "127.0.0.1"')
    conf = edit(conf, "server", r"# port = .*", f"port = {s.prosody.port}")
    conf = edit(conf, "server", r"# ca_file = .*", 'ca_file = "/etc/stanzalink/ca.pem"')
    conf = edit(conf, "access", r"admin = \[\].*", f'admin = ["{s.controller}"]')
    root.put("/etc/stanzalink/device.toml", conf.encode(), "0640", "root:stanzalink")
    root.put("/etc/stanzalink/password", b"device1 password\n", "0640", "root:stanzalink")
    root.put("/etc/stanzalink/ca.pem", s.prosody.ca.read_bytes(), "0644")


def purge(s: Session) -> None:
    """apt-get purge: the package's files and state go; the admin's files
    and the user stay."""
    root = s.root
    root.run("apt-get", "purge", "-y", "stanzalink", timeout=300)
    for gone in ("/usr/bin/stanzalink", UNIT, "/etc/stanzalink/device.toml",
                 "/var/lib/stanzalink", "/var/log/stanzalink",
                 "/usr/share/doc/stanzalink"):  # fmt: skip
        assert root.run("test", "-e", gone, check=False).returncode != 0, gone
    root.run("test", "-f", "/etc/stanzalink/password")
    root.run("getent", "passwd", "stanzalink")
    status = root.run("dpkg-query", "-W", "-f=${db:Status-Status}", "stanzalink", check=False)
    assert status.stdout in ("", "not-installed"), status.stdout


def test_install_run_purge(built: Built, prosody: Prosody, tmp_path: Path) -> None:
    """Without a service manager: the agent started the way the unit starts
    it (ExecStartPre, then ExecStart, as User=/Group=)."""
    with session(built, prosody, tmp_path) as s:
        root = s.root
        install(s, built)
        unit = root.read(UNIT)
        (user,) = unit_lines(unit, "User")
        assert unit_lines(unit, "Group") == [user] == ["stanzalink"]
        (pre,) = unit_lines(unit, "ExecStartPre")
        (start,) = unit_lines(unit, "ExecStart")
        assert root.run(*pre.split(), user=user, check=False).returncode != 0
        configure(s)
        res = root.run(*pre.split(), user=user)
        assert res.stdout.startswith("/etc/stanzalink/device.toml: OK "), res.stdout
        log = tmp_path / "agent.log"
        with open(log, "wb") as out:
            agent = subprocess.Popen(
                root.command(*start.split(), user=user),
                env=debian_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            answer, answered = asyncio.run(ask_status(s.prosody, s.controller, s.device))
            assert answer.startswith(f"*status*\ndevice: {s.device}/agent"), answer
            text = log.read_text(errors="replace")
            assert "config /etc/stanzalink/device.toml" in text and "parser native" in text, text
            assert f"online as {s.device}/agent" in text, text
            print(
                f"\napt-get install: {s.installed:.1f} s; from its start to the device "
                f"answering status (config edited, agent started by hand): "
                f"{answered - s.started:.1f} s"
            )
            (pid,) = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()
            os.kill(int(pid), signal.SIGTERM)  # the agent, which nsenter waits for
            assert agent.wait(30) == 0, log.read_text(errors="replace")
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait(10)
        # the agent kept its state where the unit lets it write
        root.run("test", "-f", "/var/lib/stanzalink/scram.json")
        purge(s)


@pytest.mark.skipif(
    os.path.isdir("/run/systemd/system"),
    reason="a host booted with systemd: its cgroups are left alone (no nested systemd)",
)
def test_enable_now_under_systemd(built: Built, prosody: Prosody, tmp_path: Path) -> None:
    """The quickstart's steps on a root that runs systemd: apt install,
    edit one file, ``systemctl enable --now stanzalink``, ``status``."""
    if not os.access("/lib/systemd/systemd", os.X_OK):
        unavailable("needs systemd")
    with session(built, prosody, tmp_path, boot=True) as s:
        root = s.root
        install(s, built)
        configure(s)
        root.run("systemctl", "enable", "--now", "stanzalink")
        answer, answered = asyncio.run(ask_status(s.prosody, s.controller, s.device))
        assert answer.startswith(f"*status*\ndevice: {s.device}/agent"), answer
        print(
            f"\napt-get install: {s.installed:.1f} s; from its start to the device answering "
            f"status (config edited, systemctl enable --now): {answered - s.started:.1f} s"
        )
        assert root.run("systemctl", "is-enabled", "stanzalink").stdout == "enabled\n"
        pid = root.run("systemctl", "show", "-P", "MainPID", "stanzalink").stdout.strip()
        status = root.run("cat", f"/proc/{pid}/status").stdout
        uid = root.run("id", "-u", "stanzalink").stdout.strip()
        assert re.search(rf"^Uid:\s+{uid}\s", status, re.M), status
        assert re.search(r"^CapEff:\s+0+$", status, re.M), status
        # an upgrade (here the same version again) keeps the edited config and
        # its mode, and restarts the running service (try-restart)
        conf = root.read("/etc/stanzalink/device.toml")
        root.run("apt-get", "install", "-y", "--reinstall", f"{INSIDE}/{built.deb.name}",
                 timeout=300)  # fmt: skip
        assert root.read("/etc/stanzalink/device.toml") == conf
        stat = root.run("stat", "-c", "%U:%G %a", "/etc/stanzalink/device.toml").stdout.split()
        assert stat == ["root:stanzalink", "640"]
        wait_active(root)
        again = root.run("systemctl", "show", "-P", "MainPID", "stanzalink").stdout.strip()
        assert again != pid
        journal = root.run("journalctl", "-u", "stanzalink", "--no-pager", "-o", "cat").stdout
        assert "config /etc/stanzalink/device.toml" in journal, journal
        assert f"online as {s.device}/agent" in journal, journal
        root.run("systemctl", "stop", "stanzalink")
        result = root.run("systemctl", "show", "-P", "Result", "stanzalink").stdout
        assert result == "success\n", journal
        # removing the package stops the running service
        root.run("systemctl", "start", "stanzalink")
        purge(s)
        assert root.run("pgrep", "-u", "stanzalink", check=False).returncode == 1
        res = root.run("systemctl", "is-enabled", "stanzalink", check=False)
        assert res.returncode != 0, res.stdout


def wait_active(root: ThrowawayRoot, timeout: float = 60) -> None:
    """The service is active (it may still be starting, or waiting to be
    started again): anything else within ``timeout`` fails, with its journal."""
    deadline = time.monotonic() + timeout
    while True:
        state = root.run("systemctl", "is-active", "stanzalink", check=False).stdout.strip()
        if state == "active":
            return
        if state not in ("activating", "reloading") or time.monotonic() > deadline:
            journal = root.run("journalctl", "-u", "stanzalink", "--no-pager", check=False)
            raise AssertionError(f"stanzalink.service is {state}:\n{journal.stdout}")
        time.sleep(0.2)


def wait_host_dpkg_idle(timeout: float = 300) -> None:
    """The throwaway root starts as the host's ``/`` is: not while an apt or
    dpkg on the host is half-way through (its root would say "dpkg was
    interrupted")."""
    deadline = time.monotonic() + timeout
    while True:
        with open("/var/lib/dpkg/lock-frontend", "a") as lock:
            try:
                fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                idle = False
            else:
                fcntl.lockf(lock, fcntl.LOCK_UN)
                idle = not any(Path("/var/lib/dpkg/updates").iterdir())
        if idle:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"apt or dpkg on the host still busy after {timeout} s")
        time.sleep(1)


def host_state() -> tuple[str, bool, bool]:
    """What an install on the host would change: dpkg's record of the
    package, the command, the user."""
    dpkg = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "stanzalink"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    user = subprocess.run(["getent", "passwd", "stanzalink"], capture_output=True, check=False)
    return dpkg.stdout, Path("/usr/bin/stanzalink").exists(), user.returncode == 0


async def ask_status(prosody: Prosody, controller: str, device: str) -> tuple[str, float]:
    """Log in as the controller, send ``status`` to the device's full JID
    until the device is online to answer (the first answer to a new
    contact is its banner), and return the status reply and when it came."""
    got: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
    xmpp = await slix_client(
        prosody, controller, "alice password",
        setup=lambda x: x.add_event_handler("message", got.put_nowait),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            xmpp.send_message(mto=f"{device}/agent", mbody="status", mtype="chat")
            try:
                while True:
                    msg = await asyncio.wait_for(got.get(), 1)
                    if msg["type"] == "error":
                        break  # not online yet: ask again
                    body = str(msg["body"])
                    if body.startswith("*status*"):
                        return body, time.monotonic()
            except TimeoutError:
                continue
        raise AssertionError("the device did not answer status within 60 s")
    finally:
        xmpp.disconnect()


def quickstart_line(command: str, s: Session) -> str:
    """A command of docs/quickstart.md as the throwaway root runs it: as root
    already (no sudo), the document's example domain the test server's."""
    return re.sub(r"^sudo ", "", command.replace("example.net", s.prosody.domain))


def test_quickstart_on_debian(built: Built, prosody: Prosody, tmp_path: Path) -> None:
    """docs/quickstart.md's Debian steps, each block taken from the document
    and run as written (tests/test_quickstart.py lists them): the accounts
    on the server, ``apt install`` of the package ``make deb`` built (the
    ``built`` fixture), the edit of /etc/stanzalink/device.toml with the
    document's keys, the password file, check-config, ``systemctl enable
    --now`` under a systemd booted for the test, the journal, and the chat
    client's steps (profanity's commands done by a slixmpp client with the
    same stanzas).  What differs, and why: the server is the test's Prosody
    (its domain for example.net, its address and port for the document's
    server host), and apt answers yes by itself (no terminal)."""
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("a host booted with systemd: its cgroups are left alone (no nested systemd)")
    if not os.access("/lib/systemd/systemd", os.X_OK):
        unavailable("needs systemd")
    doc = quickstart_steps()
    assert doc["deb-build"].commands() == ["make deb"]  # what the built fixture ran
    with session(built, prosody, tmp_path, boot=True, register=False) as s:
        root = s.root
        for command in doc["server-accounts"].commands():  # on the server
            words = shlex.split(quickstart_line(command, s))
            assert words[0] == "prosodyctl", command
            subprocess.run(["prosodyctl", "--config", str(prosody.config), *words[1:]],
                           check=True, capture_output=True, timeout=30)  # fmt: skip
        (dist := s.root.shared / "dist").mkdir()
        shutil.copy(built.deb, dist)
        root.put("/etc/apt/apt.conf.d/99assume-yes", b'APT::Get::Assume-Yes "true";\n', "0644")

        (install,) = doc["deb-install"].commands()
        s.started = time.monotonic()
        res = root.run("sh", "-c", f"cd {INSIDE} && {quickstart_line(install, s)}", timeout=300)
        s.installed = time.monotonic() - s.started
        assert "Setting up stanzalink" in res.stdout, res.stdout
        check_installed(s)

        # the one file, edited with the document's keys and values
        conf = root.read("/etc/stanzalink/device.toml")
        snippet = tomllib.loads(doc["deb-config"].body.replace("example.net", prosody.domain))
        snippet["server"]["host"] = "127.0.0.1"  # the test server's address and port
        snippet["server"]["port"] = prosody.port
        for section, keys in snippet.items():
            for key, value in keys.items():
                conf = set_key(conf, section, key, value)
        root.put("/etc/stanzalink/device.toml", conf.encode(), "0640", "root:stanzalink")
        root.put(snippet["server"]["ca_file"], prosody.ca.read_bytes(), "0644")
        (password,) = doc["deb-password"].commands()
        root.run(*shlex.split(quickstart_line(password, s)), input="device1 password\n")
        stat = root.run("stat", "-c", "%U:%G %a", "/etc/stanzalink/password").stdout.split()
        assert stat == ["root:stanzalink", "640"]
        (check,) = doc["deb-check"].commands()
        res = root.run(*shlex.split(quickstart_line(check, s)))
        assert res.stdout.startswith("/etc/stanzalink/device.toml: OK (device "), res.stdout

        (enable,) = doc["deb-enable"].commands()
        root.run(*shlex.split(quickstart_line(enable, s)))
        (journal,) = doc["deb-journal"].commands()
        follow = subprocess.Popen(
            root.command(*shlex.split(quickstart_line(journal, s))), env=debian_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        followed: list[str] = []
        assert follow.stdout is not None
        reader = threading.Thread(target=followed.extend, args=(follow.stdout,), daemon=True)
        reader.start()
        online = f"online as {s.device}/agent"
        try:
            answer, answered = asyncio.run(
                chat_as_documented(prosody, doc["chat-profanity"].commands(), s)
            )
            deadline = time.monotonic() + 30  # journalctl -f shows what came in
            while not any(online in ln for ln in followed) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            # journalctl, which nsenter waits for, then nsenter
            for child in Path(f"/proc/{follow.pid}/task/{follow.pid}/children").read_text().split():
                os.kill(int(child), signal.SIGTERM)
            follow.wait(30)
            reader.join(10)
        assert answer.startswith(f"*status*\ndevice: {s.device}/agent"), answer
        assert any(online in ln for ln in followed), followed
        assert any("starting: config /etc/stanzalink/device.toml" in ln for ln in followed)
        print(
            f"\nquickstart on Debian: apt install {s.installed:.1f} s; from apt install to "
            f"the device answering status (the file edited, systemctl enable --now, the "
            f"chat client's steps): {answered - s.started:.1f} s"
        )
        purge(s)


async def chat_as_documented(
    prosody: Prosody, commands: list[str], s: Session
) -> tuple[str, float]:
    """profanity's commands of the quickstart, each done with the stanzas
    profanity sends: /connect (log in, roster, presence), /sub allow (accept
    the device's subscription request), /sub request (ask for its
    presence), /msg (a chat message); the status answer and when it came."""
    requests: asyncio.Queue[str] = asyncio.Queue()
    approved: asyncio.Queue[str] = asyncio.Queue()
    got: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
    xmpp: slixmpp.ClientXMPP | None = None
    answer = ("", 0.0)
    try:
        for command in commands:
            verb, *args = shlex.split(command.replace("example.net", prosody.domain))
            if verb == "/connect":
                (jid,) = args
                assert jid == s.controller, command

                def setup(x: slixmpp.ClientXMPP) -> None:
                    x.auto_authorize = None  # nothing accepted without /sub allow
                    x.auto_subscribe = False
                    x.add_event_handler("presence_subscribe", lambda p: requests.put_nowait(
                        p["from"].bare))  # fmt: skip
                    x.add_event_handler("presence_subscribed", lambda p: approved.put_nowait(
                        p["from"].bare))  # fmt: skip
                    x.add_event_handler("message", got.put_nowait)

                xmpp = await slix_client(prosody, jid, "alice password", setup=setup)
                await xmpp.get_roster()
                xmpp.send_presence()
            elif verb == "/sub" and args[0] == "allow":
                assert xmpp is not None and args[1] == s.device, command
                assert await asyncio.wait_for(requests.get(), 60) == s.device
                xmpp.send_presence(pto=args[1], ptype="subscribed")
            elif verb == "/sub" and args[0] == "request":
                assert xmpp is not None and args[1] == s.device, command
                xmpp.send_presence(pto=args[1], ptype="subscribe")
                assert await asyncio.wait_for(approved.get(), 30) == s.device
            elif verb == "/msg":
                assert xmpp is not None and args[0] == s.device, command
                xmpp.send_message(mto=args[0], mbody=" ".join(args[1:]), mtype="chat")
                while True:  # a first contact's banner may come first
                    msg = await asyncio.wait_for(got.get(), 30)
                    assert msg["type"] != "error", msg
                    if str(msg["body"]).startswith("*status*"):
                        answer = (str(msg["body"]), time.monotonic())
                        break
            else:
                raise AssertionError(f"a chat step the test does not know: {command}")
        assert answer[0], "no /msg step"
        return answer
    finally:
        if xmpp is not None:
            xmpp.disconnect()


def test_started_before_the_config_is_edited(
    built: Built, prosody: Prosody, tmp_path: Path
) -> None:
    """An image enables the unit as installed: started with the file as
    shipped, the unit's ExecStartPre (check-config) refuses it with one line
    naming the file, the key and what to edit, and systemd tries again every
    15 s (RestartSec) without giving up; once the file is edited the next
    try starts the agent, with no command typed."""
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("a host booted with systemd: its cgroups are left alone (no nested systemd)")
    if not os.access("/lib/systemd/systemd", os.X_OK):
        unavailable("needs systemd")
    with session(built, prosody, tmp_path, boot=True) as s:
        root = s.root
        install(s, built)
        assert root.run("systemctl", "show", "-P", "RestartUSec", "stanzalink").stdout == "15s\n"
        root.run("systemctl", "enable", "stanzalink")
        root.run("systemctl", "start", "--no-block", "stanzalink")
        deadline = time.monotonic() + 90
        while True:
            lines = refusals(root)
            if len(lines) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(lines) >= 3, lines
        texts = {text for _, text in lines}
        assert texts == {
            "stanzalink: /etc/stanzalink/device.toml: account.password_file: "
            "/etc/stanzalink/password does not exist or is not a file (the file is still as "
            "shipped: set [account] jid to the device's account, its password in "
            "/etc/stanzalink/password and a controller in [access] admin; see "
            "docs/quickstart.md)"
        }, texts
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(lines)]
        print(f"\ntries with the file as shipped, seconds apart: {[round(g, 1) for g in gaps]}")
        assert all(g >= 10 for g in gaps), gaps  # RestartSec apart: no spinning
        restarts = int(root.run("systemctl", "show", "-P", "NRestarts", "stanzalink").stdout)
        assert restarts >= 2
        edited = time.monotonic()
        configure(s)
        answer, answered = asyncio.run(ask_status(s.prosody, s.controller, s.device))
        assert answer.startswith(f"*status*\ndevice: {s.device}/agent"), answer
        print(f"from the file edited to the device answering status: {answered - edited:.1f} s")
        wait_active(root)
        purge(s)


def refusals(root: ThrowawayRoot) -> list[tuple[float, str]]:
    """check-config's lines in the unit's journal, with their times (s)."""
    res = root.run("journalctl", "-u", "stanzalink", "--no-pager", "-o", "json", check=False)
    out = []
    for line in res.stdout.splitlines():
        entry = json.loads(line)
        text = entry.get("MESSAGE")
        if isinstance(text, str) and text.startswith("stanzalink: /etc/stanzalink/device.toml:"):
            out.append((int(entry["__REALTIME_TIMESTAMP"]) / 1e6, text))
    return out

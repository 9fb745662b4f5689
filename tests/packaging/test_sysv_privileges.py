"""What packaging/S90stanzalink lets each side do, under Debian's sh and
start-stop-daemon and under BusyBox's (ash and its applets first on PATH),
with the real agent run as an unprivileged user (nobody):

- check-config and the agent run as the service user, never root: a password
  file only root can read makes the start fail, one the service user's group
  can read lets it start; the agent runs with that uid, umask 077, no core
  dumps, stdin on /dev/null and the script's own PATH;
- the reboot listener (root) reboots when the service user runs the shipped
  request-reboot, the command the SysV images' config names, and for nothing
  else: other words, longer writes and other users change nothing, the
  service user can neither read the FIFO nor replace it, and stop leaves no
  listener behind.  The test's stub stands in for reboot and records that it
  ran, as root and without arguments."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_sysv_supervision import APPLETS, BUSYBOX, unavailable

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "packaging/S90stanzalink"
REQUEST = ROOT / "packaging/request-reboot"
PYTHON = "/usr/bin/python3"  # one the service user can run (the venv's may be under /root)
USER, UID, GID = "nobody", 65534, 65534
STRANGER = 12345  # a uid and gid outside the service user's group
DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or bool(os.environ.get("STANZALINK_TEST_PYTHON")),
    reason="needs root and Linux",
)

DEVICE = """[account]
jid = "device1@example.net"
password_file = "{password}"
[server]
host = "127.0.0.1"
port = 9
[access]
admin = ["alice@example.net"]
"""


class Image:
    """The script with the real agent as the service user, in a folder the
    service user can reach (pytest's own is root's alone)."""

    def __init__(self, folder: Path, flavour: str) -> None:
        self.folder = folder
        self.password = folder / "password"
        self.password.write_text("x\n")
        self.config = folder / "device.toml"
        self.config.write_text(DEVICE.format(password=self.password))
        os.chown(self.config, 0, GID)
        self.config.chmod(0o640)
        daemon = folder / "stanzalink"
        daemon.write_text(
            f"#!/bin/sh\nPYTHONPATH={ROOT / 'agent'} PYTHONDONTWRITEBYTECODE=1 "
            f'exec {PYTHON} -m stanzalink "$@"\n'
        )
        daemon.chmod(0o755)
        self.stub = folder / "reboot-stub"
        self.calls = folder / "reboot-calls"
        self.stub.write_text(f'#!/bin/sh\necho "$(id -u) $#" >> {self.calls}\n')
        self.stub.chmod(0o755)
        self.fifo = folder / "reboot/request"
        self.env = {
            "PATH": os.environ["PATH"],
            "STANZALINK_DAEMON": str(daemon),
            "STANZALINK_CONFIG": str(self.config),
            "STANZALINK_PIDFILE": str(folder / "stanzalink.pid"),
            "STANZALINK_STATE": str(folder / "state"),
            "STANZALINK_LOGS": str(folder / "logs"),
            "STANZALINK_USER": USER,
            "STANZALINK_RESPAWN_DELAY": "2",
            "STANZALINK_STOP_TIMEOUT": "20",
            "STANZALINK_REBOOT_DIR": str(folder / "reboot"),
            "STANZALINK_REBOOT": str(self.stub),
        }
        self.shell = ["/bin/sh"]
        self.path = DEFAULT_PATH  # the script's own, whatever the caller's
        if flavour == "busybox":
            if BUSYBOX is None:
                unavailable("busybox is not installed")
            applets = folder / "bin"
            applets.mkdir()
            for name in APPLETS.split():
                (applets / name).symlink_to(BUSYBOX)
            self.shell = [str(applets / "sh")]
            self.env["PATH"] = f"{applets}:{self.env['PATH']}"
            self.env["STANZALINK_SH"] = str(applets / "sh")
            self.path = self.env["STANZALINK_PATH"] = f"{applets}:{DEFAULT_PATH}"
        elif shutil.which("start-stop-daemon") is None:
            unavailable("no start-stop-daemon")

    def __call__(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.shell, str(INIT), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def as_user(self, uid: int, gid: int, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env={"PATH": self.env["PATH"], "STANZALINK_REBOOT_FIFO": str(self.fifo)},
            user=uid,
            group=gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def ours(self) -> list[int]:
        """Every process this test's script started, by its environment."""
        mark = f"STANZALINK_REBOOT_DIR={self.folder}/reboot".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if mark in (entry / "environ").read_bytes().split(b"\0"):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def agent(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self.ours():
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"run" in argv and str(self.config).encode() in argv and b"-S" not in argv:
                    return pid
            time.sleep(0.1)
        raise AssertionError(f"no agent within {timeout} s")

    def wait_for(self, what: str, test, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not test():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)


@pytest.fixture(params=["sh", "busybox"])
def image(request: pytest.FixtureRequest) -> Iterator[Image]:
    probe = (
        subprocess.run(
            [PYTHON, "-c", "import stanzalink.cli"],
            env={"PYTHONPATH": str(ROOT / "agent"), "PYTHONDONTWRITEBYTECODE": "1"},
            user=UID,
            group=GID,
            extra_groups=[],
            capture_output=True,
            check=False,
        )
        if os.access(PYTHON, os.X_OK)
        else None
    )
    if probe is None or probe.returncode != 0:
        unavailable(f"{USER} cannot run the agent with {PYTHON}")
    folder = Path(tempfile.mkdtemp(prefix="stanzalink-sysv-"))
    folder.chmod(0o755)
    script = Image(folder, request.param)
    try:
        yield script
    finally:
        script("stop")
        for pid in script.ours():  # leave nothing behind, whatever the test saw
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        shutil.rmtree(folder)


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_check_config_and_the_agent_run_as_the_service_user(image: Image) -> None:
    # a password file only root can read: root's check-config would pass
    image.password.chmod(0o600)
    as_root = subprocess.run(
        [image.env["STANZALINK_DAEMON"], "check-config", str(image.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert as_root.returncode == 0, as_root.stdout + as_root.stderr
    res = image("start")
    assert res.returncode == 1 and "FAIL (config)" in res.stdout, res.stdout + res.stderr
    assert "password" in res.stderr, res.stderr
    assert image.ours() == []

    # as an image provisions it: group of the service user, 0640
    os.chown(image.password, 0, GID)
    image.password.chmod(0o640)
    res = image("start")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    pid = image.agent()
    st = status(pid)
    assert st["Uid"].split() == [str(UID)] * 4 and st["Gid"].split() == [str(GID)] * 4
    assert st["Groups"].split() == [str(GID)]
    assert st["Umask"] == "0077"
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert re.search(r"^Max core file size\s+0\s", limits, re.M), limits
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert f"PATH={image.path}".encode() in environ
    # the folders it writes are its own
    for name in ("state", "logs"):
        folder = (image.folder / name).stat()
        assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (UID, 0o700), name


def test_the_service_user_may_ask_for_a_reboot_and_nothing_else(image: Image) -> None:
    res = image("start")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    image.agent()
    image.wait_for("the FIFO", lambda: image.fifo.is_fifo())
    fifo, folder = image.fifo.stat(), image.fifo.parent.stat()
    assert (fifo.st_uid, fifo.st_gid, stat.S_IMODE(fifo.st_mode)) == (0, GID, 0o620)
    assert (folder.st_uid, folder.st_gid, stat.S_IMODE(folder.st_mode)) == (0, GID, 0o710)
    request = [*image.shell, str(REQUEST)]

    # another user may not ask
    res = image.as_user(STRANGER, STRANGER, *request)
    assert res.returncode == 1, res.stdout + res.stderr
    # the service user may not read the FIFO (and take others' requests), nor
    # replace it, nor list the folder
    sh = image.shell[0]
    for cmd in (
        'exec 3< "$1"',
        'rm -f "$1"',
        'mv "$1" "$1.x"',
        'ln -s /etc/shadow "$1.x"',
        'ls "$(dirname "$1")"',
    ):
        res = image.as_user(UID, GID, sh, "-c", cmd, "_", str(image.fifo))
        assert res.returncode != 0, cmd
    assert image.fifo.is_fifo()
    # no arguments
    res = image.as_user(UID, GID, *request, "now")
    assert res.returncode == 2, res.stdout + res.stderr

    # words other than "reboot", and more than 8 bytes, are read and ignored
    for junk in (
        "shutdown\n",
        "REBOOT\n",
        "reboo\n",
        "reboot now\n",
        "reboot;id\n",
        "$(reboot)\n",
        "\n",
        "x" * 100000,
    ):
        image.as_user(UID, GID, sh, "-c", 'printf %s "$1" > "$2"', "_", junk, str(image.fifo))
        time.sleep(0.3)  # the listener opens the FIFO again
    assert not image.calls.exists(), image.calls.read_text()

    # the command the SysV images' config names: the stub runs, as root, once
    res = image.as_user(UID, GID, *request)
    assert res.returncode == 0 and "reboot requested" in res.stdout, res.stdout + res.stderr
    image.wait_for("the reboot", image.calls.exists)
    time.sleep(0.5)
    assert image.calls.read_text().splitlines() == ["0 0"]

    res = image("stop")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    assert image.ours() == [], "the listener outlived stop"


def test_without_a_listener_the_request_fails_and_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "request"
    os.mkfifo(fifo, 0o620)
    env = {"PATH": DEFAULT_PATH, "STANZALINK_REBOOT_FIFO": str(fifo)}
    started = time.monotonic()
    res = subprocess.run(
        ["/bin/sh", str(REQUEST)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 1 and "did not take the request" in res.stderr, res.stderr
    assert time.monotonic() - started < 15
    env["STANZALINK_REBOOT_FIFO"] = str(tmp_path / "missing")
    res = subprocess.run(
        ["/bin/sh", str(REQUEST)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 1 and "no reboot listener" in res.stderr, res.stderr


def sysv_config(sed_script: str) -> dict[str, object]:
    """packaging/device.toml after the SysV image's install step."""
    out = subprocess.run(
        ["sed", "-e", sed_script, str(ROOT / "packaging/device.toml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return tomllib.loads(out)


def test_sysv_images_configure_request_reboot() -> None:
    systemd = tomllib.loads((ROOT / "packaging/device.toml").read_text())
    assert "reboot_command" not in systemd["console"]  # the default: systemctl reboot
    bb = (
        (ROOT / "recipes/recipes-connectivity/python3-stanzalink")
        .joinpath("python3-stanzalink_git.bb")
        .read_text()
    )
    mk = (ROOT / "buildroot/package/python-stanzalink/python-stanzalink.mk").read_text()
    yocto = re.search(r"sed -i -e '(s,\^# reboot_command = [^']*)' \$\{D\}\$\{sysconfdir\}", bb)
    buildroot = re.search(r"\$\(SED\) '(s,\^# reboot_command = [^']*)'", mk)
    assert yocto and buildroot
    for script in (yocto.group(1).replace("${libexecdir}", "/usr/libexec"), buildroot.group(1)):
        console = sysv_config(script)["console"]
        assert isinstance(console, dict)
        assert console["reboot_command"] == ["/usr/libexec/stanzalink/request-reboot"]
    # ... which both install from packaging/request-reboot
    assert "${S}/packaging/request-reboot ${D}${libexecdir}/stanzalink/request-reboot" in bb
    target = r"\$\(TARGET_DIR\)/usr/libexec/stanzalink/request-reboot"
    assert re.search(r"packaging/request-reboot \\\n\s+" + target, mk)
    assert os.access(REQUEST, os.X_OK)

"""packaging/stanzalink.service under a real systemd: its state and logs
folders are writable in its sandbox, the agent starts as
Type=notify, its watchdog pings keep it alive, a wedged event loop gets it
restarted, a killed agent comes back, and a stop ends it for good.

systemd runs as PID 1 of a new PID and mount namespace (``unshare``), in
container mode, loading only the units this test writes (SYSTEMD_UNIT_PATH):
nothing of the host's boot (tmpfiles, sysctl, udev) runs, and /run, /tmp,
/var/tmp, /var/lib and /var/log are private. It needs root, and a host that
is not itself booted with systemd (the nested manager would share the host's
cgroup tree); elsewhere the test is skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def unavailable(why: str) -> None:
    """Skip where the tool is missing; in CI (which installs it through
    scripts/bootstrap.sh) a missing tool is a failure, not a quiet skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI=true: scripts/bootstrap.sh installs it)")
    pytest.skip(why)


ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = next(
    (p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.access(p, os.X_OK)),
    None,
)
WATCHDOG = 2  # seconds, instead of the unit's 60
INSIDE = "/run/stanzalink-test"  # the test's folder, as the nested systemd sees it

pytestmark = pytest.mark.skipif(
    sys.platform != "linux"
    or os.geteuid() != 0
    or os.path.isdir("/run/systemd/system")  # booted with systemd: leave its cgroups alone
    or bool(os.environ.get("STANZALINK_TEST_PYTHON")),  # qemu-user: no namespaces
    reason="needs root, systemd, unshare and nsenter, on a host not booted with systemd",
)


@pytest.fixture(autouse=True)
def _tools() -> None:
    if SYSTEMD is None or not shutil.which("unshare") or not shutil.which("nsenter"):
        unavailable("needs systemd, unshare and nsenter")


BOOT = """#!/bin/sh
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir {inside}
mount --bind "$1" {inside}
for d in /tmp /var/tmp /var/lib /var/log; do mount -t tmpfs tmpfs "$d"; done
mount --bind {inside}/console.log /dev/console
{extra}
export container=stanzalink-test SYSTEMD_UNIT_PATH={inside}/units
exec {systemd} --system --unit=stanzalink-test.target --log-target=console --log-level=info
"""

# the test's changes to the unit, each with its reason
DROPIN = f"""[Unit]
# the units of the host's boot are not loaded here
DefaultDependencies=no

[Service]
WatchdogSec={WATCHDOG}s
RestartSec=1s
# this Python may live under /root (pyenv), which the stanzalink user cannot
# read and ProtectHome=yes hides
User=root
Group=root
ProtectHome=read-only
# /etc is the host's
ConfigurationDirectory=
StandardOutput=append:{INSIDE}/agent.log
StandardError=append:{INSIDE}/agent.log
# inside the sandbox: its state and logs folders are writable, the rest of
# /var/log is not (ProtectSystem=strict)
ExecStartPre=/bin/sh -c 'echo ok > /var/lib/stanzalink/probe && \\
    echo ok > /var/log/stanzalink/probe && ! touch /var/log/elsewhere 2>/dev/null'
# how each run ended, outside the sandbox (+): SERVICE_RESULT, EXIT_CODE, EXIT_STATUS
ExecStopPost=+/bin/sh -c 'echo "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" >> {INSIDE}/results'
# the stall: sitecustomize makes SIGUSR1 block the event loop's thread;
# SIGUSR2 asks the agent for the console's restart
Environment=PYTHONPATH={INSIDE}/site STANZALINK_TEST_STALL=30
"""

SITECUSTOMIZE = """import os, signal, time
_stall = float(os.environ.get("STANZALINK_TEST_STALL", "0"))


def _restart(*_):
    # what the console's "restart" does, without a login to type it
    import gc
    from stanzalink.agent import Agent
    for obj in gc.get_objects():
        if isinstance(obj, Agent):
            obj.request_stop(75)


if _stall:
    signal.signal(signal.SIGUSR1, lambda *_: time.sleep(_stall))
    signal.signal(signal.SIGUSR2, _restart)
"""

DEVICE = """[account]
jid = "device1@example.net"
password = "x"
[server]
host = "127.0.0.1"
port = 9
[access]
admin = ["alice@example.net"]
"""


class NestedSystemd:
    def __init__(
        self,
        folder: Path,
        dropin: str = DROPIN,
        units_too: dict[str, str] | None = None,
        boot_too: str = "",
    ) -> None:
        """The unit with `dropin`, `units_too` (name: text) beside it, and
        `boot_too` run in the namespace before systemd starts."""
        self.folder = folder
        units = folder / "units"
        (units / "stanzalink.service.d").mkdir(parents=True)
        (folder / "site").mkdir()
        (folder / "console.log").touch()
        (folder / "agent.log").touch()
        unit = (ROOT / "packaging/stanzalink.service").read_text()
        unit = unit.replace("/etc/stanzalink/device.toml", f"{INSIDE}/device.toml")
        unit = unit.replace("/usr/bin/stanzalink", f"{sys.executable} -m stanzalink")
        (units / "stanzalink.service").write_text(unit)
        (units / "stanzalink.service.d/test.conf").write_text(dropin)
        for name, text in (units_too or {}).items():
            (units / name).write_text(text)
        (units / "stanzalink-test.target").write_text("[Unit]\nDefaultDependencies=no\n")
        (folder / "site/sitecustomize.py").write_text(SITECUSTOMIZE)
        (folder / "device.toml").write_text(DEVICE)
        boot = folder / "boot.sh"
        boot.write_text(BOOT.format(inside=INSIDE, systemd=SYSTEMD, extra=boot_too))
        self.cgroups_before = self._cgroups()
        unshare = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"]
        with open(folder / "systemd.log", "wb") as out:
            self.proc = subprocess.Popen(
                [*unshare, "sh", str(boot), str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self._manager_pid()

    def _manager_pid(self) -> int:
        """The nested systemd's PID, once it answers systemctl."""
        self.pid = 0
        deadline = time.monotonic() + 20
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        while time.monotonic() < deadline and self.proc.poll() is None:
            pids = children.read_text().split() if children.exists() else []
            if pids:
                self.pid = int(pids[0])
                if self.ctl("show", "-p", "Version", check=False).returncode == 0:
                    return self.pid
            time.sleep(0.2)
        self.close()
        unavailable(f"systemd does not come up in a namespace here: {self.logs()[-300:]}")

    @staticmethod
    def _cgroups() -> set[Path]:
        return {p for p in Path("/sys/fs/cgroup").glob("**/") if p.is_dir()}

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-p", *cmd],
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--no-pager", *args, check=check)

    def show(self) -> dict[str, str]:
        out = self.ctl("show", "stanzalink.service", "-p", "MainPID,NRestarts,ActiveState,Result")
        return dict(line.split("=", 1) for line in out.stdout.splitlines())

    def wait(self, what: str, test, timeout: float) -> dict[str, str]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        state = self.show()
        while not test(state):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s: {state}\n{self.logs()}")
            time.sleep(0.2)
            state = self.show()
        return state

    def results(self) -> list[str]:
        path = self.folder / "results"
        return path.read_text().splitlines() if path.exists() else []

    def logs(self) -> str:
        console = (self.folder / "console.log").read_text(errors="replace")
        console += (self.folder / "systemd.log").read_text(errors="replace")
        agent = (self.folder / "agent.log").read_text(errors="replace")
        return f"systemd:\n{console[-3000:]}\nagent:\n{agent[-3000:]}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # --kill-child: the namespace's PID 1 and all in it die
        self.proc.wait(30)
        # the cgroups the nested manager made in the host's tree, deepest first
        for path in sorted(self._cgroups() - self.cgroups_before, key=lambda p: -len(p.parts)):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # its processes are still being reaped
                    time.sleep(0.1)


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[NestedSystemd]:
    tmp_path.chmod(0o755)
    manager = NestedSystemd(tmp_path)
    try:
        yield manager
    finally:
        manager.close()


def test_the_unit_under_systemd(systemd: NestedSystemd) -> None:
    # start returns once the agent said READY=1 (Type=notify): no server needed
    started = systemd.ctl("start", "stanzalink.service", check=False)
    assert started.returncode == 0, started.stderr + systemd.logs()
    state = systemd.show()
    assert state["ActiveState"] == "active" and state["NRestarts"] == "0"
    first = state["MainPID"]
    status = systemd.ctl("status", "stanzalink.service", check=False).stdout
    assert 'Status: "connecting as device1@example.net"' in status, status
    for folder in ("/var/lib/stanzalink", "/var/log/stanzalink"):
        assert systemd.run("cat", f"{folder}/probe").stdout == "ok\n", folder
        mode = systemd.run("stat", "-c", "%a", folder).stdout.strip()
        assert mode == "700", (folder, mode)

    # three watchdog periods: the pings keep it alive, the same process
    time.sleep(3 * WATCHDOG)
    state = systemd.show()
    assert (state["ActiveState"], state["MainPID"], state["NRestarts"]) == ("active", first, "0")

    # a wedged event loop: the pings stop, systemd kills the agent and starts it again
    systemd.run("kill", "-USR1", first)
    state = systemd.wait(
        "restart after the watchdog",
        lambda s: s["NRestarts"] == "1" and s["ActiveState"] == "active" and s["MainPID"] != "0",
        timeout=WATCHDOG + 15,
    )
    assert state["MainPID"] != first
    # SIGABRT: "dumped" where a core may be written, else "killed"
    assert systemd.results() in (["watchdog killed ABRT"], ["watchdog dumped ABRT"])

    # a killed agent comes back
    second = state["MainPID"]
    systemd.run("kill", "-KILL", second)
    state = systemd.wait(
        "restart after SIGKILL",
        lambda s: s["NRestarts"] == "2" and s["ActiveState"] == "active" and s["MainPID"] != "0",
        timeout=15,
    )
    assert state["MainPID"] != second
    assert systemd.results()[1:] == ["signal killed KILL"]

    # the console's restart: STOPPING=1, exit status 75, and systemd starts it again
    third = state["MainPID"]
    systemd.run("kill", "-USR2", third)
    state = systemd.wait(
        "restart after exit status 75",
        lambda s: s["NRestarts"] == "3" and s["ActiveState"] == "active" and s["MainPID"] != "0",
        timeout=15,
    )
    assert state["MainPID"] != third
    assert systemd.results()[2:] == ["exit-code exited 75"]

    # a requested stop: exit status 0, and it stays stopped
    systemd.ctl("stop", "stanzalink.service")
    state = systemd.show()
    assert state["ActiveState"] == "inactive" and state["Result"] == "success", systemd.logs()
    time.sleep(2)
    state = systemd.show()
    assert state["ActiveState"] == "inactive" and state["MainPID"] == "0"
    assert systemd.results()[3:] == ["success exited 0"]
    assert "Traceback" not in (systemd.folder / "agent.log").read_text()

"""packaging/S90stanzalink with the real agent, under Debian's sh and
start-stop-daemon and under BusyBox's (ash and its applets first on PATH):
a killed agent comes back after the pause, an agent that ends cleanly is not
started again (nor is anything else of the script left running), and stop
ends the supervisor, the agent and the reboot listener, also when it comes
during the pause before a respawn."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
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
INIT = ROOT / "packaging/S90stanzalink"
DAEMON = Path(sys.executable).parent / "stanzalink"  # the venv's entry point
DELAY = 2.0  # STANZALINK_RESPAWN_DELAY
BUSYBOX = shutil.which("busybox")
APPLETS = (
    "sh start-stop-daemon sleep logger cat tr grep mkdir chown chmod dirname basename"
    " id rm chgrp mkfifo dd"
)

DEVICE = """[account]
jid = "device1@example.net"
password = "x"
[server]
host = "127.0.0.1"
port = 9
[access]
admin = ["alice@example.net"]
"""

pytestmark = pytest.mark.skipif(
    sys.platform != "linux"
    or os.geteuid() != 0
    or not DAEMON.exists()
    or bool(os.environ.get("STANZALINK_TEST_PYTHON")),
    reason="needs root, Linux and the stanzalink command beside this Python",
)


class Init:
    """The script, run the way an image's rc would run it."""

    def __init__(self, folder: Path, flavour: str) -> None:
        self.folder = folder
        self.config = folder / "device.toml"
        self.config.write_text(DEVICE)
        self.pidfile = folder / "stanzalink.pid"
        self.env = {
            **os.environ,
            "STANZALINK_DAEMON": str(DAEMON),
            "STANZALINK_CONFIG": str(self.config),
            "STANZALINK_PIDFILE": str(self.pidfile),
            "STANZALINK_STATE": str(folder / "state"),
            "STANZALINK_USER": getpass.getuser(),
            "STANZALINK_RESPAWN_DELAY": str(int(DELAY)),
            "STANZALINK_STOP_TIMEOUT": "20",
            "STANZALINK_LOGS": str(folder / "logs"),
            "STANZALINK_REBOOT_DIR": str(folder / "reboot"),
            "STANZALINK_REBOOT": "/bin/true",  # never the host's reboot
        }
        self.shell = ["/bin/sh"]
        if flavour == "busybox":
            if BUSYBOX is None:
                unavailable("busybox is not installed")
            applets = folder / "bin"
            applets.mkdir()
            for name in APPLETS.split():
                (applets / name).symlink_to(BUSYBOX)
            self.shell = [str(applets / "sh")]
            self.env["PATH"] = f"{applets}:{self.env['PATH']}"
            # the script sets a fixed PATH of its own: the applets first there too
            self.env["STANZALINK_PATH"] = self.env["PATH"]
            self.env["STANZALINK_SH"] = str(applets / "sh")
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

    def agents(self) -> list[int]:
        """Every agent running with this test's config, whoever its parent."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"run" in argv and str(self.config).encode() in argv and b"-S" not in argv:
                found.append(int(entry.name))
        return found

    def started(self) -> list[int]:
        """Every process the script started (the agent, the supervisor, the
        reboot listener and its dd), by their environment."""
        mark = f"STANZALINK_REBOOT_DIR={self.folder}/reboot".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    environ = (entry / "environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                if mark in environ and not gone(int(entry.name)):
                    found.append(int(entry.name))
        return found

    def wait_agent(self, other_than: int | None, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.agents() if p != other_than]
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise AssertionError(f"no agent within {timeout} s")

    def supervisor(self) -> int:
        return int(self.pidfile.read_text())


@pytest.fixture(params=["sh", "busybox"])
def init(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Init]:
    script = Init(tmp_path, request.param)
    try:
        yield script
    finally:
        script("stop")
        # leave nothing behind, whatever the test saw
        for pid in {*script.agents(), *script.started()}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie is gone too: nobody reaped it yet
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_a_killed_agent_comes_back_and_stop_ends_everything(init: Init) -> None:
    res = init("start")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    agent = init.wait_agent(None, timeout=30)
    supervisor = init.supervisor()
    assert "is running" in init("status").stdout

    for _ in range(2):  # SIGKILL: exit status 137
        time.sleep(0.5)
        os.kill(agent, signal.SIGKILL)
        killed = time.monotonic()
        new = init.wait_agent(agent, timeout=DELAY + 20)
        assert time.monotonic() - killed >= DELAY - 0.3, "started again without the pause"
        assert init.agents() == [new] and init.supervisor() == supervisor
        agent = new

    res = init("stop")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    assert gone(agent) and gone(supervisor) and init.agents() == []
    assert not init.pidfile.exists()
    time.sleep(DELAY + 1)  # and nothing starts one again
    assert init.agents() == [] and init.started() == []
    assert "not running" in init("status").stdout and "not running" in init("stop").stdout


def test_stop_during_the_pause_starts_nothing(init: Init) -> None:
    assert init("start").returncode == 0
    agent = init.wait_agent(None, timeout=30)
    supervisor = init.supervisor()
    time.sleep(0.5)
    os.kill(agent, signal.SIGKILL)
    time.sleep(0.3)  # the supervisor is in its pause now
    started = time.monotonic()
    res = init("stop")
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    assert time.monotonic() - started < 5, "stop waited for the pause"
    assert gone(supervisor)
    time.sleep(DELAY + 1)
    assert init.agents() == []


def test_an_agent_that_ends_cleanly_is_not_started_again(init: Init) -> None:
    assert init("start").returncode == 0
    agent = init.wait_agent(None, timeout=30)
    supervisor = init.supervisor()
    time.sleep(0.5)
    os.kill(agent, signal.SIGTERM)  # the agent stops and exits with status 0
    deadline = time.monotonic() + 20
    while not gone(supervisor) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(supervisor), "the supervisor outlived a clean exit"
    time.sleep(DELAY + 1)
    assert init.agents() == []
    assert init.started() == [], "the reboot listener outlived a clean exit"
    assert "not running" in init("status").stdout

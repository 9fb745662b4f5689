"""The notify protocol against a datagram socket the test owns: READY=1 when
the connection loop starts (no server needed), WATCHDOG=1 from the event
loop (a stalled loop stops them), STOPPING=1 on a requested stop."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from stanzalink.agent import Agent, parse_config
from stanzalink.aio.sdnotify import ENV_KEYS, Notifier
from stanzalink.cli import run_agent
from stanzalink.cli.run import NOTIFY_ENV_KEYS
from stanzalink_testing.sdnotify import NotifyManager

from ..util import python_cmd

# a server nobody listens on: the agent keeps retrying, offline
DEVICE = {
    "account": {"jid": "device1@example.net", "password": "x"},
    "server": {"host": "127.0.0.1", "port": 9},
    "access": {"admin": ["alice@example.net"]},
}
DEVICE_TOML = (
    '[account]\njid = "device1@example.net"\npassword = "x"\n'
    '[server]\nhost = "127.0.0.1"\nport = 9\n[access]\nadmin = ["alice@example.net"]\n'
)


@pytest.fixture
def manager(tmp_path: Path):  # type: ignore[no-untyped-def]
    m = NotifyManager(str(tmp_path / "notify"))
    yield m
    m.close()


def test_environment() -> None:
    env = {"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "42"}
    n = Notifier.from_environ(dict(env), pid=42)
    assert n is not None and n.address == "/run/n" and n.watchdog_interval == 0.2
    # the watchdog of another process (a parent that exec'd without clearing it)
    n = Notifier.from_environ(dict(env), pid=43)
    assert n is not None and n.watchdog_interval is None
    n = Notifier.from_environ({**env, "WATCHDOG_USEC": "0"}, pid=42)
    assert n is not None and n.watchdog_interval is None
    assert Notifier.from_environ({"WATCHDOG_USEC": "400000"}) is None
    # unset: the processes the agent starts do not inherit them
    mine = {**env, "PATH": "/bin"}
    assert Notifier.from_environ(mine, unset=True, pid=42) is not None
    assert mine == {"PATH": "/bin"}
    # `stanzalink run` loads the notifier when any of these is set
    assert NOTIFY_ENV_KEYS == ENV_KEYS


def test_abstract_socket_and_failures_said_once(caplog: pytest.LogCaptureFixture) -> None:
    name = f"stanzalink-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        n = Notifier(f"@{name}")
        assert n.send("READY=1", "STATUS=two\nlines")
        assert sock.recv(100) == b"READY=1\nSTATUS=two lines"
        n.status("x" * 100_000)  # a peer's long stream-error text
        assert sock.recv(100_000) == b"STATUS=" + b"x" * 200
        n.close()
    # nobody there: False and one warning, however often it is tried
    n = Notifier(f"@{name}")
    assert not n.send("WATCHDOG=1") and not n.send("WATCHDOG=1")
    assert not Notifier("vsock:2:1").send("READY=1")
    warnings = [r for r in caplog.records if r.name == "stanzalink.aio.sdnotify"]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    n.close()


def test_no_watchdog_timer_without_watchdog(manager: NotifyManager) -> None:
    async def main() -> None:
        n = Notifier(manager.sock.getsockname(), None)
        n.start_watchdog()
        assert n._timer is None
        n.close()

    asyncio.run(main())


def test_the_pings_stop_while_the_event_loop_is_stalled(manager: NotifyManager) -> None:
    interval = 0.2  # WATCHDOG_USEC 400 ms
    agent = Agent(parse_config(DEVICE))
    notifier = Notifier(manager.sock.getsockname(), 400_000)
    marks: dict[str, float] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(run_agent(agent, notifier))
        await asyncio.sleep(1.5)
        # a callback that blocks: the loop is wedged for 2 s
        marks["stall"] = time.monotonic()
        loop.call_soon(time.sleep, 2.0)
        await asyncio.sleep(0)
        marks["resumed"] = time.monotonic()
        await asyncio.sleep(1.5)
        marks["stop"] = time.monotonic()
        agent.request_stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    time.sleep(0.3)  # the reader thread takes the last datagrams
    ready = manager.wait_for("READY=1")
    assert "STATUS=connecting as device1@example.net" in manager.lines()
    pings = manager.times("WATCHDOG=1")
    assert pings and pings[0] >= ready
    before = [t for t in pings if t < marks["stall"]]
    stalled = [t for t in pings if marks["stall"] + interval < t < marks["resumed"]]
    after = [t for t in pings if marks["resumed"] <= t < marks["stop"]]
    assert marks["resumed"] - marks["stall"] >= 1.9
    # steady before: ~8 pings in 1.5 s (3 intervals: slack for a busy machine)
    assert len(before) >= 5
    assert max(b - a for a, b in itertools.pairwise(before)) < 3 * interval
    assert stalled == [], "a wedged loop must not ping"
    # the first ping after the stall comes at once, then they are steady again
    assert len(after) >= 5 and after[0] - marks["resumed"] < 2 * interval
    stopping = manager.wait_for("STOPPING=1")
    assert stopping >= marks["stop"]
    assert agent.exit_code == 0


def run_process(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    cfg = tmp_path / "device.toml"
    cfg.write_text(DEVICE_TOML)
    return subprocess.Popen(
        [*python_cmd(), "-m", "stanzalink", "run", "--config", str(cfg)],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )


def test_stanzalink_run_notifies(tmp_path: Path, manager: NotifyManager) -> None:
    proc = run_process(
        tmp_path, {"NOTIFY_SOCKET": manager.sock.getsockname(), "WATCHDOG_USEC": "400000"}
    )
    try:
        ready = manager.wait_for("READY=1", timeout=30)
        time.sleep(1.2)
        pings = [t for t in manager.times("WATCHDOG=1") if t >= ready]
        assert len(pings) >= 4, manager.lines()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert manager.wait_for("STOPPING=1") > pings[-1] - 0.5
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_stanzalink_run_honours_watchdog_pid(tmp_path: Path, manager: NotifyManager) -> None:
    # WATCHDOG_PID names another process: notify, but no watchdog pings
    proc = run_process(
        tmp_path,
        {
            "NOTIFY_SOCKET": manager.sock.getsockname(),
            "WATCHDOG_USEC": "400000",
            "WATCHDOG_PID": "1",
        },
    )
    try:
        manager.wait_for("READY=1", timeout=30)
        time.sleep(1.0)
        assert manager.times("WATCHDOG=1") == []
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        proc.stderr.close()


def test_the_pings_ride_the_keepalive_wake_ups(manager: NotifyManager) -> None:
    # online with a keepalive that fits the watchdog: every ping comes from a
    # wake-up of the connection, none from the fallback timer, which each
    # ping pushes back; offline again, the fallback pings every half period
    notifier = Notifier(manager.sock.getsockname(), 800_000)  # 0.8 s
    keepalive = 0.25
    marks: dict[str, float] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        notifier.start_watchdog()
        notifier.ride(keepalive)
        assert notifier.riding and notifier.fallback_delay() == pytest.approx(0.7)
        woken = 0

        def wake() -> None:  # what the connection's keepalive timer does
            nonlocal woken
            woken += 1
            notifier.alive()
            if woken < 8:
                loop.call_later(keepalive, wake)

        loop.call_later(keepalive, wake)
        while woken < 8:
            await asyncio.sleep(0.05)
        marks["offline"] = time.monotonic()
        notifier.ride(None)  # Closed: nothing else wakes the agent now
        assert not notifier.riding and notifier.fallback_delay() == pytest.approx(0.4)
        await asyncio.sleep(1.0)
        marks["end"] = time.monotonic()
        notifier.close()

    asyncio.run(main())
    time.sleep(0.3)
    pings = manager.times("WATCHDOG=1")
    online = [t for t in pings if t < marks["offline"]]
    offline = [t for t in pings if marks["offline"] <= t < marks["end"]]
    assert len(online) == 1 + 8, "one at the start, then one per wake-up and no more"
    assert len(offline) >= 2, "offline, the fallback timer pings"


def test_a_keepalive_longer_than_the_watchdog_allows_keeps_the_timer() -> None:
    notifier = Notifier("/run/notify", 60_000_000)  # WatchdogSec=60s
    notifier.ride(3600.0)
    assert not notifier.riding and notifier.fallback_delay() == pytest.approx(30.0)
    notifier.ride(30.0)
    assert notifier.riding and notifier.fallback_delay() == pytest.approx(52.5)

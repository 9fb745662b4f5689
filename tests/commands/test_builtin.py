"""The built-in commands and what they read, against a fake /proc and /sys
tree and through the console."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stanzalink.agent import parse_config
from stanzalink.commands import Command, Registry, builtin
from stanzalink.commands.builtin import filter_level, tail, valid_host
from stanzalink.commands.process import run_process
from stanzalink.commands.system import System
from stanzalink.config import ConfigError
from stanzalink.console.line import bind
from tests.console.conftest import Chat

from ..util import python_cmd

ROOT = Path(__file__).resolve().parents[2]

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)
FIB = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 192.168.0.0/24 2 0 2
        |-- 192.168.0.17
           /32 host LOCAL
Local:
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.1
        /32 host LOCAL
"""
DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 2048000    2000    0    0    0     0          0         0   512000    1000    0    0    0     0       0          0
"""  # noqa: E501


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    files = {
        "proc/uptime": "93784.50 100.0\n",
        "proc/loadavg": "0.25 0.50 0.75 1/100 42\n",
        "proc/meminfo": "MemTotal:  1024000 kB\nMemFree: 100000 kB\nMemAvailable: 512000 kB\n",
        "proc/net/route": ROUTE,
        "proc/net/fib_trie": FIB,
        "proc/net/dev": DEV,
        "proc/net/if_inet6": "fe800000000000000000000000000001 02 40 20 80     eth0\n",
        "sys/class/thermal/thermal_zone0/temp": "48500\n",
        "sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "proc/device-tree/model": "Acme Board rev 2\x00",
        "etc/os-release": 'PRETTY_NAME="Acme Linux 5.0"\n',
        "etc/resolv.conf": "nameserver 192.168.0.1\n",
    }
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_system_readers(fake_root: Path) -> None:
    s = System(fake_root)
    assert s.uptime() == 93784.5
    assert s.load() == (0.25, 0.5, 0.75)
    assert s.memory()["MemAvailable"] == 512000 * 1024
    assert s.temperatures() == [("cpu-thermal", 48.5)]
    assert s.interfaces() == [("lo", 1000, 1000), ("eth0", 2048000, 512000)]
    assert s.routes() == [
        ("eth0", "0.0.0.0/0", "192.168.0.1", "UG"),
        ("eth0", "192.168.0.0/24", "", "U"),
    ]
    assert s.addresses() == {"lo": ["127.0.0.1/8"], "eth0": ["192.168.0.17/24", "fe80::1/64"]}
    assert s.model() == "Acme Board rev 2"
    assert s.os_release() == "Acme Linux 5.0"
    assert s.nameservers() == ["192.168.0.1"]
    # a tree without any of it: nothing, no error
    empty = System(fake_root / "nothing")
    assert empty.uptime() is None and empty.temperatures() == [] and empty.routes() == []


async def test_status_and_net_through_the_console(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtin, "SYSTEM", System(fake_root))
    c = Chat(disk_paths=["/"])
    await c.greet()
    status = await c.ask("status")
    assert "uptime: 1 d 2 h 3 min" in status
    assert "load: 0.25 0.50 0.75" in status
    assert "memory: 500.0 MiB used of 1000.0 MiB" in status
    assert "temp cpu-thermal: 48.5 °C" in status
    assert "disk /: " in status
    assert "eth0       192.168.0.17/24, fe80::1/64" in status
    net = await c.ask("net")
    assert "0.0.0.0/0       192.168.0.1  eth0" in net
    assert "name servers: 192.168.0.1" in net
    assert "model: Acme Board rev 2" in await c.ask("version")
    await c.close()


def test_valid_host() -> None:
    for ok in ("127.0.0.1", "::1", "example.net", "a-b.example.net.", "localhost"):
        assert valid_host(ok), ok
    for bad in ("-c 5", "--help", "a b", "x;rm -rf /", "", "a" * 64 + ".net", "$(id)", "a..b"):
        assert not valid_host(bad), bad


async def test_ping_loopback_without_a_shell() -> None:
    c = Chat()
    await c.greet("olga@example.net/ops")
    c.send("ping 127.0.0.1 1", "olga@example.net/ops")
    answer = await c.text(15)
    assert "1 packets transmitted, 1 received" in answer
    assert "host: '-f' is not a host name" in await c.ask("ping -f", "olga@example.net/ops")
    assert "is not a host name" in await c.ask("ping 'a;id'", "olga@example.net/ops")
    await c.close()


def test_log_tail_and_level_filter(tmp_path: Path) -> None:
    log = tmp_path / "device.log"
    log.write_text(
        "".join(f"2026-12-01 INFO line {i}\n" for i in range(5000))
        + "2026-12-01 ERROR broke\nTraceback (most recent call last):\n  x\n"
        + "2026-12-01 WARNING hmm\n2026-12-01 DEBUG chatter\n"
    )
    last = tail(log, 4)
    assert last == [
        "Traceback (most recent call last):",
        "  x",
        "2026-12-01 WARNING hmm",
        "2026-12-01 DEBUG chatter",
    ]
    assert len(tail(log, 100000, max_bytes=4096)) < 200  # bounded read
    lines = tail(log, 10)
    assert filter_level(lines, "error") == [
        "2026-12-01 ERROR broke",
        "Traceback (most recent call last):",
        "  x",
    ]
    assert filter_level(lines, "warning")[-1] == "2026-12-01 WARNING hmm"
    assert "2026-12-01 DEBUG chatter" not in filter_level(lines, "info")


async def test_log_command(tmp_path: Path) -> None:
    log = tmp_path / "device.log"
    log.write_text("a INFO one\nb ERROR two\nc INFO three\n")
    c = Chat(log_file=str(log))
    await c.greet()
    assert await c.ask("log 2") == "```\nb ERROR two\nc INFO three\n```"
    assert await c.ask("log level=error") == "```\nb ERROR two\n```"
    assert "level: 'fatal' is not one of" in await c.ask("log 5 fatal")
    await c.close()


async def test_log_without_a_file_shows_the_agents_own_lines() -> None:
    import logging

    from stanzalink.logring import RecentLines

    c = Chat()
    await c.greet()
    assert "no log configured" in await c.ask("log")  # nothing kept (a bare agent)
    recent = RecentLines(max_lines=50)
    c.h.agent.recent_log = recent
    log = logging.getLogger("stanzalink.test.recent")
    log.addHandler(recent)
    try:
        log.setLevel(logging.INFO)
        log.info("first line")
        log.error("a peer wrote \x1b[2J here")
        log.info("third line")
    finally:
        log.removeHandler(recent)
    answer = await c.ask("log 2")
    assert "first line" not in answer and "third line" in answer
    assert "ERROR stanzalink.test.recent: a peer wrote \\x1b[2J here" in answer
    assert "third line" not in await c.ask("log level=error")
    await c.close()


def test_the_kept_lines_are_bounded() -> None:
    import logging

    from stanzalink.logring import MAX_LINE, RecentLines

    recent = RecentLines(max_lines=3, max_bytes=10_000)
    log = logging.getLogger("stanzalink.test.bounded")
    log.addHandler(recent)
    log.setLevel(logging.INFO)
    try:
        for i in range(10):
            log.info("line %d", i)
        assert [ln.rsplit(" ", 1)[1] for ln in recent.lines()] == ["7", "8", "9"]
        small = RecentLines(max_lines=100, max_bytes=2 * MAX_LINE)
        log.addHandler(small)
        for _ in range(5):
            log.info("x" * 10 * MAX_LINE)
        assert sum(len(ln) for ln in small.lines()) <= 2 * MAX_LINE
        assert small.lines() and small.lines()[-1].endswith(" [cut]")
    finally:
        log.handlers.clear()


async def test_log_shows_control_characters_escaped(tmp_path: Path) -> None:
    # a file written before the agent escaped its log lines (or by another
    # program): a peer's CR, ESC, NEL, line separator, bidi override
    log = tmp_path / "device.log"
    log.write_text(
        "a WARNING denied message to eve@example.net/x\rb INFO forged\n"
        "c INFO title \x1b]0;owned\x07 clear \x1b[2J end\n"
        "d INFO one\x85two\u2028three\u202eevil\x7f\n",
        encoding="utf-8",
    )
    c = Chat(log_file=str(log))
    await c.greet()
    answer = await c.ask("log 3")
    assert answer == (
        "```\n"
        "a WARNING denied message to eve@example.net/x\\rb INFO forged\n"
        "c INFO title \\x1b]0;owned\\x07 clear \\x1b[2J end\n"
        "d INFO one\\x85two\\u2028three\\u202eevil\\x7f\n"
        "```"
    )
    await c.close()


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (real time) for something outside the clock, a process starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_shell_is_off_unless_configured() -> None:
    c = Chat()
    await c.greet()
    assert (await c.ask("shell echo hi")).startswith("Unknown command 'shell'")
    await c.close()
    c = Chat(shell=True, shell_timeout=1, output_limit=1024)
    await c.greet()
    assert await c.ask('shell echo "$((6*7))" | tr 4 x') == "```\nx2\n```"
    # more output than the limit (a producer that ends by itself: the manual
    # clock would otherwise race the real process's output)
    out = await c.ask("shell yes | head -c 100000")
    assert "(output truncated)" in out and len(out) < 1500
    c.send("shell sleep 5")
    await until(lambda: c.clock.pending() >= 2)
    await c.advance(0.9)
    assert c.h.unread() == []
    await c.advance(0.1)
    assert "shell: stopped after 1 s" in await c.text(10)
    await c.greet(VICTOR := "victor@example.net/phone")
    assert await c.ask("shell id", VICTOR) == "shell: needs role admin (you are viewer)"
    await c.close()


async def test_run_process_is_killed_on_cancel(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    task = asyncio.ensure_future(run_process([*python_cmd(), "-c", code], 60))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if pidfile.exists() and pidfile.read_text():
            break
    pid = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    rc, out, truncated = await run_process([*python_cmd(), "-c", "print('x' * 10)"], 10, limit=4)
    assert rc == 0 and out == "xxxx" and truncated


def test_bind_arguments() -> None:
    reg = Registry()
    builtin.install(reg)
    cfg = reg.get("config")
    assert isinstance(cfg, Command)
    assert bind(cfg, ["set", "presence.status", "on", "fire"]) == {
        "action": "set",
        "key": "presence.status",
        "value": "on fire",
    }
    assert bind(cfg, ["key=presence.status"]) == {
        "action": "get",
        "key": "presence.status",
        "value": "",
    }
    with pytest.raises(ValueError, match="registered twice"):
        builtin.install(reg)  # once per registry
    assert reg.get("shell") is not None and not reg.get("shell").is_available(  # type: ignore[union-attr]
        type("A", (), {"config": type("C", (), {"section": lambda self, n: {}})()})()
    )


async def test_example_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pwm = tmp_path / "pwm1"
    pwm.write_text("128\n")
    monkeypatch.setenv("FAN_PWM", str(pwm))
    c = Chat(plugins=[str(ROOT / "examples" / "plugins" / "fan.py"), "no.such.module"])
    await c.greet("olga@example.net/ops")
    assert "fan: 50 %" in await c.ask("fan", "olga@example.net/ops")
    assert "fan: 75 %" in await c.ask("fan-set 75", "olga@example.net/ops")
    assert pwm.read_text() == "191\n"
    assert "percent: must be at most 100" in await c.ask("fan-set 150", "olga@example.net/ops")
    # a second console (another agent in the same process) loads it once
    c2 = Chat(plugins=[str(ROOT / "examples" / "plugins" / "fan.py")])
    await c2.greet()
    assert "fan-set" in await c2.ask("help")
    await c.close()
    await c2.close()


def test_console_config_keys_are_checked() -> None:
    base = {"account": {"jid": "d@example.net", "password": "x"}}
    cfg = parse_config({**base, "console": {"page_size": 4096, "reboot_command": ["/bin/true"]}})
    assert cfg.section("console")["page_size"] == 4096
    for bad, key in (
        ({"page_size": 10}, "console.page_size"),
        ({"reboot_command": []}, "console.reboot_command"),
        ({"log_source": "syslog"}, "console.log_source"),
        ({"shell": "yes"}, "console.shell"),
        ({"nonsense": 1}, "console.nonsense"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_config({**base, "console": bad})


def test_example_config_parses() -> None:
    from stanzalink.agent import load_config

    cfg = load_config(ROOT / "examples" / "device.toml")
    assert "settable" in cfg.section("console")


async def test_progress_and_cancel_with_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pwm = tmp_path / "pwm1"
    pwm.write_text("100\n")
    monkeypatch.setenv("FAN_PWM", str(pwm))
    ops = "olga@example.net/ops"
    c = Chat(plugins=[str(ROOT / "examples" / "plugins" / "fan.py")])
    await c.greet(ops)
    c.send("fan-test 10", ops)
    assert await c.text() == "fan-test: 10 s left"  # progress, right away
    assert pwm.read_text() == "255\n"
    assert await c.ask("cancel", ops) == "Cancelled: fan-test."
    assert pwm.read_text() == "100\n"  # the plugin's finally restored it
    await c.close()


async def test_who_uses_the_roster_feature_or_the_presences_seen() -> None:
    from stanzalink.console.feature import Console
    from stanzalink.xep.roster import Roster
    from stanzalink_testing.harness import Harness
    from tests.console.conftest import ACCESS

    # without the roster feature: the presences the console saw
    c = Chat()
    c.h.receive("<presence from='olga@example.net/ops'/>")
    c.h.receive("<presence from='eve@example.net/x'/>")  # not a controller: not listed
    c.h.receive("<presence from='victor@example.net/phone'/>")
    c.h.receive("<presence from='victor@example.net/phone' type='unavailable'/>")
    await c.greet()
    who = await c.ask("who")
    assert "olga@example.net/ops  operator" in who
    assert "eve@" not in who and "victor@" not in who
    await c.close()

    # with the roster feature: its presence table, with show and status
    h = Harness([Roster, Console], ACCESS)
    h.receive(
        "<presence from='olga@example.net/ops'><show>away</show>"
        "<status>at lunch</status></presence>"
    )
    h.receive("<presence from='alice@example.net/laptop'/>")
    h.receive("<presence from='eve@example.net/x'/>")
    h.receive("<presence from='victor@example.net/phone'/>")
    h.receive("<presence from='victor@example.net/phone' type='unavailable'/>")
    await h.settle()
    h.unread()
    h.receive("<message from='alice@example.net/laptop' type='chat'><body>who</body></message>")
    await h.next_sent()  # banner
    answer = (await h.next_sent()).findtext("{jabber:client}body") or ""
    lines = answer.split("\n")
    assert any(ln.split() == ["alice@example.net/laptop", "admin", "available"] for ln in lines)
    assert any(
        ln.split() == ["olga@example.net/ops", "operator", "away", "at", "lunch"] for ln in lines
    ), answer
    assert "eve@" not in answer and "victor@" not in answer
    await h.close()


async def test_log_from_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "journalctl $*"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    c = Chat(log_source="journal", journal_unit="stanzalink")
    await c.greet()
    answer = await c.ask("log 30 warning")
    assert answer == ("```\njournalctl --no-pager -o short-iso -n 30 -p 4 -u stanzalink\n```")
    await c.close()
    # what journalctl prints is escaped the same way (its lines stay lines)
    fake.write_text("#!/bin/sh\nprintf 'a INFO x\\033[2Jy\\rz\\nb INFO w\\n'\n")
    c = Chat(log_source="journal")
    await c.greet()
    assert await c.ask("log") == "```\na INFO x\\x1b[2Jy\\rz\nb INFO w\n```"
    await c.close()

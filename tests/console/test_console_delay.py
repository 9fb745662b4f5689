"""Commands that a reconnect or offline storage delayed: judged by the age
of their ``<delay/>`` stamp against ``[console] max_delay``, not by the
stamp being there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stanzalink.xep.delay import parse_stamp
from tests.console.conftest import ALICE, Chat

NOW = "2026-12-01T03:00:00Z"
WALL = parse_stamp(NOW) or 0.0
assert WALL > 0


def stamp(ago: float) -> str:
    """A <delay/> as a server stamps it, ``ago`` seconds before NOW."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(WALL - ago, dt.UTC)
    return f"<delay xmlns='urn:xmpp:delay' from='example.net' stamp='{when:%Y-%m-%dT%H:%M:%S}Z'/>"


def raw(value: str) -> str:
    return f"<delay xmlns='urn:xmpp:delay' stamp='{value}'/>"


def chat(**console: object) -> Chat:
    c = Chat(settable=["presence.status"], reboot_command=["true"], **console)
    c.console.wall = lambda: WALL
    return c


async def set_status(c: Chat, value: str, extra: str = "") -> str:
    """``config set presence.status VALUE``; the answer, after the new
    presence when it ran."""
    c.send(f"config set presence.status {value}", extra=extra)
    first = await c.h.next_sent()
    if first.tag == "{jabber:client}presence":
        assert first.findtext("{jabber:client}status") == value
        return await c.text()
    return first.findtext("{jabber:client}body") or ""


async def test_a_delay_under_max_delay_runs_like_a_fresh_command() -> None:
    c = chat()
    await c.greet()
    assert "presence.status: fresh" in await set_status(c, "fresh")
    # Prosody re-sends on resumption with a stamp a second old: that runs
    assert "presence.status: resumed" in await set_status(c, "resumed", stamp(1))
    assert "presence.status: late" in await set_status(c, "late", stamp(119))
    assert c.h.agent.status == "late"
    # a read under max_delay carries no note
    answer = await c.ask("version", extra=stamp(30))
    assert answer.startswith("stanzalink: ") and "sent at" not in answer
    await c.close()


async def test_an_old_read_runs_and_says_when_it_was_sent() -> None:
    c = chat()
    await c.greet()
    answer = await c.ask("version", extra=stamp(300))
    assert answer.startswith(f'"version" (sent at {stamp_text(300)}, 300 s ago)\n')
    assert "stanzalink: " in answer
    # a command that both reads and writes is judged by its arguments
    assert "presence.status: " in await c.ask("config get", extra=stamp(300))
    await c.close()


def stamp_text(ago: float) -> str:
    return stamp(ago).split("stamp='")[1].split("'")[0]


async def test_an_old_write_is_refused_quoting_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = tmp_path / "audit.log"
    c = chat(audit_log=str(audit))
    caplog.set_level(logging.INFO, logger="stanzalink.audit")
    await c.greet()
    answer = await set_status(c, "stale", stamp(121))
    assert answer == (
        f'Not run: "config set presence.status stale" was sent at {stamp_text(121)},'
        " 121 s ago, more than max_delay (120 s); it would change the device."
        " Send it again if it still applies."
    )
    assert c.h.agent.status != "stale"
    # a command with a question is refused before the question
    answer = await c.ask("reboot", extra=stamp(600))
    assert answer.startswith('Not run: "reboot" was sent at')
    assert "Nothing to confirm." in await c.ask("yes")
    # a long line is quoted cut
    long = "x" * 300
    answer = await set_status(c, long, stamp(600))
    assert f'"config set presence.status {long[:173]}…" was sent' in answer
    assert "result=refused command='config set presence.status stale'" in caplog.text
    assert "result=refused" in audit.read_text()
    await c.close()


async def test_a_late_yes_does_not_confirm() -> None:
    c = chat()
    await c.greet()
    assert "Reboot the device now?" in await c.ask("reboot")
    answer = await c.ask("yes", extra=stamp(500))
    assert answer.startswith('Not run: "yes (to reboot)" was sent at')
    await c.silent()  # nothing ran
    await c.close()


async def test_max_delay_comes_from_the_config() -> None:
    c = chat(max_delay=2)
    assert c.console.max_delay == 2
    await c.greet()
    assert "presence.status: ok" in await set_status(c, "ok", stamp(1))
    assert (await set_status(c, "old", stamp(5))).startswith("Not run:")
    assert c.h.agent.status == "ok"
    await c.close()


@pytest.mark.parametrize(
    "delay",
    [
        raw("yesterday"),
        raw("2026-12-01 02:59:00Z"),  # not XEP-0082: a space for the T
        raw("2026-12-01T02:59:00"),  # no zone
        raw("2026-02-30T02:59:00Z"),  # no such day
        "<delay xmlns='urn:xmpp:delay'/>",  # no stamp at all
        raw("2027-12-01T03:00:00Z"),  # a year ahead of the device's clock
        stamp(1) + raw("garbage"),  # one unreadable stamp of two
    ],
)
async def test_a_stamp_the_device_cannot_judge_counts_as_old(delay: str) -> None:
    c = chat()
    await c.greet()
    answer = await set_status(c, "never", delay)
    assert answer.startswith('Not run: "config set presence.status never" was sent at ')
    assert "a time the device cannot judge" in answer
    assert c.h.agent.status != "never"
    answer = await c.ask("version", extra=delay)
    assert answer.startswith('"version" (sent at ') and "an unknown time ago)" in answer
    await c.close()


async def test_the_oldest_of_several_stamps_counts_and_small_skew_is_forgiven() -> None:
    c = chat()
    await c.greet()
    assert (await set_status(c, "two", stamp(1) + stamp(400))).startswith("Not run:")
    assert (await set_status(c, "two", stamp(400) + stamp(1))).startswith("Not run:")
    # the server's clock a minute ahead of the device's: age 0, it runs
    assert "presence.status: ahead" in await set_status(c, "ahead", stamp(-60))
    # a forwarded payload's stamp is not the message's
    fwd = f"<forwarded xmlns='urn:xmpp:forward:0'>{stamp(900)}</forwarded>"
    assert "presence.status: fwd" in await set_status(c, "fwd", fwd)
    await c.close()


async def test_a_refusal_leaves_the_session_working() -> None:
    c = chat()
    await c.greet()
    assert (await set_status(c, "old", stamp(900))).startswith("Not run:")
    assert "presence.status: new" in await set_status(c, "new")
    assert ALICE in [str(j) for j in c.console.sessions]
    await c.close()

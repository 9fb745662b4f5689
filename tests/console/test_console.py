"""The console in conversation: what a controller types, what the device
answers (plain body and XHTML-IM, checked against the profile in every
reply by the Chat helper)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from stanzalink.xep import xhtml_im
from tests.console.conftest import ALICE, VICTOR, Chat, body

from ..util import python_cmd


async def test_banner_on_first_contact_then_answers() -> None:
    c = Chat()
    banner = await c.greet()
    assert "device1@example.net" in banner and "stanzalink 0.1.0" in banner
    assert "You are admin" in banner
    # the second command gets no banner
    assert "stanzalink: 0.1.0" in await c.ask("version")
    await c.silent()
    await c.close()


async def test_reply_type_thread_and_formats() -> None:
    c = Chat()
    await c.greet()
    c.send("version", extra="<thread parent='p7'>t-42</thread>")
    msg = await c.reply()
    assert msg.get("type") == "chat" and msg.get("to") == ALICE
    thread = msg.find("{jabber:client}thread")
    assert thread is not None and thread.text == "t-42" and thread.get("parent") == "p7"
    html = msg.find(f"{{{xhtml_im.NS}}}html")
    assert html is not None
    strong = [e.text for e in html.iter("{http://www.w3.org/1999/xhtml}strong")]
    assert "stanzalink" in strong and "kernel" in strong
    # a message without a type (normal) is answered as normal
    c.send("version", mtype=None)
    assert (await c.reply()).get("type") is None
    assert "console" in [f.name for f in c.h.agent.features()]
    assert xhtml_im.NS in c.console.disco_features
    await c.close()


async def test_shell_like_parsing(test_commands: dict[str, Any]) -> None:
    c = Chat()
    await c.greet()
    assert await c.ask('greet "Ada Lovelace" 2') == "hello Ada Lovelace hello Ada Lovelace"
    assert await c.ask(r"greet Ada\ L.") == "hello Ada L."
    assert await c.ask("greet times=3 who=x") == "hello x hello x hello x"
    assert await c.ask("GREET 'it''s'") == "hello its"
    answer = await c.ask('greet "unterminated')
    assert answer.startswith("Cannot read that line: no closing quotation.")
    assert "Cannot read that line: no escaped character" in await c.ask("greet x\\")
    await c.close()


async def test_wrong_arguments_are_answered_with_usage(test_commands: dict[str, Any]) -> None:
    c = Chat()
    await c.greet()
    answer = await c.ask("greet")
    assert "greet: who is missing" in answer
    assert "*usage*: `greet <who> [times]`" in answer
    assert "times: expected a whole number, got 'many'" in await c.ask("greet x many")
    assert "too many arguments" in await c.ask("greet a 1 extra")
    assert "usage: greet <who> [times]\ndoes: echo" in await c.ask("greet --help")
    await c.close()


async def test_unknown_commands_get_the_closest_matches() -> None:
    c = Chat()
    await c.greet()
    answer = await c.ask("stauts")
    assert answer.startswith("Unknown command 'stauts'. Did you mean: `status`")
    assert "Send `help` for the list." in answer
    assert "Did you mean" not in await c.ask("xyzzy")
    # a long unknown word is not echoed back whole
    answer = await c.ask("x" * 3000)
    assert answer.startswith("Unknown command '" + "x" * 40 + "...'.") and len(answer) < 200
    await c.close()


async def test_help_lists_only_what_the_role_may_run() -> None:
    c = Chat()
    await c.greet(VICTOR)
    viewer = await c.ask("help", VICTOR)
    await c.greet(ALICE)
    admin = await c.ask("help", ALICE)
    for name in ("status", "version", "net", "who", "help"):
        assert f"\n{name}" in viewer and f"\n{name}" in admin
    for name in ("reboot", "restart", "log", "config", "ping"):
        assert f"\n{name}" not in viewer, name
        assert f"\n{name}" in admin, name
    assert "shell" not in admin  # off unless [console] shell = true
    assert "role viewer" in viewer
    # help for a command above the role names the role it needs
    assert await c.ask("help reboot", VICTOR) == "reboot: needs role admin (you are viewer)"
    assert "no command 'rebooz'" in await c.ask("help rebooz", VICTOR)
    assert "role: admin" in await c.ask("help reboot", ALICE)
    await c.close()


async def test_paging_with_more(test_commands: dict[str, Any]) -> None:
    c = Chat(page_size=1024, burst=100)
    await c.greet()
    c.send("big 200")
    first = await c.text()
    assert len(first.encode()) <= 1024
    assert first.startswith("```\nline 0000 ")
    total = int(first.rsplit(" of ", 1)[1].split(":")[0])
    assert total >= 8
    assert first.endswith(f"(page 1 of {total}: send `more` for the next)")
    seen = [first]
    for _ in range(2, total + 1):
        page = await c.ask("more")
        assert len(page.encode()) <= 1024
        seen.append(page)
    assert seen[-1].endswith(f"(page {total} of {total}, the end)")
    joined = "\n".join(seen)
    numbers = [ln.split()[1] for ln in joined.split("\n") if ln.startswith("line ")]
    assert numbers == [f"{i:04d}" for i in range(200)]  # each line once, in order
    assert await c.ask("more") == "Nothing more to show."
    await c.close()


async def test_confirmation_from_the_same_full_jid(tmp_path: Path) -> None:
    marker = tmp_path / "rebooted"
    script = f"open({str(marker)!r}, 'w').write('yes')"

    c = Chat(reboot_command=[*python_cmd(), "-c", script])
    await c.greet()
    question = await c.ask("reboot")
    assert question.startswith("*Reboot the device now?* Answer `yes` or `no`")
    # another resource of the same account cannot confirm it
    await c.greet("alice@example.net/phone")
    assert await c.ask("yes", "alice@example.net/phone") == "Nothing to confirm."
    await asyncio.sleep(0.1)
    assert not marker.exists()
    c.send("yes")
    answer = await c.text(10)
    assert answer.startswith("rebooting: ")
    assert marker.read_text() == "yes"
    # no: not run
    marker.unlink()
    await c.ask("reboot")
    assert await c.ask("no") == "Not confirmed: reboot was not run."
    # anything else: not run either, and the line is a command of its own
    await c.ask("reboot")
    c.send("version")
    assert await c.text() == "Not confirmed: reboot was not run."
    assert "stanzalink: " in await c.text()
    # a question expires
    await c.ask("reboot")
    await c.advance(61)
    assert await c.ask("yes") == "Nothing to confirm."
    await asyncio.sleep(0.1)
    assert not marker.exists()
    await c.close()


async def test_cancel_a_long_command_while_another_controller_works(
    test_commands: dict[str, Any],
) -> None:
    c = Chat()
    await c.greet()
    await c.greet(VICTOR)
    c.send("slow")
    await asyncio.wait_for(test_commands["started"].wait(), 2)
    # the other controller is not blocked
    assert "stanzalink: " in await c.ask("version", VICTOR)
    # cancel from another controller touches only that controller's commands
    assert await c.ask("cancel", VICTOR) == "Nothing is running."
    assert test_commands["cancelled"] == 0
    assert await c.ask("cancel") == "Cancelled: slow."
    assert test_commands["cancelled"] == 1
    assert test_commands["inv"].cancelled.is_set()
    assert await c.ask("cancel") == "Nothing is running."
    await c.close()


async def test_jobs_per_session_are_bounded(test_commands: dict[str, Any]) -> None:
    c = Chat(max_jobs=2)
    await c.greet()
    c.send("slow")
    c.send("slow")
    answer = await c.ask("slow")
    assert answer.startswith("Busy: 2 commands are still running")
    assert await c.ask("cancel") == "Cancelled: slow."
    assert await c.text() == "Cancelled: slow."
    await c.close()


async def test_jobs_are_bounded_per_account_and_in_all(test_commands: dict[str, Any]) -> None:
    """``max_jobs`` was per session, i.e. per full JID: one account with
    many resources (a viewer's included) could run max_sessions x max_jobs
    commands at once.  It counts per account now, and the device runs at
    most ``max_jobs_total`` commands for everybody."""
    c = Chat(max_jobs=2, max_jobs_total=3)  # both from [console]
    assert c.console.max_jobs_total == 3
    for r in ("r1", "r2"):
        await c.greet(f"victor@example.net/{r}")
        c.send("slow", f"victor@example.net/{r}")
    await asyncio.sleep(0.05)
    await c.greet("victor@example.net/r3")
    answer = await c.ask("slow", "victor@example.net/r3")
    assert answer.startswith("Busy: 2 commands are still running"), answer
    await c.greet()
    c.send("slow")  # alice: the third command on the device
    await asyncio.sleep(0.05)
    await c.greet("olga@example.net/o")
    answer = await c.ask("slow", "olga@example.net/o")
    assert answer.startswith("Busy: the device is running 3 commands"), answer
    running = sum(len(s.jobs) for s in c.console.sessions.values())
    assert running == 3
    await c.close()


async def test_a_full_session_table_never_cancels_somebody_elses_command(
    test_commands: dict[str, Any],
) -> None:
    """With every session busy, a newcomer's message evicted the oldest
    session and cancelled its running commands: a viewer could stop an
    admin's command.  The newcomer is told the console is busy instead."""
    c = Chat(max_sessions=1)
    await c.greet()
    c.send("slow")
    await asyncio.wait_for(test_commands["started"].wait(), 2)
    answer = await c.ask("version", VICTOR)
    assert answer.startswith("Busy:"), answer
    await asyncio.sleep(0.05)
    assert test_commands["cancelled"] == 0
    assert [str(j) for j in c.console.sessions] == [ALICE]
    await c.close()


async def test_a_failing_command_reveals_no_internals(
    test_commands: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    c = Chat()
    await c.greet()
    answer = await c.ask("boom")
    assert answer == "boom failed: internal error (see the device log)."
    assert "internal detail" in caplog.text  # logged on the device
    await c.close()


async def test_rate_limit_one_notice_then_silence() -> None:
    c = Chat(burst=3, rate=0.5)
    for _ in range(6):
        c.send("version")
    await c.h.settle(20)
    await asyncio.sleep(0.05)
    bodies = [body(m) for m in c.h.unread()]
    notices = [b for b in bodies if b.startswith("Too many commands")]
    answers = [b for b in bodies if "stanzalink: " in b]
    assert len(answers) == 3 and len(notices) == 1
    await c.advance(2.0)  # one token back
    assert "stanzalink: " in await c.ask("version")
    c.send("version")
    assert (await c.text()).startswith("Too many commands")  # a new episode, one notice
    await c.silent()
    await c.close()


async def test_sessions_expire_after_inactivity(test_commands: dict[str, Any]) -> None:
    c = Chat(session_timeout=60, page_size=1024)
    await c.greet()
    c.send("big 100")
    await c.text()
    await c.advance(30)
    assert (await c.ask("more")).startswith("```")  # still there
    await c.advance(61)
    c.send("more")
    assert "You are admin" in await c.text()  # a new session: banner again
    assert await c.text() == "Nothing more to show."
    await c.close()


async def test_sessions_are_bounded() -> None:
    c = Chat(max_sessions=3)
    for i in range(5):
        await c.greet(f"alice@example.net/r{i}")
    assert len(c.console.sessions) == 3
    assert [str(j) for j in c.console.sessions] == [f"alice@example.net/r{i}" for i in (2, 3, 4)]
    await c.close()


async def test_config_set_changes_the_running_status() -> None:
    c = Chat(settable=["presence.status"])
    await c.greet()
    # the value in force, and that it is the default (not blank)
    assert await c.ask("config get") == "*settings*\npresence.status: (empty, the default)"
    c.send('config set presence.status "on fire"')
    pres = await c.h.next_sent()
    assert pres.tag == "{jabber:client}presence"
    assert pres.findtext("{jabber:client}status") == "on fire"
    assert "presence.status: on fire" in await c.text()
    assert c.h.agent.status == "on fire"
    assert await c.ask("config get presence.status") == "presence.status: on fire"
    assert "not a setting" in await c.ask("config set presence.priority 5")
    await c.close()


async def test_restart_asks_then_stops_with_the_restart_status() -> None:
    c = Chat(restart_exit_code=75)
    await c.greet()
    await c.ask("restart")
    assert await c.ask("yes") == "restarting the agent (exit status 75)"
    await c.advance(0.9)
    assert c.h.agent.exit_code == 0  # a second to send the answer first
    await c.advance(0.1)
    assert c.h.agent.exit_code == 75
    await c.close()


async def test_audit_log_records_who_what_and_result(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = tmp_path / "audit.log"
    c = Chat(audit_log=str(audit))
    caplog.set_level(logging.INFO, logger="stanzalink.audit")
    await c.greet()
    await c.ask("stauts")
    await c.ask("reboot")
    await c.ask("no")
    lines = audit.read_text().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("alice@example.net/laptop role=admin result=ok command='version'")
    assert "result=unknown command='stauts'" in lines[1]
    assert "result=asked command='reboot'" in lines[2]
    assert "result=declined command='reboot'" in lines[3]
    assert lines[0][:4].isdigit() and lines[0][10] == "T"
    assert "result=declined" in caplog.text
    await c.close()


async def test_audit_log_lines_cannot_be_forged(tmp_path: Path) -> None:
    # a resourcepart the JID parser admits may hold a line separator and a
    # bidi override: a viewer would show a line of the forger's own
    audit = tmp_path / "audit.log"
    c = Chat(audit_log=str(audit))
    forger = "alice@example.net/lap\u20282026-12-01T00:00:00Z eve@example.net/x role=admin\u202e"
    await c.greet(forger)
    text = audit.read_text(encoding="utf-8")
    assert text.endswith("\n") and text[:-1].isprintable()  # one line
    assert (
        "alice@example.net/lap\\u20282026-12-01T00:00:00Z eve@example.net/x role=admin\\u202e"
        in text
    )
    await c.close()


async def test_config_shows_values_in_force_and_which_are_defaults() -> None:
    # (console.rate is not settable: the allow-list keeps the rate limit)
    keys = ["presence.priority", "log.level", "console.page_size", "console.confirm_timeout"]
    c = Chat(settable=keys, confirm_timeout=30.0)
    await c.greet()
    assert await c.ask("config get") == (
        "*settings*\n"
        "presence.priority: 0 (the default)\n"
        "log.level: info (the default)\n"
        "console.page_size: 16384 (the default)\n"
        "console.confirm_timeout: 30.0"  # set in the file
    )
    await c.close()

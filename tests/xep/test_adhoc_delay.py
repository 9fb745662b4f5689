"""Ad-hoc commands that came late (the console's max_delay rule), and
output holding characters XML cannot carry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stanzalink.commands import (
    Arg,
    CommandError,
    Invocation,
    KeyValue,
    Registry,
    Table,
    Text,
)
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.command_forms import command_line
from stanzalink.xep.delay import parse_stamp
from stanzalink.xep.disco import Disco
from stanzalink.xep.forms import Form
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness
from tests.xep.test_adhoc import ACCESS, ADMIN, CMD, XD, ask, cmd_of, command, form_of, submit

NOW = "2026-12-01T03:00:00Z"
WALL = parse_stamp(NOW) or 0.0
assert WALL > 0

reg = Registry()
ran: list[str] = []
CONTROLS = "\x1b[31mERROR\x1b[0m disk\x07 full\x00\x08\x0b\x0c\x7f!"
CLEANED = "[31mERROR[0m disk full\x7f!"  # DEL is a character XML carries


@reg.command("readings", help="Sensor readings", read_only=True)
def readings(inv: Invocation) -> str:
    ran.append("readings")
    return "21.5 C"


@reg.command(
    "setpoint",
    help="Set the temperature",
    role="admin",
    args=[Arg("value", int, "degrees"), Arg("unit", str, "C or F", default="C")],
)
def setpoint(inv: Invocation) -> str:
    ran.append(f"setpoint {inv.args['value']}")
    return f"set to {inv.args['value']}"


@reg.command(
    "valve",
    help="Show or move the valve",
    role="admin",
    args=[Arg("action", str, "get or set", default="get", choices=("get", "set"))],
    confirm="Move the valve?",
    read_only=lambda args: args["action"] == "get",
)
def valve(inv: Invocation) -> str:
    ran.append(f"valve {inv.args['action']}")
    return "valve open"


@reg.command("journal", help="Log lines with terminal colours")
def journal(inv: Invocation) -> Any:
    return [
        CONTROLS,  # one line: an info note
        Text(f"line 1 {CONTROLS}\nline 2\r\n", preformatted=True),
        KeyValue([(f"key{CONTROLS}", CONTROLS)], title=f"title {CONTROLS}"),
        Table(["col\x1b"], [[CONTROLS]], title="t\x1b"),
    ]


@reg.command("badlog", help="Fails quoting a log line")
def badlog(inv: Invocation) -> None:
    raise CommandError(f"cannot parse {CONTROLS}")


def harness(**console: Any) -> Harness:
    ran.clear()
    h = Harness([Disco, AdHoc], ACCESS, commands=reg, console=console)
    h.feature(AdHoc).wall = lambda: WALL
    return h


def delay(ago: float) -> str:
    when = dt.datetime.fromtimestamp(WALL - ago, dt.UTC)
    return f"<delay xmlns='urn:xmpp:delay' from='example.net' stamp='{when:%Y-%m-%dT%H:%M:%S}Z'/>"


def notes(el: Element) -> list[tuple[str | None, str | None]]:
    return [(n.get("type"), n.text) for n in el.findall(f"{{{CMD}}}note")]


async def test_fresh_and_slightly_delayed_requests_run() -> None:
    h = harness()
    form = submit(value="40")
    assert notes(cmd_of(await ask(h, ADMIN, "a1", command("setpoint", form=form)))) == [
        ("info", "set to 40")
    ]
    # re-sent on a stream resumption, a second late: as good as fresh
    late = command("setpoint", form=submit(value="41")) + delay(1)
    assert notes(cmd_of(await ask(h, ADMIN, "a2", late))) == [("info", "set to 41")]
    assert ran == ["setpoint 40", "setpoint 41"]
    await h.close()


async def test_an_old_change_is_refused_quoting_it_and_an_old_read_runs() -> None:
    h = harness()
    late = command("setpoint", form=submit(value="42", unit="F")) + delay(300)
    el = cmd_of(await ask(h, ADMIN, "b1", late))
    assert el.get("status") == "completed"
    [(ntype, text)] = notes(el)
    assert ntype == "error"
    assert text == (
        'Not run: "setpoint value=42 unit=F" was sent at 2026-12-01T02:55:00Z, 300 s ago,'
        " more than max_delay (120 s); it would change the device."
        " Send it again if it still applies."
    )
    el = cmd_of(await ask(h, ADMIN, "b2", command("readings") + delay(300)))
    assert notes(el) == [
        ("info", '"readings" (sent at 2026-12-01T02:55:00Z, 300 s ago)'),
        ("info", "21.5 C"),
    ]
    assert ran == ["readings"]
    await h.close()


async def test_the_stage_that_runs_is_the_one_judged() -> None:
    h = harness()
    # a fresh start, the confirmation held up beyond max_delay: refused
    el = cmd_of(await ask(h, ADMIN, "c1", command("valve")))
    sid = el.get("sessionid")
    el = cmd_of(await ask(h, ADMIN, "c2", command("valve", sid, "next", submit(action="set"))))
    assert form_of(el).instructions == ["Move the valve?"]
    assert form_of(el).fields[0].values == ["action: set"]
    el = cmd_of(await ask(h, ADMIN, "c3", command("valve", sid, "complete") + delay(200)))
    assert (notes(el)[0][1] or "").startswith('Not run: "valve action=set" was sent at')
    # the same command with arguments that only read runs, late or not
    el = cmd_of(await ask(h, ADMIN, "c4", command("valve")))
    sid = el.get("sessionid")
    await ask(h, ADMIN, "c5", command("valve", sid, "next", submit(action="get")))
    el = cmd_of(await ask(h, ADMIN, "c6", command("valve", sid, "complete") + delay(200)))
    assert notes(el)[-1] == ("info", "valve open")
    assert ran == ["valve get"]
    await h.close()


async def test_max_delay_and_unreadable_stamps() -> None:
    h = harness(max_delay=2)
    assert h.feature(AdHoc).max_delay == 2
    old = command("setpoint", form=submit(value="7")) + delay(5)
    assert notes(cmd_of(await ask(h, ADMIN, "d1", old)))[0][0] == "error"
    bad = command("setpoint", form=submit(value="8")) + (
        "<delay xmlns='urn:xmpp:delay' stamp='2026-12-01T02:59:59'/>"
    )
    [(ntype, text)] = notes(cmd_of(await ask(h, ADMIN, "d2", bad)))
    assert ntype == "error" and "a time the device cannot judge" in (text or "")
    ok = command("setpoint", form=submit(value="9")) + delay(1)
    assert notes(cmd_of(await ask(h, ADMIN, "d3", ok))) == [("info", "set to 9")]
    assert ran == ["setpoint 9"]
    await h.close()


def test_command_line_names_what_differs_from_the_defaults() -> None:
    cmd = reg.get("setpoint")
    assert cmd is not None
    assert command_line(cmd, {"value": 3, "unit": "C"}) == "setpoint value=3"
    assert command_line(cmd, {"value": 3, "unit": "x y"}) == "setpoint value=3 unit='x y'"


async def test_output_with_control_characters_is_a_normal_result() -> None:
    h = harness()
    reply = await ask(h, ADMIN, "e1", command("journal"))
    assert reply.get("type") == "result"
    el = cmd_of(reply)
    assert notes(el) == [("info", CLEANED)]
    (main,) = [Form.from_element(x) for x in el.findall(f"{{{XD}}}x")]
    values = [(f.label, f.values) for f in main.fields]
    assert values == [
        ("output", [f"line 1 {CLEANED}", "line 2"]),
        ("", [f"title {CLEANED}"]),
        (f"key{CLEANED}", [CLEANED]),
        ("t", ["col", "-" * len(CLEANED), CLEANED]),
    ]
    # an error note quoting such a line too
    el = cmd_of(await ask(h, ADMIN, "e2", command("badlog")))
    assert notes(el) == [("error", f"cannot parse {CLEANED}")]
    await h.close()

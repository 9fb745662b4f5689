"""XEP-0050 between controllers and the device, with the XEP's own examples
(the service list, the multi-stage "config" dialog, cancel, the errors)
played against test commands in a registry of their own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stanzalink.agent import parse_config
from stanzalink.commands import (
    Arg,
    CommandError,
    FileOffer,
    Invocation,
    KeyValue,
    Registry,
    Table,
    Text,
)
from stanzalink.config import ConfigError
from stanzalink.console.feature import Console
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.base import Feature
from stanzalink.xep.disco import Disco
from stanzalink.xep.forms import Form
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness, ManualClock

CMD = "http://jabber.org/protocol/commands"
XD = "jabber:x:data"
ITEMS = "http://jabber.org/protocol/disco#items"
INFO = "http://jabber.org/protocol/disco#info"
ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
ADMIN, OPERATOR, VIEWER = "alice@example.net/laptop", "olga@example.net/phone", "vic@example.net/x"
ACCESS = {
    "admin": ["alice@example.net"],
    "operator": ["olga@example.net"],
    "viewer": ["vic@example.net"],
}

reg = Registry()
ran: list[tuple[str, dict[str, Any], str]] = []


@reg.command("list", help="List Service Configurations")
def list_services(inv: Invocation) -> Table:
    runlevels = ["off", "off", "on", "on"]
    return Table(
        ["Service", "Single-User mode", "Non-Networked Multi-User mode", "Full Multi-User mode"],
        [[svc, *runlevels[:3]] for svc in ("httpd", "postgresql", "jabberd")],
        title="Available Services",
    )


@reg.command(
    "config",
    help="Configure Service",
    role="operator",
    args=[
        Arg("service", str, "the service to configure", choices=["httpd", "jabberd", "postgresql"]),
        Arg("state", str, "run state", default="off", choices=["off", "on"]),
    ],
    confirm="Configure this service now?",
)
def config(inv: Invocation) -> Text:
    ran.append(("config", dict(inv.args), str(inv.sender)))
    return Text(f"Service '{inv.args['service']}' has been configured.")


@reg.command(
    "fan",
    help="Set the fan",
    role="operator",
    args=[
        Arg("percent", int, "duty cycle", minimum=0, maximum=100),
        Arg("quiet", bool, "night mode", default=False),
        Arg("note", str, "why", default="", rest=True),
    ],
)
async def fan(inv: Invocation) -> KeyValue:
    await asyncio.sleep(0)
    return KeyValue([("fan", f"{inv.args['percent']} %"), ("quiet", inv.args["quiet"])], "Fan")


@reg.command("reboot", help="Reboot the device", role="admin", confirm="Reboot the device now?")
def reboot(inv: Invocation) -> str:
    ran.append(("reboot", {}, str(inv.sender)))
    return "rebooting"


@reg.command("broken", help="Fails politely")
def broken(inv: Invocation) -> None:
    raise CommandError("the sensor does not answer")


@reg.command("crash", help="Fails badly")
def crash(inv: Invocation) -> None:
    raise RuntimeError("secret internals /etc/shadow")


def harness(clock: ManualClock | None = None, **adhoc: Any) -> Harness:
    ran.clear()
    return Harness([Disco, AdHoc], ACCESS, commands=reg, clock=clock, adhoc=adhoc)


async def ask(h: Harness, frm: str, iq_id: str, body: str, itype: str = "set") -> Element:
    h.receive(
        f"<iq type='{itype}' from='{frm}' to='device1@example.net/agent' id='{iq_id}'>{body}</iq>"
    )
    reply = await h.next_sent()
    assert reply.get("id") == iq_id and reply.get("to") == frm
    return reply


def command(node: str, sid: str | None = None, action: str | None = None, form: str = "") -> str:
    attrs = f" node='{node}'" + (f" sessionid='{sid}'" if sid else "")
    attrs += f" action='{action}'" if action else ""
    return f"<command xmlns='{CMD}'{attrs}>{form}</command>"


def submit(**values: str | list[str]) -> str:
    out = f"<x xmlns='{XD}' type='submit'>"
    for var, v in values.items():
        vals = v if isinstance(v, list) else [v]
        out += f"<field var='{var}'>" + "".join(f"<value>{x}</value>" for x in vals) + "</field>"
    return out + "</x>"


def cmd_of(reply: Element) -> Element:
    assert reply.get("type") == "result", reply
    el = reply.find(f"{{{CMD}}}command")
    assert el is not None
    return el


def actions(el: Element) -> tuple[str | None, list[str]]:
    acts = el.find(f"{{{CMD}}}actions")
    assert acts is not None
    return acts.get("execute"), [a.tag.split("}")[1] for a in acts]


def form_of(el: Element) -> Form:
    x = el.find(f"{{{XD}}}x")
    assert x is not None
    return Form.from_element(x)


def error_of(reply: Element) -> tuple[str, str, str | None, str]:
    """(type, condition, commands-namespace condition, text)"""
    assert reply.get("type") == "error"
    err = reply.find("{jabber:client}error")
    assert err is not None
    cond = next(
        c.tag.split("}")[1]
        for c in err
        if c.tag.startswith(f"{{{ERR}}}") and not c.tag.endswith("}text")
    )
    specific = next((c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{CMD}}}")), None)
    return err.get("type") or "", cond, specific, err.findtext(f"{{{ERR}}}text") or ""


# ------------------------------------------------------------------ discovery
async def test_command_list_depends_on_the_role() -> None:
    h = harness()
    query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"  # XEP-0050 example 3
    listed = {}
    for who in (ADMIN, OPERATOR, VIEWER):
        reply = await ask(h, who, "disco1", query, "get")
        q = reply.find(f"{{{ITEMS}}}query")
        assert q is not None and q.get("node") == CMD
        items = q.findall(f"{{{ITEMS}}}item")
        assert {i.get("jid") for i in items} == {"device1@example.net/agent"}
        listed[who] = {i.get("node"): i.get("name") for i in items}
    assert listed[ADMIN] == {
        "broken": "Fails politely",
        "config": "Configure Service",
        "crash": "Fails badly",
        "fan": "Set the fan",
        "list": "List Service Configurations",
        "reboot": "Reboot the device",
        "report": "Everything at once",
    }
    assert set(listed[OPERATOR]) == set(listed[ADMIN]) - {"reboot"}
    assert set(listed[VIEWER]) == {"broken", "crash", "list", "report"}
    await h.close()


async def test_command_node_info_and_hidden_nodes_reveal_nothing() -> None:
    h = harness()
    reply = await ask(h, OPERATOR, "i1", f"<query xmlns='{INFO}' node='config'/>", "get")
    q = reply.find(f"{{{INFO}}}query")
    assert q is not None and q.get("node") == "config"
    ident = q.find(f"{{{INFO}}}identity")
    assert ident is not None
    assert (ident.get("category"), ident.get("type"), ident.get("name")) == (
        "automation",
        "command-node",
        "Configure Service",
    )
    assert [f.get("var") for f in q.findall(f"{{{INFO}}}feature")] == [CMD, XD]
    # the device itself advertises the commands feature
    reply = await ask(h, VIEWER, "i2", f"<query xmlns='{INFO}'/>", "get")
    assert CMD in [f.get("var") for f in reply.findall(f"{{{INFO}}}query/{{{INFO}}}feature")]
    # a viewer asking about an admin command gets what a missing node gets
    await ask(h, VIEWER, "i3", f"<query xmlns='{INFO}' node='reboot'/>", "get")
    await ask(h, VIEWER, "i3", f"<query xmlns='{INFO}' node='nonesuch'/>", "get")
    assert h.sent_xml[-2].replace("reboot", "X") == h.sent_xml[-1].replace("nonesuch", "X")
    assert "item-not-found" in h.sent_xml[-1]
    await h.close()


async def test_strangers_are_refused_like_an_unserved_payload() -> None:
    h = harness()
    reply = await ask(h, "eve@example.net/x", "e1", command("list"))
    assert error_of(reply)[:2] == ("cancel", "service-unavailable")
    assert "sessionid" not in h.sent_xml[-1]
    await h.close()


# ------------------------------------------------------------------ execution
async def test_single_stage_execution_returns_the_result_table() -> None:
    # XEP-0050 examples 7 and 8
    h = harness()
    reply = await ask(h, VIEWER, "exec1", command("list", action="execute"))
    el = cmd_of(reply)
    assert el.get("node") == "list" and el.get("status") == "completed" and el.get("sessionid")
    assert el.find(f"{{{CMD}}}actions") is None
    table = form_of(el)
    assert table.type == "result" and table.title == "Available Services"
    assert table.reported is not None
    labels = [c.label for c in table.reported]
    assert labels == [
        "Service",
        "Single-User mode",
        "Non-Networked Multi-User mode",
        "Full Multi-User mode",
    ]
    var = [c.var for c in table.reported]
    rows = [[row[v][0] for v in var] for row in table.items]
    assert rows == [
        ["httpd", "off", "off", "on"],
        ["postgresql", "off", "off", "on"],
        ["jabberd", "off", "off", "on"],
    ]
    await h.close()


async def test_multi_stage_next_prev_complete() -> None:
    # XEP-0050 examples 9 to 16: stage 1 form, stage 2 (here: the
    # confirmation), back to stage 1 with the remembered value, complete
    h = harness()
    el = cmd_of(await ask(h, OPERATOR, "exec1", command("config", action="execute")))
    sid = el.get("sessionid")
    assert sid and el.get("status") == "executing"
    assert actions(el) == ("next", ["next"])
    form = form_of(el)
    assert form.type == "form" and form.title == "Configure Service"
    service = form.field("service")
    assert service is not None and service.type == "list-single" and service.required
    assert [o.value for o in service.options] == ["httpd", "jabberd", "postgresql"]
    state = form.field("state")
    assert state is not None and state.values == ["off"] and not state.required

    el = cmd_of(
        await ask(h, OPERATOR, "exec2", command("config", sid, form=submit(service="httpd")))
    )
    assert el.get("sessionid") == sid and el.get("status") == "executing"
    assert actions(el) == ("complete", ["prev", "complete"])
    confirm = form_of(el)
    # the question once (Pidgin shows the instructions and every fixed field)
    assert confirm.instructions == ["Configure this service now?"]
    assert [f.values[0] for f in confirm.fields] == ["service: httpd", "state: off"]
    assert ran == []  # nothing runs before the confirmation

    el = cmd_of(await ask(h, OPERATOR, "exec2", command("config", sid, "prev")))
    assert actions(el) == ("next", ["next"])
    service = form_of(el).field("service")
    assert service is not None and service.values == ["httpd"]  # remembered

    form = submit(service="jabberd", state="on")
    el = cmd_of(await ask(h, OPERATOR, "exec3", command("config", sid, "next", form)))
    assert actions(el) == ("complete", ["prev", "complete"])
    el = cmd_of(await ask(h, OPERATOR, "exec4", command("config", sid, "complete")))
    assert el.get("status") == "completed" and el.get("sessionid") == sid
    note = el.find(f"{{{CMD}}}note")
    assert note is not None and note.get("type") == "info"
    assert note.text == "Service 'jabberd' has been configured."
    assert ran == [("config", {"service": "jabberd", "state": "on"}, OPERATOR)]
    # the session ended: its id is expired now
    reply = await ask(h, OPERATOR, "exec5", command("config", sid, "complete"))
    assert error_of(reply)[:3] == ("cancel", "not-allowed", "session-expired")
    assert len(ran) == 1
    await h.close()


async def test_cancel() -> None:
    # XEP-0050 examples 17 and 18
    h = harness()
    sid = cmd_of(await ask(h, OPERATOR, "exec1", command("config"))).get("sessionid")
    assert sid
    el = cmd_of(await ask(h, OPERATOR, "exec3", command("config", sid, "cancel")))
    assert (el.get("status"), el.get("sessionid"), el.get("node")) == ("canceled", sid, "config")
    assert len(el) == 0
    reply = await ask(h, OPERATOR, "exec4", command("config", sid, form=submit(service="httpd")))
    assert error_of(reply)[2] == "session-expired"
    assert ran == [] and h.feature(AdHoc).sessions == {}
    await h.close()


async def test_confirmation_without_arguments() -> None:
    h = harness()
    el = cmd_of(await ask(h, ADMIN, "r1", command("reboot")))
    assert actions(el) == ("complete", ["complete"])  # no prev: nothing before
    assert form_of(el).instructions == ["Reboot the device now?"]
    sid = el.get("sessionid")
    reply = await ask(h, ADMIN, "r2", command("reboot", sid, "prev"))
    assert error_of(reply)[:3] == ("modify", "bad-request", "bad-action")
    assert ran == []
    el = cmd_of(await ask(h, ADMIN, "r3", command("reboot", sid)))  # execute = complete
    assert el.get("status") == "completed"
    assert el.findtext(f"{{{CMD}}}note") == "rebooting"
    assert ran == [("reboot", {}, ADMIN)]
    await h.close()


async def test_form_values_are_checked_and_the_session_survives_a_bad_one() -> None:
    h = harness()
    el = cmd_of(await ask(h, OPERATOR, "f1", command("fan")))
    assert actions(el) == ("complete", ["complete"])
    form = form_of(el)
    types = {f.var: (f.type, f.required) for f in form.fields}
    assert types == {
        "percent": ("text-single", True),
        "quiet": ("boolean", False),
        "note": ("text-multi", False),
    }
    percent = form.field("percent")
    assert (
        percent is not None and percent.desc == "duty cycle; a whole number at least 0 at most 100"
    )
    sid = el.get("sessionid")
    for bad, words in [
        (submit(percent="150"), "percent: must be at most 100, got 150"),
        (submit(percent="lots"), "percent: expected a whole number, got 'lots'"),
        (submit(quiet="1"), "percent: a value is required"),
        (submit(percent="5", quiet="maybe"), "quiet: expected a boolean"),
        ("", "percent: a value is required"),
    ]:
        reply = await ask(h, OPERATOR, "f2", command("fan", sid, form=bad))
        etype, cond, specific, text = error_of(reply)
        assert (etype, cond, specific) == ("modify", "bad-request", "bad-payload")
        assert words in text
    good = submit(percent="40", quiet="true", note=["line one", "line two"])
    el = cmd_of(await ask(h, OPERATOR, "f3", command("fan", sid, form=good)))
    assert el.get("status") == "completed"
    result = form_of(el)
    assert result.type == "result"
    assert [f.values for f in result.fields] == [["Fan"], ["40 %"], ["yes"]]
    assert [f.label for f in result.fields] == ["", "fan", "quiet"]
    await h.close()


async def test_a_form_sent_with_the_first_request_is_taken() -> None:
    h = harness()
    el = cmd_of(await ask(h, OPERATOR, "f1", command("fan", form=submit(percent="7"))))
    assert el.get("status") == "completed"
    assert form_of(el).fields[1].values == ["7 %"]
    # and a wrong one is refused without leaving a session behind
    reply = await ask(h, OPERATOR, "f2", command("fan", form=submit(percent="-1")))
    assert error_of(reply)[2] == "bad-payload"
    assert h.feature(AdHoc).sessions == {}
    await h.close()


async def test_failures_are_error_notes() -> None:
    h = harness()
    el = cmd_of(await ask(h, VIEWER, "b1", command("broken")))
    note = el.find(f"{{{CMD}}}note")
    assert el.get("status") == "completed"
    assert note is not None and note.get("type") == "error"
    assert note.text == "the sensor does not answer"
    el = cmd_of(await ask(h, VIEWER, "b2", command("crash")))
    assert el.findtext(f"{{{CMD}}}note") == "crash failed on the device"
    assert "shadow" not in h.sent_xml[-1]
    await h.close()


# ------------------------------------------------------------------ errors
async def test_protocol_errors() -> None:
    h = harness()
    sid = cmd_of(await ask(h, OPERATOR, "e1", command("config"))).get("sessionid")
    assert sid
    cases = [
        (command("config", sid, "jump"), ("modify", "bad-request", "malformed-action")),
        (command("config", sid, "prev"), ("modify", "bad-request", "bad-action")),
        # the confirmation cannot be skipped
        (
            command("config", sid, "complete", submit(service="httpd")),
            ("modify", "bad-request", "bad-action"),
        ),
        (command("config", "made-up"), ("modify", "bad-request", "bad-sessionid")),
        (command("config", action="next"), ("modify", "bad-request", "bad-sessionid")),
        (command("nonesuch"), ("cancel", "item-not-found", None)),
        (f"<command xmlns='{CMD}'/>", ("modify", "bad-request", None)),
        # the session id belongs to another node
        (command("fan", sid, form=submit(percent="1")), ("modify", "bad-request", "bad-sessionid")),
    ]
    for body, expected in cases:
        reply = await ask(h, OPERATOR, "e2", body)
        assert error_of(reply)[:3] == expected, body
    # an error names the session it concerns (slixmpp's client needs that)
    reply = await ask(h, OPERATOR, "e2", command("config", sid, "prev"))
    echoed = reply.find(f"{{{CMD}}}command")
    assert echoed is not None and len(echoed) == 0
    assert (echoed.get("node"), echoed.get("sessionid"), echoed.get("action")) == (
        "config",
        sid,
        "prev",
    )
    # none of that lost the session
    el = cmd_of(await ask(h, OPERATOR, "e3", command("config", sid, form=submit(service="httpd"))))
    assert el.get("status") == "executing"
    assert ran == []
    await h.close()


async def test_sessions_expire() -> None:
    h = harness(ManualClock(), session_timeout=60)
    sid = cmd_of(await ask(h, OPERATOR, "x1", command("config"))).get("sessionid")
    await h.advance(59)
    assert len(h.feature(AdHoc).sessions) == 1
    await h.advance(2)
    reply = await ask(h, OPERATOR, "x2", command("config", sid, form=submit(service="httpd")))
    assert error_of(reply)[:3] == ("cancel", "not-allowed", "session-expired")
    assert h.feature(AdHoc).sessions == {}
    await h.close()


async def test_sessions_are_bounded() -> None:
    h = harness(max_sessions=5)
    sids = [
        cmd_of(await ask(h, OPERATOR, f"s{i}", command("config"))).get("sessionid")
        for i in range(5)
    ]
    # four per requester: the fifth ended the oldest
    assert len(set(sids)) == 5 and len(h.feature(AdHoc).sessions) == 4
    reply = await ask(h, OPERATOR, "s9", command("config", sids[0], form=submit(service="httpd")))
    assert error_of(reply)[2] == "session-expired"
    cmd_of(await ask(h, ADMIN, "a1", command("config")))  # the fifth of five
    reply = await ask(h, ADMIN, "a2", command("config"))
    assert error_of(reply)[:2] == ("wait", "resource-constraint")
    # commands that need no session still run
    assert cmd_of(await ask(h, ADMIN, "a3", command("list"))).get("status") == "completed"
    await h.close()


# ------------------------------------------------------------------ roles
@pytest.mark.parametrize("node", ["reboot", "config"])
async def test_a_viewer_cannot_run_what_it_cannot_see(node: str) -> None:
    h = harness()
    started = cmd_of(await ask(h, ADMIN, "a1", command(node)))
    sid = started.get("sessionid")
    # executing, continuing with the admin's real session id, completing:
    # all forbidden, naming the role the command needs (a node that does
    # not exist is item-not-found)
    need = "operator" if node == "config" else "admin"
    for body in (
        command(node),
        command(node, sid, form=submit(service="httpd")),
        command(node, sid, "complete"),
        command(node, sid, "cancel"),
    ):
        reply = await ask(h, VIEWER, "v1", body)
        assert error_of(reply)[:3] == ("cancel", "forbidden", None)
        assert error_of(reply)[3] == f"{node}: needs role {need} (you are viewer)"
        reply = await ask(h, VIEWER, "v1", body.replace(f"node='{node}'", "node='nonesuch'"))
        assert error_of(reply)[:3] == ("cancel", "item-not-found", None)
    # and a session id is its requester's own, even for a command both may run
    reply = await ask(
        h,
        OPERATOR if node == "config" else ADMIN.replace("laptop", "phone"),
        "v2",
        command(node, sid, "cancel"),
    )
    assert error_of(reply)[2] == "bad-sessionid"
    assert ran == [] and sid in h.feature(AdHoc).sessions
    await h.close()


# ------------------------------------------------------------------ results
@reg.command("report", help="Everything at once")
def report(inv: Invocation) -> list[Any]:
    return [
        Text("kernel: eth0 up\nkernel: eth0 down\n", preformatted=True),
        "all fine",
        Table(["Port", "State"], [["eth0", "up"], ["wlan0"]], title="Links"),
        FileOffer("/var/log/messages", "system log"),
        42,
    ]


async def test_results_render_as_notes_and_forms() -> None:
    h = harness()
    el = cmd_of(await ask(h, VIEWER, "r1", command("report")))
    notes = [(n.get("type"), n.text) for n in el.findall(f"{{{CMD}}}note")]
    # no files feature on this device: the offer is answered with a clear note
    assert notes == [
        ("info", "all fine"),
        (
            "error",
            "messages not sent: file transfer is not running on this device"
            " (the files feature is off)",
        ),
    ]
    # one form (clients show only the first of several): the table beside
    # other content is a field of aligned lines; every field has a label
    (main,) = [Form.from_element(x) for x in el.findall(f"{{{XD}}}x")]
    assert main.type == "result" and main.title == "Everything at once"
    assert [(f.var, f.type, f.label, f.values) for f in main.fields] == [
        ("text.1", "text-multi", "output", ["kernel: eth0 up", "kernel: eth0 down"]),
        ("table.3", "text-multi", "Links", ["Port   State", "-----  -----", "eth0   up", "wlan0"]),
        ("value.4", "text-single", "value", ["42"]),
    ]
    assert main.reported is None and list(main.items) == []
    await h.close()


# ------------------------------------------------------------------ wiring
shared_reg = Registry()


@shared_reg.command("whoami", help="Who you are to the device")
def whoami(inv: Invocation) -> str:
    return f"{inv.sender} ({inv.role})"


@shared_reg.command("list", help="The console's own list", role="admin")
def console_list(inv: Invocation) -> str:
    return "console"


async def test_the_console_and_ad_hoc_commands_serve_one_registry() -> None:
    h = Harness([Disco, Console, AdHoc], ACCESS, commands=shared_reg)
    assert h.feature(Console).registry is h.feature(AdHoc).registry is shared_reg
    reply = await ask(h, VIEWER, "d1", f"<query xmlns='{ITEMS}' node='{CMD}'/>", "get")
    nodes = [i.get("node") for i in reply.findall(f"{{{ITEMS}}}query/{{{ITEMS}}}item")]
    assert nodes == ["whoami"]  # "list" is the admin's
    assert (await ask(h, VIEWER, "d2", command("list"))).get("type") == "error"
    el = cmd_of(await ask(h, ADMIN, "d3", command("list")))
    assert el.findtext(f"{{{CMD}}}note") == "console"
    el = cmd_of(await ask(h, VIEWER, "d4", command("whoami")))
    assert el.findtext(f"{{{CMD}}}note") == f"{VIEWER} (viewer)"
    # a command added at run time reaches both front ends at once
    shared_reg.command("late", help="Added later")(lambda inv: "here")
    try:
        reply = await ask(h, VIEWER, "d5", f"<query xmlns='{ITEMS}' node='{CMD}'/>", "get")
        nodes = [i.get("node") for i in reply.findall(f"{{{ITEMS}}}query/{{{ITEMS}}}item")]
        assert nodes == ["late", "whoami"]
        h.receive(f"<message from='{VIEWER}' type='chat'><body>late</body></message>")
        await h.next_sent()  # the banner
        assert (await h.next_sent()).findtext("{jabber:client}body") == "here"
    finally:
        shared_reg.remove("late")
    await h.close()


@pytest.mark.parametrize("order", ["disco first", "adhoc first"])
async def test_the_disco_feature_serves_the_command_nodes(order: str) -> None:
    feats: list[type[Feature]] = [Disco, AdHoc]
    h = Harness(feats if order == "disco first" else feats[::-1], ACCESS, commands=reg)
    reply = await ask(h, OPERATOR, "d1", f"<query xmlns='{ITEMS}' node='{CMD}'/>", "get")
    nodes = [i.get("node") for i in reply.findall(f"{{{ITEMS}}}query/{{{ITEMS}}}item")]
    assert nodes == ["broken", "config", "crash", "fan", "list", "report"]
    reply = await ask(h, OPERATOR, "d2", f"<query xmlns='{INFO}' node='reboot'/>", "get")
    hidden = h.sent_xml[-1]
    reply = await ask(h, OPERATOR, "d2", f"<query xmlns='{INFO}' node='no-such'/>", "get")
    assert h.sent_xml[-1] == hidden  # a command above the role looks like none at all
    assert error_of(reply)[1] == "item-not-found"
    reply = await ask(h, ADMIN, "d3", f"<query xmlns='{INFO}' node='reboot'/>", "get")
    q = reply.find(f"{{{INFO}}}query")
    assert q is not None
    ident = q.find(f"{{{INFO}}}identity")
    assert ident is not None
    assert (ident.get("category"), ident.get("type")) == ("automation", "command-node")
    assert sorted(f.get("var") for f in q.findall(f"{{{INFO}}}feature")) == sorted([CMD, XD])
    reply = await ask(h, VIEWER, "d4", f"<query xmlns='{INFO}' node='{CMD}'/>", "get")
    ident = reply.find(f"{{{INFO}}}query/{{{INFO}}}identity")
    assert ident is not None and ident.get("type") == "command-list"
    # the device's own disco#info names the commands protocol
    reply = await ask(h, VIEWER, "d5", f"<query xmlns='{INFO}'/>", "get")
    assert CMD in [f.get("var") for f in reply.findall(f"{{{INFO}}}query/{{{INFO}}}feature")]
    await h.close()


# ------------------------------------------------------------------ slow commands
slow_reg = Registry()
held: list[Invocation] = []


@slow_reg.command("slow", help="Takes its time", long_running=True)
async def slow(inv: Invocation) -> KeyValue:
    held.append(inv)
    inv.progress("halfway")
    await inv.cancelled.wait()
    return KeyValue([("waited", "yes")])


async def test_a_slow_command_answers_at_once_and_its_result_follows() -> None:
    held.clear()
    h = Harness([AdHoc], ACCESS, commands=slow_reg, adhoc={"reply_within": 0.05})
    el = cmd_of(await ask(h, VIEWER, "s1", command("slow")))
    assert el.get("status") == "completed"
    assert el.findtext(f"{{{CMD}}}note") == (
        "slow is still running (halfway); its result will follow as a message"
    )
    assert len(held) == 1
    # progress now reaches the requester as messages, at most one per interval
    held[0].progress("almost")
    held[0].progress("nearly there")
    msg = await h.next_sent()
    assert msg.get("to") == VIEWER and msg.findtext("{jabber:client}body") == "slow: almost"
    held[0].cancelled.set()  # the handler finishes
    msg = await h.next_sent()
    assert msg.tag == "{jabber:client}message" and msg.get("to") == VIEWER
    assert msg.get("type") == "chat"
    assert msg.findtext("{jabber:client}body") == "slow: waited: yes"
    await h.close()


async def test_running_commands_are_bounded_and_told_to_stop() -> None:
    held.clear()
    h = Harness([AdHoc], ACCESS, commands=slow_reg, adhoc={"reply_within": 0.01})
    for i in range(4):
        cmd_of(await ask(h, VIEWER, f"s{i}", command("slow")))
        cmd_of(await ask(h, OPERATOR, f"o{i}", command("slow")))
    reply = await ask(h, ADMIN, "s9", command("slow"))
    assert error_of(reply)[:3] == ("wait", "resource-constraint", None)
    assert len(held) == 8 and len(h.feature(AdHoc).running) == 8
    await h.close()  # the agent stops: every invocation is told
    assert all(inv.cancelled.is_set() for inv in held)


async def test_one_account_cannot_take_every_slot() -> None:
    """Sessions (four per requester) and running commands were counted per
    full JID or not per requester at all: one account's resources, a
    viewer's included, could fill ``max_sessions`` and all eight running
    slots, and every other controller got resource-constraint.  Both count
    per account now (four each)."""
    held.clear()
    h = Harness([AdHoc], ACCESS, commands=slow_reg, adhoc={"reply_within": 0.01})
    for i in range(4):
        cmd_of(await ask(h, f"vic@example.net/r{i}", f"v{i}", command("slow")))
    reply = await ask(h, "vic@example.net/r9", "v9", command("slow"))
    assert error_of(reply)[:3] == ("wait", "resource-constraint", None)
    assert cmd_of(await ask(h, ADMIN, "a1", command("slow"))).get("status") == "completed"
    assert len(held) == 5
    for inv in held:
        inv.cancelled.set()
    await h.close()
    h = harness(max_sessions=5)
    for i in range(6):
        cmd_of(await ask(h, f"olga@example.net/r{i}", f"s{i}", command("config")))
    assert len(h.feature(AdHoc).sessions) == 4  # the oldest of the account's ended
    assert cmd_of(await ask(h, ADMIN, "a2", command("config"))).get("status") == "executing"
    await h.close()


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"max_sessions": 0}, "adhoc.max_sessions"),
        ({"max_sessions": 2.5}, "adhoc.max_sessions"),
        ({"session_timeout": -1}, "adhoc.session_timeout"),
        ({"reply_within": "soon"}, "adhoc.reply_within"),
        ({"sessions": 3}, "adhoc.sessions"),
    ],
)
def test_config_keys_are_checked(section: dict[str, Any], key: str) -> None:
    raw = {"account": {"jid": "d@example.net", "password": "p"}, "adhoc": section}
    with pytest.raises(ConfigError, match=key):
        parse_config(raw)


def test_config_reaches_the_feature() -> None:
    raw = {"account": {"jid": "d@example.net", "password": "p"}, "adhoc": {"max_sessions": 3}}
    h = Harness([Disco, AdHoc], config=parse_config(raw), commands=reg)
    assert h.feature(AdHoc).max_sessions == 3
    assert h.feature(AdHoc).session_timeout == 600.0


async def test_a_command_that_never_ends_is_stopped() -> None:
    """The console stops a command after command_timeout; ad-hoc commands
    had no limit, so a handler that hangs held one of the eight running
    slots for good (and its requester's result never came)."""
    held.clear()
    h = Harness(
        [AdHoc], ACCESS, commands=slow_reg, clock=ManualClock(), adhoc={"reply_within": 0.01}
    )
    h.feature(AdHoc).command_timeout = 0.1
    asking = asyncio.ensure_future(ask(h, VIEWER, "s1", command("slow")))
    await h.advance(0.01)  # reply_within: the IQ is answered, the command goes on
    cmd_of(await asking)
    await h.advance(0.09)
    msg = await h.next_sent()
    assert msg.tag == "{jabber:client}message" and msg.get("to") == VIEWER
    assert "stopped after 0.1 s" in (msg.findtext("{jabber:client}body") or "")
    assert h.feature(AdHoc).running == {}
    assert held[0].cancelled.is_set()
    await h.close()


async def test_commands_with_the_same_help_have_distinct_menu_labels() -> None:
    # clients list the commands by name (Pidgin's buddy menu): two commands
    # with one help get the command's name added, in the list and in each
    # command's own disco#info
    from stanzalink.commands import Registry

    twins = Registry()
    for name in ("ls", "files", "get"):
        twins.command(name, help="list the files" if name != "get" else "fetch one")(
            lambda inv: None
        )
    h = Harness([Disco, AdHoc], ACCESS, commands=twins)
    reply = await ask(h, VIEWER, "d1", f"<query xmlns='{ITEMS}' node='{CMD}'/>", "get")
    items = reply.findall(f"{{{ITEMS}}}query/{{{ITEMS}}}item")
    assert {i.get("node"): i.get("name") for i in items} == {
        "ls": "list the files (ls)",
        "files": "list the files (files)",
        "get": "fetch one",
    }
    reply = await ask(h, VIEWER, "d2", f"<query xmlns='{INFO}' node='files'/>", "get")
    ident = reply.find(f"{{{INFO}}}query/{{{INFO}}}identity")
    assert ident is not None and ident.get("name") == "list the files (files)"
    await h.close()


async def test_list_options_and_result_fields_all_have_labels() -> None:
    h = harness()
    el = cmd_of(await ask(h, OPERATOR, "l1", command("config", action="execute")))
    for f in form_of(el).fields:
        assert f.label and all(o.label for o in f.options), f
    el = cmd_of(await ask(h, VIEWER, "l2", command("report")))
    for x in el.findall(f"{{{XD}}}x"):
        form = Form.from_element(x)
        assert all(f.label for f in form.fields if f.type != "fixed"), form
    await h.close()


def test_a_result_as_chat_text_keeps_a_table_lined_up() -> None:
    from stanzalink.xep import command_forms as cf

    notes, results = cf.render(report(None), "Everything at once")  # type: ignore[arg-type]
    assert len(results) == 1
    assert cf.plain(notes, results) == (
        "all fine\n"
        "file offered: /var/log/messages (system log)\n"
        "output:\n"
        "kernel: eth0 up\n"
        "kernel: eth0 down\n"
        "Links:\n"
        "Port   State\n"
        "-----  -----\n"
        "eth0   up\n"
        "wlan0\n"
        "value: 42"
    )

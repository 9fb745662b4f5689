"""The authorization matrix (tests/access/matrix.py) against the device:
every command through the chat console and through ad-hoc commands, every
HTTP path rule, every file operation and every config key, for a stranger,
a viewer, an operator and an admin.  A registered command without a row
fails; docs/access.md must hold the table the data writes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stanzalink.commands import files
from stanzalink.commands.model import CommandError, FileOffer
from stanzalink.commands.settings import SETTABLE
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.disco import Disco
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.http.feature import Http
from stanzalink.xep.ibb import Ibb
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness
from tests.access import matrix
from tests.access.matrix import COMMANDS, FILES, HTTP, HTTP_PATHS, SENDERS, allowed, config_keys
from tests.console.conftest import Chat, body
from tests.xep.jingle.test_file_transfer import jingle_of, offer, reason_of

DOC = Path(__file__).parents[2] / "docs" / "access.md"
# one account per kind of sender (tests/console/conftest.py names the same
# viewer and admin; the operator and the stranger are added here)
WHO = {
    "stranger": "eve@example.net/x",
    "viewer": "victor@example.net/phone",
    "operator": "olga@example.net/desk",
    "admin": "alice@example.net/laptop",
}
ACCESS = {
    "admin": ["alice@example.net"],
    "operator": ["olga@example.net"],
    "viewer": ["victor@example.net"],
}
tested: dict[str, int] = {}


def count(kind: str, n: int = 1) -> None:
    tested[kind] = tested.get(kind, 0) + n


def refusal(name: str, need: str, sender: str) -> str:
    return f"{name}: needs role {need} (you are {sender})"


# ------------------------------------------------------------ the rows
def test_every_registered_command_has_a_row() -> None:
    h = Harness([Disco, AdHoc], ACCESS, console={"shell": True})
    registered = {c.name: str(c.need(h.agent)) for c in h.agent.commands.all()}
    missing = sorted(set(registered) - set(COMMANDS))
    assert not missing, f"commands without a row in tests/access/matrix.py: {missing}"
    assert registered == COMMANDS


def test_the_docs_hold_the_table() -> None:
    text = DOC.read_text()
    m = re.search(r"<!-- matrix -->\n(.*)<!-- /matrix -->", text, re.S)
    assert m is not None, "docs/access.md has no <!-- matrix --> block"
    assert m.group(1) == matrix.table(), "run: python -m tests.access.matrix"


# ------------------------------------------------------------ the console
async def test_console_commands_for_every_sender() -> None:
    c = Chat(shell=True, rate=1000.0, burst=1000, settable=sorted(SETTABLE))
    for sender in SENDERS:
        frm = WHO[sender]
        if sender != "stranger":
            await c.greet(frm)
        for name, need in COMMANDS.items():
            count("console")
            if sender == "stranger":
                c.send(name, frm)
                await c.silent()
                continue
            answer = await c.ask(name, frm)
            if not allowed(sender, need):
                assert answer == refusal(name, need, sender), (sender, name)
                continue
            assert not answer.startswith(("Unknown command", f"{name}: needs role")), answer
            if name in ("reboot", "restart"):
                assert "now?" in answer
                assert await c.ask("no", frm) == f"Not confirmed: {name} was not run."
            await c.h.settle(20)
            c.h.unread()  # the rest of a long answer
    await c.close()


async def test_help_and_did_you_mean_show_only_what_the_sender_may_run() -> None:
    c = Chat(shell=True, rate=1000.0, burst=1000)
    for sender in ("viewer", "operator", "admin"):
        frm = WHO[sender]
        await c.greet(frm)
        listing = await c.ask("help", frm)
        await c.h.settle(20)
        c.h.unread()
        listed = set(re.findall(r"^(\w+)", listing, re.M)) & set(COMMANDS)
        assert listed == {n for n, need in COMMANDS.items() if allowed(sender, need)}, sender
        suggestion = await c.ask("stauts", frm)
        assert "`status`" in suggestion
        near = await c.ask("rebot", frm)
        assert ("`reboot`" in near) == (sender == "admin"), (sender, near)
        near = await c.ask("restar", frm)
        assert ("`restart`" in near) == (sender == "admin"), (sender, near)
    await c.close()


# ------------------------------------------------------------ ad-hoc commands
def execute(frm: str, node: str, iq_id: str) -> str:
    return (
        f"<iq type='set' from='{frm}' to='device1@example.net/agent' id='{iq_id}'>"
        f"<command xmlns='http://jabber.org/protocol/commands' node='{node}'"
        " action='execute'/></iq>"
    )


def condition(reply: Element) -> tuple[str, str]:
    err = reply.find("{jabber:client}error")
    assert err is not None
    conds = [c for c in err if not c.tag.endswith("}text")]
    text = err.findtext("{urn:ietf:params:xml:ns:xmpp-stanzas}text") or ""
    return conds[0].tag.split("}")[1], text


async def test_adhoc_commands_for_every_sender(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="stanzalink.audit")
    h = Harness([Disco, AdHoc], ACCESS, console={"shell": True})
    n = 0
    for sender in SENDERS:
        frm = WHO[sender]
        for name, need in COMMANDS.items():
            count("adhoc")
            n += 1
            h.receive(execute(frm, name, f"x{n}"))
            reply = await h.next_sent(10)
            assert reply.get("id") == f"x{n}"
            if sender == "stranger":
                assert condition(reply)[0] == "service-unavailable"
            elif not allowed(sender, need):
                assert condition(reply) == ("forbidden", refusal(name, need, sender))
            else:
                assert reply.get("type") == "result", (sender, name, reply)
            await h.settle(20)
            h.unread()  # a result that follows as a message
    # every decision is in the audit log, with the console's line
    for sender in ("viewer", "operator"):
        assert f"{WHO[sender]} role={sender} result=denied command='reboot' (ad-hoc;" in caplog.text
    assert f"{WHO['admin']} role=admin result=ok command='status' (ad-hoc)" in caplog.text
    assert f"{WHO['viewer']} role=viewer result=ok command='version' (ad-hoc)" in caplog.text
    await h.close()


# ------------------------------------------------------------ HTTP paths
def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"path": environ["PATH_INFO"]}).encode()]


def http_get(frm: str, path: str, iq_id: str) -> str:
    return (
        f"<iq type='set' from='{frm}' to='device1@example.net/agent' id='{iq_id}'>"
        f"<req xmlns='urn:xmpp:http' method='GET' resource='{path}' version='1.1'>"
        "<headers xmlns='http://jabber.org/protocol/shim'>"
        "<header name='Host'>device</header></headers></req></iq>"
    )


async def test_http_paths_for_every_sender() -> None:
    spec = "tests.access.test_matrix:app"
    h = Harness([Http], ACCESS, http={"wsgi_app": spec, "paths": HTTP_PATHS})
    n = 0
    for sender in SENDERS:
        for path, need in HTTP.items():
            count("http")
            n += 1
            h.receive(http_get(WHO[sender], path, f"h{n}"))
            reply = await h.next_sent(10)
            if allowed(sender, need):
                resp = reply.find("{urn:xmpp:http}resp")
                assert resp is not None, (sender, path, reply)
                assert resp.get("statusCode") in ("200", "400"), (sender, path)
            else:
                # a controller whose role is too low learns as little as a
                # stranger: nothing tells whether the path exists
                assert reply.get("type") == "error", (sender, path, h.sent_xml[-1])
                assert condition(reply)[0] == "service-unavailable", (sender, path)
    await h.close()


# ------------------------------------------------------------ files
async def test_file_operations_for_every_sender(tmp_path: Path) -> None:
    inbox, export = tmp_path / "inbox", tmp_path / "export"
    inbox.mkdir()
    export.mkdir()
    (export / "report.txt").write_text("hello\n")
    juliet = "device1@example.net/agent"
    cfg = {"inbox": str(inbox), "export": [str(export)], "min_free": 0}
    h = Harness([Ibb, Jingle, JingleIBB, Hashes, Files], ACCESS, jid=juliet, files=cfg)
    get, put = FILES
    for sender in SENDERS:
        frm = WHO[sender]
        # the device sends a file (what get and any FileOffer do)
        count("files")
        ok = True
        try:
            files.prepare(h.agent, frm, FileOffer(str(export / "report.txt")))
        except CommandError:
            ok = False
        assert ok == allowed(sender, FILES[get]), (sender, get)
        # a controller offers a file (Jingle session-initiate)
        count("files")
        h.receive(offer(frm=frm).replace("juliet@capulet.example/yn0cl4bnw0yr3vym", juliet))
        ack = await h.next_sent()
        if sender == "stranger":
            assert ack.get("type") == "error" and condition(ack)[0] == "service-unavailable"
            continue
        assert ack.get("type") == "result"
        j = jingle_of(await h.next_sent())
        if allowed(sender, FILES[put]):
            assert j.get("action") == "session-accept", (sender, put)
            h.receive(
                f"<iq type='set' from='{frm}' to='{juliet}' id='t{sender}'>"
                "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate'"
                f" sid='{j.get('sid')}'>"
                "<reason><cancel/></reason></jingle></iq>"
            )
        else:
            terminate = h.sent[-1]
            assert reason_of(terminate)[0] == "security-error", (sender, put)
        await h.settle(20)
        h.unread()
    await h.close()


# ------------------------------------------------------------ config keys
VALUES = {
    "presence.status": "all good",
    "presence.priority": "5",
    "log.level": "info",
    "console.page_size": "4096",
    "console.banner": "pump",
    "console.confirm_timeout": "60",
    "console.session_timeout": "100000",
}


@pytest.fixture
def keep_log_level() -> Iterator[None]:
    """``config set log.level`` sets the level of the ``stanzalink`` logger,
    which outlives the agent: put it back for the tests that follow."""
    logger = logging.getLogger("stanzalink")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("keep_log_level")
async def test_config_keys_for_every_sender() -> None:
    assert set(VALUES) == set(SETTABLE)
    keys = config_keys()
    # what a careless file might list: every key of the config (a config
    # built in code skips check-config; the command still holds the line)
    c = Chat(rate=1000.0, burst=1000, session_timeout=1e9, settable=sorted(keys))
    for sender in SENDERS:
        frm = WHO[sender]
        if sender != "stranger":
            await c.greet(frm)
        for key, need in keys.items():
            count("config")
            line = f"config set {key} {VALUES.get(key, 'x')}"
            if sender == "stranger":
                c.send(line, frm)
                await c.silent()
                continue
            c.send(line, frm)
            reply = await c.h.next_sent()
            while reply.tag != "{jabber:client}message":  # presence.* sends presence first
                reply = await c.h.next_sent()
            answer = body(reply)
            if sender == "viewer":
                assert answer == refusal("config", "operator", "viewer")
            elif allowed(sender, need):
                assert answer.startswith("*changed*"), (key, answer)
            else:
                assert answer.startswith(f"{key}: not a setting that may be read or changed"), (
                    key,
                    answer,
                )
    await c.close()


def test_the_matrix_size() -> None:
    """The table's cells are the sum of its parts, and every part whose test
    ran before this one (the file's order) tested each of its cells once."""
    expected = {
        "console": len(COMMANDS) * len(SENDERS),
        "adhoc": len(COMMANDS) * len(SENDERS),
        "http": len(HTTP) * len(SENDERS),
        "files": len(FILES) * len(SENDERS),
        "config": len(config_keys()) * len(SENDERS),
    }
    assert sum(expected.values()) == matrix.cells()
    for kind, n in tested.items():
        assert n == expected[kind], (kind, n, expected[kind])

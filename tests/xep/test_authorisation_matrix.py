"""The authorisation matrix: every kind of sender against every kind of
request, through the real agent (its gate, its message filter, the roster
feature, XEP-0199 ping and a feature that records the chat messages it
was given).  The expected decision of every cell is written out below;
the test counts the cells where the device decided otherwise and wants 0.

Decisions, as seen from outside:
- subscription request: ``approve`` (``subscribed`` to the sender's bare
  account), ``refuse`` (``unsubscribed``), ``ignore`` (nothing sent);
- roster push: ``accept`` (empty result, roster changed), ``refuse``
  (``service-unavailable``, roster unchanged), ``ignore`` (nothing sent);
- IQ query (ping): ``answer`` (result), ``refuse`` (``service-unavailable``),
  ``ignore``;
- chat message: ``accept`` (the feature got it), ``drop`` (nobody got it
  and nothing was sent).
"""

from __future__ import annotations

from typing import ClassVar

from stanzalink.access import Role
from stanzalink.jid import JID
from stanzalink.xep.base import Feature
from stanzalink.xep.ping import Ping
from stanzalink.xep.roster import Roster
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness

OWN = "device1@example.net"
ACCESS = {
    "admin": ["alice@example.net"],
    "operator": ["bob@example.net/console", "ops.example.org"],
    "viewer": ["carol@example.net"],
}


class Recorder(Feature):
    """Takes every message it is given and remembers it."""

    name = "recorder"
    seen: ClassVar[list[tuple[str | None, Role]]] = []

    def on_message(self, msg: Element, role: Role) -> bool:
        self.seen.append((msg.get("from"), role))
        return True


ACTIONS = ("subscribe", "push", "ping", "chat")
SUBSCRIBE = "<presence{frm} to='device1@example.net' type='subscribe'/>"
PUSH = (
    "<iq{frm} to='device1@example.net/agent' id='push1' type='set'>"
    "<query xmlns='jabber:iq:roster'><item jid='mallory@example.org' subscription='both'/>"
    "</query></iq>"
)
PING = (
    "<iq{frm} to='device1@example.net/agent' id='ping1' type='get'>"
    "<ping xmlns='urn:xmpp:ping'/></iq>"
)
CHAT = (
    "<message{frm} to='device1@example.net/agent' type='{mtype}' id='m1'>"
    "<body>status</body></message>"
)


def plain(action: str, frm: str | None, mtype: str = "chat") -> str:
    attr = "" if frm is None else f" from='{frm}'"
    template = {"subscribe": SUBSCRIBE, "push": PUSH, "ping": PING, "chat": CHAT}[action]
    return template.format(frm=attr, mtype=mtype)


def carbon(action: str) -> str:
    """XEP-0280 §6 (example 12): the own account's server forwards what a
    controller sent to another resource.  The outer from is the own bare
    JID; the inner stanza claims alice."""
    inner = plain(action, "alice@example.net/laptop")
    inner = inner.replace("<presence ", "<presence xmlns='jabber:client' ", 1)
    inner = inner.replace("<iq ", "<iq xmlns='jabber:client' ", 1)
    inner = inner.replace("<message ", "<message xmlns='jabber:client' ", 1)
    return (
        "<message from='device1@example.net' to='device1@example.net/agent' type='chat'>"
        "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
        f"{inner}</forwarded></received></message>"
    )


# sender name -> (how to build each stanza, expected decisions for ACTIONS)
FULLWIDTH = "\uff41\uff4c\uff49\uff43\uff45"  # "alice" in fullwidth letters
CYRILLIC_A = "\u0430"  # CYRILLIC SMALL LETTER A, looks like Latin a
MATRIX: dict[str, tuple[str | None, str, tuple[str, str, str, str]]] = {
    # name: (from, kind, (subscribe, push, ping, chat))
    "allowed bare JID": ("alice@example.net", "plain", ("approve", "refuse", "answer", "accept")),
    "allowed full JID": (
        "alice@example.net/laptop", "plain", ("approve", "refuse", "answer", "accept")),
    "full-JID entry": (
        "bob@example.net/console", "plain", ("approve", "refuse", "answer", "accept")),
    "full-JID entry, other resource": (
        "bob@example.net/phone", "plain", ("approve", "refuse", "refuse", "drop")),
    "allowed domain account": (
        "dave@ops.example.org/x", "plain", ("approve", "refuse", "answer", "accept")),
    "allowed domain itself": ("ops.example.org", "plain", ("ignore", "refuse", "refuse", "drop")),
    "viewer": ("carol@example.net/tablet", "plain", ("approve", "refuse", "answer", "accept")),
    "case variant": (
        "ALICE@Example.NET/laptop", "plain", ("approve", "refuse", "answer", "accept")),
    "fullwidth localpart": (
        f"{FULLWIDTH}@example.net/laptop", "plain", ("approve", "refuse", "answer", "accept")),
    "fullwidth domain": (
        "alice@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.net/laptop", "plain",
        ("approve", "refuse", "answer", "accept")),
    "lookalike localpart (Cyrillic a)": (
        f"{CYRILLIC_A}lice@example.net/laptop", "plain", ("refuse", "refuse", "refuse", "drop")),
    "lookalike domain (Cyrillic a)": (
        f"alice@ex{CYRILLIC_A}mple.net/laptop", "plain", ("refuse", "refuse", "refuse", "drop")),
    "no from": (None, "plain", ("ignore", "accept", "refuse", "drop")),
    "own account, bare": (OWN, "plain", ("ignore", "accept", "refuse", "drop")),
    "own account, other resource": (
        f"{OWN}/phone", "plain", ("ignore", "refuse", "refuse", "drop")),
    "server domain": ("example.net", "plain", ("ignore", "accept", "refuse", "drop")),
    "carbon from own account, controller inside": (
        OWN, "carbon", ("ignore", "ignore", "ignore", "drop")),
    "controller, type groupchat": (
        "alice@example.net/laptop", "groupchat", ("approve", "refuse", "answer", "drop")),
    "MUC occupant, groupchat": (
        "room@conference.example.net/alice", "groupchat", ("refuse", "refuse", "refuse", "drop")),
    "MUC occupant, private chat": (
        "room@conference.example.net/alice", "plain", ("refuse", "refuse", "refuse", "drop")),
    "stranger": ("eve@example.net/x", "plain", ("refuse", "refuse", "refuse", "drop")),
}  # fmt: skip


def stanza(action: str, frm: str | None, kind: str) -> str:
    if kind == "carbon":
        return carbon(action)
    return plain(action, frm, "groupchat" if kind == "groupchat" else "chat")


async def decide(action: str, frm: str | None, kind: str) -> str:
    """Deliver one stanza to a fresh device; name what it decided."""
    Recorder.seen.clear()
    h = Harness([Roster, Ping, Recorder], ACCESS, jid=f"{OWN}/agent")
    h.receive(stanza(action, frm, kind))
    await h.settle(10)
    sent = h.unread()
    seen = list(Recorder.seen)
    items = dict(h.feature(Roster).items)
    await h.close()
    if action == "chat":
        if sent:
            return f"unexpected: sent {len(sent)} stanzas"
        if not seen:
            return "drop"
        if len(seen) == 1 and seen[0][0] == frm:
            return "accept"
        return f"unexpected: recorded {seen}"
    if seen:
        return f"unexpected: a {action} reached the message feature"
    if not sent:
        return "ignore"
    if len(sent) > 2:
        return f"unexpected: {len(sent)} stanzas"
    first = sent[0]
    if action == "subscribe":
        bare = str(JID.parse(frm).bare) if frm else None
        types = [(s.tag, s.get("type"), s.get("to")) for s in sent]
        p = "{jabber:client}presence"
        if types[0] == (p, "subscribed", bare) and types[1:] in ([], [(p, "subscribe", bare)]):
            return "approve"
        if types == [(p, "unsubscribed", bare)]:
            return "refuse"
        return f"unexpected: {types}"
    # the IQs: exactly one answer, to the sender, same id
    if len(sent) != 1 or first.tag != "{jabber:client}iq" or first.get("to") != frm:
        return f"unexpected: {[(s.tag, s.get('type'), s.get('to')) for s in sent]}"
    if first.get("type") == "error":
        cond = first.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}"
                          "service-unavailable")  # fmt: skip
        if cond is None:
            return "unexpected: another error"
        return "refuse" if not items else "unexpected: refused but applied"
    if first.get("type") == "result" and len(first) == 0:
        if action == "push":
            return "accept" if JID.parse("mallory@example.org") in items else "unexpected"
        return "answer"
    return "unexpected: result with payload"


async def test_authorisation_matrix() -> None:
    wrong: list[str] = []
    cells = 0
    for name, (frm, kind, expected) in MATRIX.items():
        for action, want in zip(ACTIONS, expected, strict=True):
            got = await decide(action, frm, kind)
            cells += 1
            if got != want:
                wrong.append(f"{name} x {action}: expected {want}, got {got}")
    assert cells == len(MATRIX) * len(ACTIONS) == 84
    assert wrong == [], f"{len(wrong)} wrong decisions:\n" + "\n".join(wrong)


async def test_recorder_sees_the_role() -> None:
    """The cells above that 'accept' a chat got it with the right role."""
    for frm, role in [
        ("alice@example.net/laptop", Role.ADMIN),
        ("bob@example.net/console", Role.OPERATOR),
        ("dave@ops.example.org/x", Role.OPERATOR),
        ("carol@example.net/t", Role.VIEWER),
    ]:
        assert await decide("chat", frm, "plain") == "accept"
        assert Recorder.seen == [(frm, role)]

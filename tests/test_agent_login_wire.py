"""What the default agent sends while it logs in and idles (its presence,
the roster fetch and reconciliation, the answers to roster pushes and to
its server's disco#info) is built without ElementTree; these are the
stanzas the ElementTree builder wrote before, compared as elements (the
order of attributes and the quotes may differ, nothing else)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from stanzalink.jid import JID
from stanzalink.xep.caps import Caps
from stanzalink.xep.disco import Disco
from stanzalink.xep.roster import Roster
from stanzalink_testing.harness import Harness

DEVICE = "dev@example.net/agent"
ADMIN = "admin@example.net"
OPS = "ops@example.net"
CLIENT_NS = "{jabber:client}"


def _canonical(el: ET.Element) -> tuple[object, ...]:
    """An element as a comparable value: tag, attributes (unordered), text,
    tail and children."""
    return (
        el.tag,
        sorted(el.attrib.items()),
        el.text or "",
        el.tail or "",
        [_canonical(c) for c in el],
    )


def _same(sent_xml: str, expected: str) -> None:
    """``sent_xml`` (the bytes the device wrote in its jabber:client stream)
    and ``expected`` are the same element."""
    wrap = "<s xmlns='jabber:client'>{}</s>"
    got = ET.fromstring(wrap.format(sent_xml))[0]
    want = ET.fromstring(wrap.format(expected))[0]
    assert _canonical(got) == _canonical(want), f"\n{sent_xml}\n{expected}"


async def _next_xml(h: Harness) -> tuple[str, str]:
    """The next stanza the device sent: (its XML, its id)."""
    el = await h.next_sent()
    return h.sent_xml[h.sent.index(el)], el.get("id") or ""


def _harness() -> Harness:
    return Harness(None, access={"admin": [ADMIN, OPS]}, jid=DEVICE)


async def test_the_login_and_idle_stanzas_are_what_the_tree_builder_wrote() -> None:
    h = _harness()
    h.go_online()
    ver = h.feature(Caps).ver
    assert ver
    # the initial presence, with entity capabilities and the vCard-update element
    xml, _ = await _next_xml(h)
    _same(
        xml,
        '<presence><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" '
        f'node="urn:stanzalink:caps" ver="{ver}"/>'
        '<x xmlns="vcard-temp:x:update"><photo/></x></presence>',
    )
    # the roster fetch
    xml, fetch = await _next_xml(h)
    _same(xml, f'<iq type="get" id="{fetch}"><query xmlns="jabber:iq:roster"/></iq>')
    h.receive(
        f"<iq type='result' id='{fetch}' to='{DEVICE}'><query xmlns='jabber:iq:roster' ver='7'>"
        f"<item jid='{ADMIN}' subscription='none' name='Admin'><group>ops</group>"
        "<group>home</group></item>"
        "<item jid='gone@example.net' subscription='both'/></query></iq>"
    )
    # reconciliation: the admin asked and pre-approved, ops added, the
    # entry nobody admits removed
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{ADMIN}" type="subscribe"/>')
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{ADMIN}" type="subscribed"/>')
    xml, add = await _next_xml(h)
    _same(
        xml,
        f'<iq type="set" id="{add}"><query xmlns="jabber:iq:roster">'
        f'<item jid="{OPS}" name="ops"/></query></iq>',
    )
    h.receive(f"<iq type='result' id='{add}' to='{DEVICE}'/>")
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{OPS}" type="subscribe"/>')
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{OPS}" type="subscribed"/>')
    xml, remove = await _next_xml(h)
    _same(
        xml,
        f'<iq type="set" id="{remove}"><query xmlns="jabber:iq:roster">'
        '<item jid="gone@example.net" subscription="remove"/></query></iq>',
    )
    h.receive(f"<iq type='result' id='{remove}' to='{DEVICE}'/>")
    roster = h.feature(Roster)
    await roster.sync_task  # type: ignore[misc]
    item = roster.items[JID.parse(ADMIN)]
    assert (item.subscription, item.name, item.groups) == ("none", "Admin", ("ops", "home"))
    assert roster.version == "7"

    # a roster push from the server: an empty result
    h.receive(
        "<iq type='set' id='push1'><query xmlns='jabber:iq:roster' ver='8'>"
        f"<item jid='{OPS}' subscription='both' name='ops'/></query></iq>"
    )
    xml, _ = await _next_xml(h)
    _same(xml, '<iq type="result" id="push1"/>')
    assert roster.items[JID.parse(OPS)].subscription == "both"
    assert roster.version == "8"

    # the server's PEP service asks for the caps node's disco#info
    node = f"urn:stanzalink:caps#{ver}"
    h.receive(
        f"<iq type='get' id='disco' from='dev@example.net' to='{DEVICE}'>"
        f"<query xmlns='http://jabber.org/protocol/disco#info' node='{node}'/></iq>"
    )
    xml, _ = await _next_xml(h)
    info = h.feature(Disco).root_info()
    features = "".join(f'<feature var="{v}"/>' for v in sorted(set(info.features)))
    _same(
        xml,
        '<iq type="result" id="disco" to="dev@example.net">'
        f'<query xmlns="http://jabber.org/protocol/disco#info" node="{node}">'
        f'<identity category="client" type="bot" name="stanzalink"/>{features}</query></iq>',
    )

    # the admin's presence: a subscription request approved, its presence kept
    h.receive(f"<presence from='{ADMIN}' type='subscribe'/>")
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{ADMIN}" type="subscribed"/>')
    xml, _ = await _next_xml(h)
    _same(xml, f'<presence to="{ADMIN}" type="subscribe"/>')
    h.receive(
        f"<presence from='{ADMIN}/phone'><show>away</show><priority>5</priority>"
        "<status>out</status><priority>9</priority></presence>"
    )
    seen = roster.presence(JID.parse(f"{ADMIN}/phone"))
    assert seen is not None
    assert (seen.show, seen.priority, seen.status) == ("away", 5, "out")
    assert h.unread() == []
    await h.close()


async def test_status_and_priority_go_into_the_presence() -> None:
    h = _harness()
    h.agent.status = "all good & <fine>"
    h.agent.cfg.sections.setdefault("presence", {})["priority"] = -3
    h.go_online()
    ver = h.feature(Caps).ver
    xml, _ = await _next_xml(h)
    _same(
        xml,
        "<presence><status>all good &amp; &lt;fine&gt;</status><priority>-3</priority>"
        '<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" '
        f'node="urn:stanzalink:caps" ver="{ver}"/>'
        '<x xmlns="vcard-temp:x:update"><photo/></x></presence>',
    )
    await h.close()

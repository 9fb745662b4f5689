"""XEP-0030 between a controller and the device (the XEP's own queries,
addressed to the device), the node hooks other features use, and the gate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import ClassVar

import pytest

from stanzalink.access import Role
from stanzalink.xep.base import Feature, Identity
from stanzalink.xep.disco import Disco, DiscoItem, NodeFn, NodeInfo
from stanzalink.xep.ping import Ping
from stanzalink.xml.builder import E, sub
from stanzalink_testing.harness import Harness

ACCESS = {"viewer": ["romeo@montague.net"], "admin": ["juliet@capulet.lit"]}
INFO = "{http://jabber.org/protocol/disco#info}"
ITEMS = "{http://jabber.org/protocol/disco#items}"


class Music(Feature):
    """A feature that owns nodes, lists root items and adds a form."""

    name = "music"
    disco_features = ("urn:example:music",)
    identities = (Identity("automation", "command-list", "Plays"),)
    asked: ClassVar[list[Role]] = []

    def disco_nodes(self) -> dict[str, NodeFn]:
        def music(role: Role) -> NodeInfo | None:
            self.asked.append(role)
            if role < Role.OPERATOR:
                return None  # hidden from viewers
            return NodeInfo(
                identities=[Identity("hierarchy", "branch")],
                features=["urn:example:music"],
                items=[DiscoItem(node="music/romeo", name="Romeo and Juliet"),
                       DiscoItem("catalog.shakespeare.lit", "music/hamlet", "Hamlet")],
            )  # fmt: skip

        return {"music": music}

    def disco_items(self, role: Role) -> list[DiscoItem]:
        return [DiscoItem(node="music", name="Music from the time of Shakespeare")]

    def disco_extensions(self) -> list[ET.Element]:
        form = E("{jabber:x:data}x", {"type": "result"})
        f = sub(form, "{jabber:x:data}field", {"var": "FORM_TYPE", "type": "hidden"})
        sub(f, "{jabber:x:data}value", text="urn:example:music-info")
        return [form]


async def test_info_lists_identity_features_and_forms() -> None:
    # XEP-0030 example 1, addressed to the device
    h = Harness([Disco, Ping, Music], ACCESS)
    h.receive(
        "<iq type='get' from='romeo@montague.net/orchard' to='device1@example.net/agent'"
        " id='info1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "result" and reply.get("id") == "info1"
    assert reply.get("to") == "romeo@montague.net/orchard"
    query = reply.find(INFO + "query")
    assert query is not None and query.get("node") is None
    idents = [
        (i.get("category"), i.get("type"), i.get("name")) for i in query.findall(INFO + "identity")
    ]
    assert idents == [("client", "bot", "stanzalink"), ("automation", "command-list", "Plays")]
    feats = [f.get("var") for f in query.findall(INFO + "feature")]
    assert feats == sorted(feats)
    assert set(feats) == {
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping",
        "urn:example:music",
        "urn:xmpp:sid:0",  # every message the client sends carries an origin-id
    }
    forms = query.findall("{jabber:x:data}x")
    assert [f.findtext("{jabber:x:data}field/{jabber:x:data}value") for f in forms] == [
        "urn:example:music-info"
    ]
    await h.close()


async def test_identity_name_from_config() -> None:
    h = Harness([Disco], ACCESS, identity={"name": "Pump 7"})
    h.receive(
        "<iq type='get' from='romeo@montague.net/orchard' id='info1'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    ident = (await h.next_sent()).find(f"{INFO}query/{INFO}identity")
    assert ident is not None and ident.get("name") == "Pump 7" and ident.get("type") == "bot"
    await h.close()


async def test_items_root_and_owned_node() -> None:
    h = Harness([Disco, Music], ACCESS)
    # XEP-0030 example 7: the root items
    h.receive(
        "<iq type='get' from='romeo@montague.net/orchard' to='device1@example.net/agent'"
        " id='items1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
    )
    await h.next_sent()
    assert h.sent_xml[-1] == (
        '<iq type="result" id="items1" to="romeo@montague.net/orchard">'
        '<query xmlns="http://jabber.org/protocol/disco#items">'
        '<item jid="device1@example.net/agent" node="music"'
        ' name="Music from the time of Shakespeare"/></query></iq>'
    )
    # XEP-0030 example 9: a node's items, for a role the node shows them to
    h.receive(
        "<iq type='get' from='juliet@capulet.lit/balcony' id='items2'>"
        "<query xmlns='http://jabber.org/protocol/disco#items' node='music'/></iq>"
    )
    reply = await h.next_sent()
    query = reply.find(ITEMS + "query")
    assert query is not None and query.get("node") == "music"
    assert [(i.get("jid"), i.get("node"), i.get("name")) for i in query] == [
        ("device1@example.net/agent", "music/romeo", "Romeo and Juliet"),
        ("catalog.shakespeare.lit", "music/hamlet", "Hamlet"),
    ]
    h.receive(
        "<iq type='get' from='juliet@capulet.lit/balcony' id='info2'>"
        "<query xmlns='http://jabber.org/protocol/disco#info' node='music'/></iq>"
    )
    info = (await h.next_sent()).find(INFO + "query")
    assert info is not None and info.get("node") == "music"
    assert [i.get("category") for i in info.findall(INFO + "identity")] == ["hierarchy"]
    # the node decides by role: a viewer gets item-not-found, as for no node
    for i, node in enumerate(["music", "no-such-node"]):
        h.receive(
            f"<iq type='get' from='romeo@montague.net/orchard' id='n{i}'>"
            f"<query xmlns='http://jabber.org/protocol/disco#info' node='{node}'/></iq>"
        )
        err = await h.next_sent()
        assert err.get("type") == "error"
        assert "item-not-found" in h.sent_xml[-1]
    assert Role.ADMIN in Music.asked and Role.VIEWER in Music.asked
    await h.close()


async def test_no_items_by_default() -> None:
    h = Harness([Disco, Ping], ACCESS)
    h.receive(
        "<iq type='get' from='romeo@montague.net/orchard' id='items1'>"
        "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
    )
    await h.next_sent()
    assert h.sent_xml[-1] == (
        '<iq type="result" id="items1" to="romeo@montague.net/orchard">'
        '<query xmlns="http://jabber.org/protocol/disco#items"/></iq>'
    )
    await h.close()


@pytest.mark.parametrize(
    ("sender", "ns"),
    [
        ("eve@example.net/x", "disco#info"),
        ("eve@example.net/x", "disco#items"),
        ("device1@example.net/other", "disco#info"),
        ("device1@example.net/other", "disco#items"),
        (None, "disco#items"),
        ("example.net", "disco#items"),
    ],
)
async def test_strangers_get_service_unavailable(sender: str | None, ns: str) -> None:
    h = Harness([Disco], ACCESS)
    frm = f" from='{sender}'" if sender else ""
    h.receive(f"<iq type='get'{frm} id='q1'><query xmlns='http://jabber.org/protocol/{ns}'/></iq>")
    await h.next_sent()
    assert "service-unavailable" in h.sent_xml[-1]
    assert "bot" not in h.sent_xml[-1] and "disco#" not in h.sent_xml[-1]
    await h.close()


@pytest.mark.parametrize("sender", ["device1@example.net", "example.net", None])
async def test_the_own_server_may_read_disco_info(sender: str | None) -> None:
    """Prosody's PEP asks the device's disco#info from the account's bare
    JID to learn its caps; the own server is answered, its other resources
    are not (above)."""
    h = Harness([Disco], ACCESS)
    frm = f" from='{sender}'" if sender else ""
    h.receive(
        f"<iq type='get'{frm} id='q1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "result"
    assert 'type="bot"' in h.sent_xml[-1]
    await h.close()

"""XEP-0115: the verification string and hash, byte for byte against the
XEP's worked examples, and the device's caps in its presence."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stanzalink.xep.base import Feature, Identity, MissingFeature
from stanzalink.xep.caps import Caps, ver, ver_of_info, verification_string
from stanzalink.xep.disco import Disco
from stanzalink.xep.ping import Ping
from stanzalink.xml.builder import E, sub
from stanzalink_testing.harness import Harness, parse_stanza

ACCESS = {"viewer": ["romeo@montague.lit"]}

# XEP-0115 §5.2, "Simple Generation Example"
SIMPLE = """<iq from='juliet@capulet.lit/chamber' to='romeo@montague.lit/orchard' id='disco1'
  type='result'><query xmlns='http://jabber.org/protocol/disco#info'
  node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query></iq>"""

# XEP-0115 §5.3, "Complex Generation Example" (two languages, a data form)
COMPLEX = """<iq from='benvolio@capulet.lit/230193' to='juliet@capulet.lit/chamber' id='disco1'
  type='result'><query xmlns='http://jabber.org/protocol/disco#info'
  node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query></iq>"""


def _query(xml: str):  # type: ignore[no-untyped-def]
    return parse_stanza(xml)[0]


def test_simple_example_byte_for_byte() -> None:
    q = _query(SIMPLE)
    idents = [Identity("client", "pc", "Exodus 0.9.1")]
    feats = [f.get("var") for f in q if f.tag.endswith("feature")]
    assert verification_string(idents, feats) == (
        "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<"
        "http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<"
    )
    assert ver_of_info(q) == "QgayPKawpkPSDYmwT/WM94uAlu0="
    assert ver(idents, reversed(feats)) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_complex_example_byte_for_byte() -> None:
    q = _query(COMPLEX)
    forms = [x for x in q if x.tag == "{jabber:x:data}x"]
    idents = [
        Identity("client", "pc", "Psi 0.11", "en"),
        Identity("client", "pc", "\u03a8 0.11", "el"),
    ]
    feats = [f.get("var") for f in q if f.tag.endswith("feature")]
    assert verification_string(idents, feats, forms) == (
        "client/pc/el/\u03a8 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
        "http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<"
        "ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<"
        "software_version<0.11<"
    )
    assert ver_of_info(q) == "q07IKJEyjvHSyhy//CH0CxmKi8w="


def test_order_of_input_does_not_matter() -> None:
    # the same form built in another order (fields and values shuffled)
    form = E("{jabber:x:data}x", {"type": "result"})
    for var, values in [
        ("software_version", ["0.11"]),
        ("ip_version", ["ipv6", "ipv4"]),
        ("os_version", ["10.5.1"]),
        ("FORM_TYPE", ["urn:xmpp:dataforms:softwareinfo"]),
        ("software", ["Psi"]),
        ("os", ["Mac"]),
    ]:
        f = sub(form, "{jabber:x:data}field", {"var": var})
        for v in values:
            sub(f, "{jabber:x:data}value", text=v)
    idents = [
        Identity("client", "pc", "\u03a8 0.11", "el"),
        Identity("client", "pc", "Psi 0.11", "en"),
    ]
    feats = [
        "http://jabber.org/protocol/muc",
        "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/caps",
        "http://jabber.org/protocol/disco#info",
    ]
    untyped = E("{jabber:x:data}x", {"type": "result"})  # no FORM_TYPE: not hashed
    sub(sub(untyped, "{jabber:x:data}field", {"var": "x"}), "{jabber:x:data}value", text="y")
    assert ver(idents, feats, [untyped, form]) == "q07IKJEyjvHSyhy//CH0CxmKi8w="


class Extra(Feature):
    name = "extra"
    disco_features = ("urn:example:extra",)
    identities = (Identity("automation", "command-list", "Commands"),)


async def test_presence_carries_caps_that_match_disco_info() -> None:
    h = Harness([Disco, Caps, Ping], ACCESS, identity={"name": "Boiler room sensor"})
    h.agent.announce()
    pres = await h.next_sent()
    c = pres.find("{http://jabber.org/protocol/caps}c")
    assert c is not None and c.get("hash") == "sha-1" and c.get("node") == "urn:stanzalink:caps"
    v = c.get("ver")
    # what the contact's client does next (XEP-0115 example 4): ask node#ver
    h.receive(
        "<iq from='romeo@montague.lit/orchard' to='device1@example.net/agent' id='disco1'"
        " type='get'><query xmlns='http://jabber.org/protocol/disco#info'"
        f" node='urn:stanzalink:caps#{v}'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "result"
    query = reply[0]
    assert query.get("node") == f"urn:stanzalink:caps#{v}"
    assert ver_of_info(query) == v  # the contact's check passes
    # the same as without the node
    h.receive(
        "<iq from='romeo@montague.lit/orchard' id='disco2' type='get'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    plain = (await h.next_sent())[0]
    assert [ET.tostring(x.to_etree()) for x in plain] == [ET.tostring(x.to_etree()) for x in query]
    assert "http://jabber.org/protocol/caps" in {f.get("var") for f in plain}
    # an old (or made-up) ver is an unknown node
    h.receive(
        "<iq from='romeo@montague.lit/orchard' id='disco3' type='get'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'"
        " node='urn:stanzalink:caps#QgayPKawpkPSDYmwT/WM94uAlu0='/></iq>"
    )
    err = await h.next_sent()
    assert err.get("type") == "error" and "item-not-found" in h.sent_xml[-1]
    await h.close()


async def test_ver_follows_the_features_and_the_configured_node() -> None:
    one = Harness([Disco, Caps], ACCESS, identity={"caps_node": "https://example.com/device"})
    two = Harness(
        [Disco, Caps, Extra], ACCESS, identity={"caps_node": "https://example.com/device"}
    )
    one.agent.announce()
    two.agent.announce()
    c1 = (await one.next_sent()).find("{http://jabber.org/protocol/caps}c")
    c2 = (await two.next_sent()).find("{http://jabber.org/protocol/caps}c")
    assert c1 is not None and c2 is not None
    assert c1.get("node") == c2.get("node") == "https://example.com/device"
    assert c1.get("ver") != c2.get("ver")
    # recomputed each time: a changed name changes ver in the next presence
    one.agent.config.sections["identity"]["name"] = "renamed"
    one.agent.update_presence()
    c3 = (await one.next_sent()).find("{http://jabber.org/protocol/caps}c")
    assert c3 is not None and c3.get("ver") not in (c1.get("ver"), None)
    await one.close()
    await two.close()


def test_no_caps_without_disco() -> None:
    """Caps hashes what disco answers: caps without disco is refused when
    the agent is put together, naming both (never a presence without caps
    that looks as if the device had none)."""
    with pytest.raises(MissingFeature, match=r"Caps \(caps\) requires Disco \(disco\)"):
        Harness([Caps], ACCESS)

"""XEP-0065 stanzas, checked against the XEP's own examples."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from stanzalink.errors import StanzaError
from stanzalink.xep import bytestreams as s5b
from stanzalink.xep.bytestreams import Bytestreams
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import Harness, parse_stanza

# XEP-0065 example 9 (mediated connection: the requester offers a proxy)
OFFER = """<iq from='requester@example.com/foo' id='npq71g53' to='target@example.org/bar'
    type='set'>
  <query xmlns='http://jabber.org/protocol/bytestreams' sid='vxf9n471bn46'>
    <streamhost host='24.24.24.1' jid='streamer.example.com' port='7625'/>
  </query>
</iq>"""


def xml(el: ET.Element) -> str:
    return tostring(el, default_ns="jabber:client").decode()


def test_dst_addr_matches_the_muc_example() -> None:
    # XEP-0065 §7 example: dstaddr='416781ed...' for sid yia72g3v49j7
    assert (
        s5b.dst_addr(
            "yia72g3v49j7", "requester@example.com/foo", "room@conference.example.net/Tget"
        )
        == "416781edf1ae50bad01cb8509ba35b43952bc345"
    )


def test_dst_addr_hashes_the_normalized_jids() -> None:
    # §5.3.2: stringprep before hashing (local and domain fold, resource keeps case)
    assert s5b.dst_addr("s1", "Requester@Example.COM/Foo", "target@EXAMPLE.org/bar") == (
        s5b.dst_addr("s1", "requester@example.com/Foo", "target@example.org/bar")
    )
    assert s5b.dst_addr("s1", "a@x/Foo", "b@x/r") != s5b.dst_addr("s1", "a@x/foo", "b@x/r")
    with pytest.raises(StanzaError) as info:
        s5b.dst_addr("s1", "@bad", "b@x/r")
    assert info.value.condition == "bad-request"


def test_parse_the_xep_offers() -> None:
    offer = s5b.parse_offer(parse_stanza(OFFER))
    assert offer == s5b.Offer(
        "vxf9n471bn46", (s5b.StreamHost("streamer.example.com", "24.24.24.1", 7625),)
    )
    # example 5 (direct connection) and the MUC example with its dstaddr
    direct = s5b.parse_offer(
        parse_stanza(
            "<iq from='requester@example.com/foo' id='hu3vax16' to='target@example.org/bar'"
            " type='set'><query xmlns='http://jabber.org/protocol/bytestreams'"
            " sid='vxf9n471bn46'><streamhost jid='requester@example.com/foo'"
            " host='192.168.4.1' port='5086'/></query></iq>"
        )
    )
    assert direct.streamhosts == (s5b.StreamHost("requester@example.com/foo", "192.168.4.1", 5086),)
    muc = s5b.parse_offer(
        parse_stanza(
            "<iq from='room@conference.example.net/Rter' id='npq71g53' to='target@example.org/bar'"
            " type='set'><query xmlns='http://jabber.org/protocol/bytestreams'"
            " dstaddr='416781edf1ae50bad01cb8509ba35b43952bc345' sid='yia72g3v49j7'>"
            "<streamhost host='24.24.24.1' jid='streamer.example.com' port='7625'/></query></iq>"
        )
    )
    assert muc.dstaddr == "416781edf1ae50bad01cb8509ba35b43952bc345"


def test_build_offer_and_answer_like_the_xep() -> None:
    host = s5b.StreamHost("streamer.example.com", "24.24.24.1", 7625)
    assert xml(s5b.offer("target@example.org/bar", "vxf9n471bn46", [host])) == (
        '<iq type="set" to="target@example.org/bar">'
        '<query xmlns="http://jabber.org/protocol/bytestreams" sid="vxf9n471bn46">'
        '<streamhost jid="streamer.example.com" host="24.24.24.1" port="7625"/></query></iq>'
    )
    # example 11: the target names the streamhost it used, same id
    used = s5b.streamhost_used(parse_stanza(OFFER), "vxf9n471bn46", "streamer.example.com")
    assert xml(used) == (
        '<iq type="result" id="npq71g53" to="requester@example.com/foo">'
        '<query xmlns="http://jabber.org/protocol/bytestreams" sid="vxf9n471bn46">'
        '<streamhost-used jid="streamer.example.com"/></query></iq>'
    )
    reply = parse_stanza(
        "<iq from='target@example.org/bar' id='npq71g53' to='requester@example.com/foo'"
        " type='result'><query xmlns='http://jabber.org/protocol/bytestreams'"
        " sid='vxf9n471bn46'><streamhost-used jid='streamer.example.com'/></query></iq>"
    )
    assert s5b.parse_streamhost_used(reply, [host]) == host
    # a streamhost the requester never offered is not accepted
    other = s5b.StreamHost("evil.example.net", "10.0.0.1", 1)
    with pytest.raises(StanzaError) as info:
        s5b.parse_streamhost_used(reply, [other])
    assert info.value.condition == "item-not-found"


def test_activation_like_the_xep() -> None:
    # example 14
    act = s5b.activate("streamer.example.com", "vxf9n471bn46", "target@example.org/bar")
    assert xml(act) == (
        '<iq type="set" to="streamer.example.com">'
        '<query xmlns="http://jabber.org/protocol/bytestreams" sid="vxf9n471bn46">'
        "<activate>target@example.org/bar</activate></query></iq>"
    )
    assert s5b.parse_activate(parse_stanza(xml(act))) == ("vxf9n471bn46", "target@example.org/bar")


def test_proxy_identity_and_streamhost_answer() -> None:
    info = parse_stanza(
        "<iq from='streamer.example.com' id='yx92b153' to='requester@example.com/foo'"
        " type='result'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='proxy' type='bytestreams' name='File Transfer Relay'/>"
        "<feature var='http://jabber.org/protocol/bytestreams'/></query></iq>"
    )
    assert s5b.is_proxy(info)
    conf = parse_stanza(
        "<iq type='result' id='x'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='conference' type='text'/></query></iq>"
    )
    assert not s5b.is_proxy(conf)
    addr = parse_stanza(
        "<iq from='streamer.example.com' id='uj2c15z9' to='requester@example.com/foo'"
        " type='result'><query xmlns='http://jabber.org/protocol/bytestreams'>"
        "<streamhost host='24.24.24.1' jid='streamer.example.com' port='7625'/></query></iq>"
    )
    assert s5b.parse_streamhosts(addr) == [
        s5b.StreamHost("streamer.example.com", "24.24.24.1", 7625)
    ]
    assert xml(s5b.streamhost_request("streamer.example.com")) == (
        '<iq type="get" to="streamer.example.com">'
        '<query xmlns="http://jabber.org/protocol/bytestreams"/></iq>'
    )


async def test_discover_proxies_walks_the_xep_example() -> None:
    """§4: disco#items of the server, disco#info of each item, the proxy's
    streamhost; an item answering with an error is skipped."""
    asked: list[tuple[str, str]] = []
    answers = {
        ("example.com", "disco#items"): "<iq type='result' from='example.com'><query"
        " xmlns='http://jabber.org/protocol/disco#items'>"
        "<item jid='chatrooms.example.com' name='Chatroom Service'/>"
        "<item jid='news.example.com' name='News Feeds'/>"
        "<item jid='streamer.example.com' name='File Transfer Relay'/></query></iq>",
        ("chatrooms.example.com", "disco#info"): "<iq type='result'><query"
        " xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='conference' type='text'/></query></iq>",
        ("streamer.example.com", "disco#info"): "<iq type='result'><query"
        " xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='proxy' type='bytestreams'/></query></iq>",
        ("streamer.example.com", "bytestreams"): "<iq type='result'><query"
        " xmlns='http://jabber.org/protocol/bytestreams'>"
        "<streamhost host='24.24.24.1' jid='streamer.example.com' port='7625'/></query></iq>",
    }

    async def iq(stanza: ET.Element, timeout: float | None = None) -> Element:
        payload = stanza[0].tag.split("}")[0].rsplit("/", 1)[-1]
        to = stanza.get("to") or ""
        asked.append((to, payload))
        if (to, payload) not in answers:
            raise StanzaError("service-unavailable")
        return parse_stanza(answers[(to, payload)])

    found = await s5b.discover_proxies(iq, "example.com")
    assert found == [s5b.StreamHost("streamer.example.com", "24.24.24.1", 7625)]
    assert asked == [
        ("example.com", "disco#items"),
        ("chatrooms.example.com", "disco#info"),
        ("news.example.com", "disco#info"),
        ("streamer.example.com", "disco#info"),
        ("streamer.example.com", "bytestreams"),
    ]


async def test_discovery_asks_only_the_servers_own_services_and_keeps_their_own_streamhost() -> (
    None
):
    """A disco item on another domain, or with a localpart, is not asked (it
    could name any address); a proxy's streamhost naming another JID is
    not kept."""
    asked: list[str] = []
    items = "".join(
        f"<item jid='{j}'/>"
        for j in ("proxy.evil.org", "bot@example.com", "example.com.evil.org", "relay.example.com",
                  "streamer.example.com")
    )  # fmt: skip
    proxy_info = (
        "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='proxy' type='bytestreams'/></query></iq>"
    )

    async def iq(stanza: ET.Element, timeout: float | None = None) -> Element:
        to = stanza.get("to") or ""
        asked.append(to)
        payload = stanza[0].tag
        if to == "example.com":
            return parse_stanza(
                f"<iq type='result'><query xmlns='{s5b.DISCO_ITEMS}'>{items}</query></iq>"
            )
        if payload.endswith("disco#info}query"):
            return parse_stanza(proxy_info)
        # relay.example.com vouches for a host of another JID's as well as its own
        hosts = f"<streamhost jid='{to}' host='10.0.0.{len(asked)}' port='7777'/>"
        if to == "relay.example.com":
            hosts = "<streamhost jid='printer.example.com' host='192.168.1.9' port='9100'/>" + hosts
        return parse_stanza(f"<iq type='result'><query xmlns='{s5b.NS}'>{hosts}</query></iq>")

    found = await s5b.discover_proxies(iq, "example.com")
    assert found == [
        s5b.StreamHost("relay.example.com", "10.0.0.3", 7777),
        s5b.StreamHost("streamer.example.com", "10.0.0.5", 7777),
    ]
    assert "proxy.evil.org" not in asked and "bot@example.com" not in asked
    assert "example.com.evil.org" not in asked
    assert s5b.own_component("example.com", "example.com")
    assert not s5b.own_component("notexample.com", "example.com")


@pytest.mark.parametrize(
    ("query", "condition"),
    [
        ("<query xmlns='http://jabber.org/protocol/bytestreams'>"
         "<streamhost jid='a.example' host='1.2.3.4' port='1'/></query>", "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'/>", "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'>"
         "<streamhost jid='a.example' host='1.2.3.4' port='99999'/></query>", "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'>"
         "<streamhost jid='a.example' host='1.2.3.4'/></query>", "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'>"
         "<streamhost jid='@@' host='1.2.3.4' port='1'/></query>", "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s' mode='udp'>"
         "<streamhost jid='a.example' host='1.2.3.4' port='1'/></query>", "not-acceptable"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'>"
         + "<streamhost jid='a.example' host='1.2.3.4' port='1'/>" * 17 + "</query>",
         "bad-request"),
        ("<query xmlns='http://jabber.org/protocol/bytestreams' sid='" + "x" * 129 + "'>"
         "<streamhost jid='a.example' host='1.2.3.4' port='1'/></query>", "bad-request"),
        ("<other xmlns='urn:example'/>", "bad-request"),
    ],
)  # fmt: skip
def test_malformed_offers_are_refused(query: str, condition: str) -> None:
    iq = parse_stanza(f"<iq type='set' id='o1' from='r@example.com/x'>{query}</iq>")
    with pytest.raises(StanzaError) as info:
        s5b.parse_offer(iq)
    assert info.value.condition == condition


# ---------------------------------------------------------------- the device feature
ACCESS = {"operator": ["requester@example.com"], "viewer": ["viewer@example.com"]}


def offer_xml(sender: str, port: int, sid: str = "vxf9n471bn46", iq_id: str = "npq71g53") -> str:
    # XEP-0065 example 9, with the streamhost on loopback
    return (
        f"<iq from='{sender}' id='{iq_id}' to='device1@example.net/agent' type='set'>"
        f"<query xmlns='http://jabber.org/protocol/bytestreams' sid='{sid}'>"
        f"<streamhost host='127.0.0.1' jid='streamer.example.com' port='{port}'/></query></iq>"
    )


async def answer_streamhost_query(h: Harness, proxy: str, port: int) -> None:
    """The device asks ``proxy`` (its socks5_proxy) for its address: loopback."""
    ask = await h.next_sent()
    assert ask.get("type") == "get" and ask.get("to") == proxy
    assert ask.find(s5b.QUERY) is not None
    h.receive(
        f"<iq type='result' id='{ask.get('id')}' from='{proxy}'>"
        f"<query xmlns='{s5b.NS}'><streamhost jid='{proxy}' host='127.0.0.1' port='{port}'/>"
        "</query></iq>"
    )


async def test_operator_offer_is_connected_and_answered_with_streamhost_used() -> None:
    from stanzalink.net.socks5 import Socks5Stream, StreamHostServer, connect_first

    host = StreamHostServer(timeout=5)
    _, port = await host.start()
    # the streamhost accepts only the hash of (sid, requester, the device's full JID)
    want = s5b.dst_addr("vxf9n471bn46", "requester@example.com/foo", "device1@example.net/agent")
    arrived = host.expect(want)
    h = Harness([s5b.Bytestreams], ACCESS, files={"socks5_proxy": "streamer.example.com"})
    kept: list[Socks5Stream] = []
    seen: list[s5b.Incoming] = []

    async def listener(inc: s5b.Incoming) -> s5b.StreamHost:
        seen.append(inc)
        used, stream = await connect_first(inc.offer.streamhosts, inc.dst, timeout=5)
        kept.append(stream)
        return used

    h.feature(Bytestreams).listen(listener)
    # the offer names the proxy at an address of the requester's choosing
    # (port 9 on loopback: discard); the device dials the address the proxy
    # itself gave
    h.receive(offer_xml("requester@example.com/foo", 9))
    await answer_streamhost_query(h, "streamer.example.com", port)
    await h.next_sent(timeout=10)
    assert seen[0].offer.streamhosts == (s5b.StreamHost("streamer.example.com", "127.0.0.1", port),)
    assert h.sent_xml[-1] == (
        '<iq type="result" id="npq71g53" to="requester@example.com/foo">'
        '<query xmlns="http://jabber.org/protocol/bytestreams" sid="vxf9n471bn46">'
        '<streamhost-used jid="streamer.example.com"/></query></iq>'
    )
    assert seen[0].dst == want and seen[0].role.name == "OPERATOR"
    far = await asyncio.wait_for(arrived, 5)
    await kept[0].write(b"bytes over the bytestream")
    assert await far.readexactly(25) == b"bytes over the bytestream"
    await kept[0].close()
    await far.close()
    await host.close()
    await h.close()


def record_offers(h: Harness) -> list[s5b.Incoming]:
    """A listener that keeps what it gets and says it used the first streamhost."""
    seen: list[s5b.Incoming] = []

    async def listener(inc: s5b.Incoming) -> s5b.StreamHost:
        seen.append(inc)
        return inc.offer.streamhosts[0]

    h.feature(Bytestreams).listen(listener)
    return seen


async def test_streamhosts_that_are_not_our_proxies_are_not_dialled() -> None:
    """The server has no proxy, so the offered streamhost (any host and
    port the requester chose) is not one the device may dial: item-not-found,
    and the listener is not called."""
    h = Harness([s5b.Bytestreams], ACCESS)
    called = record_offers(h)
    h.receive(offer_xml("requester@example.com/foo", 22))
    ask = await h.next_sent()  # disco#items of the device's own server
    assert ask.get("to") == "example.net" and ask.get("type") == "get"
    h.receive(
        f"<iq type='result' id='{ask.get('id')}' from='example.net'>"
        "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("id") == "npq71g53" and reply.get("type") == "error"
    assert '<error type="cancel"><item-not-found' in h.sent_xml[-1]
    assert called == []
    assert h.feature(Bytestreams).proxies == []
    # found once a stream: the next offer asks nothing more
    h.receive(offer_xml("requester@example.com/foo", 22, iq_id="again"))
    again = await h.next_sent()
    assert again.get("id") == "again" and "<item-not-found" in h.sent_xml[-1]
    await h.close()


async def test_a_discovery_that_does_not_answer_is_bounded_by_the_connect_timeout() -> None:
    h = Harness([s5b.Bytestreams], ACCESS)
    feat = h.feature(Bytestreams)
    feat.connect_timeout = 0.2
    feat.listen(lambda inc: None)
    h.receive(offer_xml("requester@example.com/foo", 22))
    ask = await h.next_sent()  # disco#items, never answered
    assert ask.get("to") == "example.net"
    reply = await h.next_sent()
    assert reply.get("id") == "npq71g53" and "<item-not-found" in h.sent_xml[-1]
    assert feat.proxies is None  # looked for again by the next offer
    await h.close()


async def test_dial_direct_hands_the_offered_streamhosts_over_as_given() -> None:
    h = Harness([s5b.Bytestreams], ACCESS, files={"dial_direct": True})
    seen = record_offers(h)
    h.receive(offer_xml("requester@example.com/foo", 7625))
    reply = await h.next_sent()  # no discovery first
    assert reply.get("type") == "result" and reply.get("id") == "npq71g53"
    assert seen[0].offer.streamhosts == (s5b.StreamHost("streamer.example.com", "127.0.0.1", 7625),)
    await h.close()


async def test_unreachable_streamhosts_are_item_not_found() -> None:
    from stanzalink.net.socks5 import AllCandidatesFailed, connect_first
    from stanzalink_testing.prosody import free_port

    h = Harness([s5b.Bytestreams], ACCESS, files={"dial_direct": True})

    async def listener(inc: s5b.Incoming) -> s5b.StreamHost:
        try:
            used, _stream = await connect_first(inc.offer.streamhosts, inc.dst, timeout=2)
        except AllCandidatesFailed as exc:
            raise StanzaError("item-not-found", "", "cancel") from exc
        return used

    h.feature(Bytestreams).listen(listener)
    h.receive(offer_xml("requester@example.com/foo", free_port()))
    reply = await h.next_sent(timeout=10)
    assert reply.get("type") == "error"
    assert '<error type="cancel"><item-not-found' in h.sent_xml[-1]
    await h.close()


@pytest.mark.parametrize(
    ("sender", "listening", "condition"),
    [
        ("requester@example.com/foo", False, "not-acceptable"),  # nobody listens
        ("viewer@example.com/x", True, "service-unavailable"),  # below operator
        ("eve@example.org/x", True, "service-unavailable"),  # a stranger
    ],
)
async def test_offers_refused(sender: str, listening: bool, condition: str) -> None:
    h = Harness([s5b.Bytestreams], ACCESS)
    called: list[object] = []

    async def listener(inc: s5b.Incoming) -> s5b.StreamHost:
        called.append(inc)
        return inc.offer.streamhosts[0]

    if listening:
        h.feature(Bytestreams).listen(listener)
    h.receive(offer_xml(sender, 7625))
    reply = await h.next_sent()
    assert reply.get("type") == "error" and reply.get("id") == "npq71g53"
    assert f"<{condition} " in h.sent_xml[-1]
    assert called == []
    await h.close()


async def test_malformed_offer_from_an_operator_is_bad_request() -> None:
    h = Harness([s5b.Bytestreams], ACCESS)
    h.feature(Bytestreams).listen(lambda inc: None)
    h.receive(
        "<iq from='requester@example.com/foo' id='m1' type='set'>"
        "<query xmlns='http://jabber.org/protocol/bytestreams' sid='s'/></iq>"
    )
    await h.next_sent()
    assert '<error type="modify"><bad-request' in h.sent_xml[-1]
    await h.close()


async def test_offers_beyond_the_bound_wait_with_resource_constraint() -> None:
    h = Harness([s5b.Bytestreams], ACCESS, files={"dial_direct": True})
    release = asyncio.Event()

    async def slow(inc: s5b.Incoming) -> s5b.StreamHost:
        await release.wait()
        return inc.offer.streamhosts[0]

    h.feature(Bytestreams).listen(slow)
    for i in range(5):
        h.receive(offer_xml("requester@example.com/foo", 7625, sid=f"s{i}", iq_id=f"o{i}"))
    first = await h.next_sent()
    assert first.get("id") == "o4"  # the fifth, refused at once
    assert '<error type="wait"><resource-constraint' in h.sent_xml[-1]
    release.set()
    answered = sorted([(await h.next_sent()).get("id") for _ in range(4)])
    assert answered == ["o0", "o1", "o2", "o3"]
    assert all('type="result"' in x for x in h.sent_xml[1:])
    await h.close()


async def test_find_proxies_keeps_at_most_max_proxies_and_none_on_failure() -> None:
    """Six proxies on the server: the first MAX_PROXIES are kept.  A server
    that answers disco#items with an error gives none (logged, not raised)."""
    jids = [f"p{i}.example.com" for i in range(6)]

    async def iq(stanza: ET.Element, timeout: float | None = None) -> Element:
        to, tag = stanza.get("to") or "", stanza[0].tag
        if to == "example.com":
            items = "".join(f"<item jid='{j}'/>" for j in jids)
            return parse_stanza(
                f"<iq type='result'><query xmlns='{s5b.DISCO_ITEMS}'>{items}</query></iq>"
            )
        if tag.endswith("disco#info}query"):
            return parse_stanza(
                f"<iq type='result'><query xmlns='{s5b.DISCO_INFO}'>"
                "<identity category='proxy' type='bytestreams'/></query></iq>"
            )
        host = f"<streamhost jid='{to}' host='127.0.0.1' port='7777'/>"
        return parse_stanza(f"<iq type='result'><query xmlns='{s5b.NS}'>{host}</query></iq>")

    found = await s5b.find_proxies(iq, "example.com")
    assert [p.jid for p in found] == jids[: s5b.MAX_PROXIES] and s5b.MAX_PROXIES == 4

    async def refusing(stanza: ET.Element, timeout: float | None = None) -> Element:
        raise StanzaError("service-unavailable")

    assert await s5b.find_proxies(refusing, "example.com") == []
    assert await s5b.find_proxies(refusing, "example.com", "proxy.example.com") == []


def test_the_dial_policy_for_streamhosts_and_candidates() -> None:
    """One rule for XEP-0065 streamhosts ("any": they do not say what they
    are) and XEP-0260 candidates ("proxy", "direct"): a proxy the device
    found is dialled at the address its own answer gave, a proxy it did not
    find never, anything else only with dial_direct."""
    found = s5b.StreamHost("proxy.example.net", "192.0.2.7", 7777)
    strict = s5b.S5BPolicy(proxies=[found])
    lan = s5b.S5BPolicy(dial_direct=True, proxies=[found])
    for policy in (strict, lan):
        for kind in ("any", "proxy"):
            assert policy.dial("proxy.example.net", "10.0.0.1", 22, kind) == found
    assert strict.dial("evil.example.org", "10.0.0.1", 22, "any") is None
    assert strict.dial("evil.example.org", "10.0.0.1", 22, "proxy") is None
    assert strict.dial("romeo@example.org/x", "10.0.0.1", 22, "direct") is None
    given = s5b.StreamHost("evil.example.org", "10.0.0.1", 22)
    assert lan.dial("evil.example.org", "10.0.0.1", 22, "any") == given
    assert lan.dial("evil.example.org", "10.0.0.1", 22, "proxy") is None
    assert lan.dial("evil.example.org", "10.0.0.1", 22, "direct") == given
    # a direct candidate is never redirected, even when its JID is a proxy's
    assert lan.dial("proxy.example.net", "10.0.0.1", 22, "direct") == s5b.StreamHost(
        "proxy.example.net", "10.0.0.1", 22
    )
    assert s5b.S5BPolicy(proxies=None).known() == {}


async def test_xep_0065_uses_the_proxies_jingle_s5b_found() -> None:
    """The agent gives both features one S5BPolicy: the proxy jingle-s5b
    found when the device came online serves a XEP-0065 offer without a
    second discovery, at the address the proxy gave."""
    from stanzalink.xep.jingle.s5b_transport import JingleS5B

    files = {"socks5": True, "socks5_proxy": "streamer.example.com"}
    h = Harness([s5b.Bytestreams, JingleS5B], ACCESS, files=files)
    assert h.feature(Bytestreams).policy is h.feature(JingleS5B).policy
    seen = record_offers(h)
    h.go_online()
    ask = await h.next_sent()
    if ask.tag == "{jabber:client}presence":
        ask = await h.next_sent()
    assert ask.get("to") == "streamer.example.com" and ask.find(s5b.QUERY) is not None
    h.receive(
        f"<iq type='result' id='{ask.get('id')}' from='streamer.example.com'>"
        f"<query xmlns='{s5b.NS}'><streamhost jid='streamer.example.com' host='127.0.0.1'"
        " port='7777'/></query></iq>"
    )
    for _ in range(50):
        if h.feature(Bytestreams).proxies is not None:
            break
        await asyncio.sleep(0.01)
    h.receive(offer_xml("requester@example.com/foo", 9))
    reply = await h.next_sent()  # the answer, no streamhost query first
    assert reply.get("id") == "npq71g53" and reply.get("type") == "result"
    assert seen[0].offer.streamhosts == (s5b.StreamHost("streamer.example.com", "127.0.0.1", 7777),)
    await h.close()

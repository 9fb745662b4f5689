"""XEP-0359: every message the client sends carries an ``<origin-id/>``,
stamped once when it is queued, so the bytes stream management re-sends
after a failed resumption carry the same id and a receiver can drop the
duplicate."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from stanzalink.stanza import ORIGIN_ID, with_origin_id
from stanzalink.xml import E, tostring
from stanzalink_testing.harness import parse_stanza

from .test_core import FEAT_BIND, FEAT_PLAIN, TLS13, Conv, msg

ORIGIN = re.compile(rb'<origin-id xmlns="urn:xmpp:sid:0" id="([0-9a-f]{32})"/>')


def origin_ids(out: bytes) -> list[bytes]:
    return ORIGIN.findall(out)


def test_a_message_gets_an_origin_id_and_nothing_else_does() -> None:
    c = Conv()
    c.online()
    sent = msg(1)
    c.s.send(sent, c.now)
    c.s.send(E("{jabber:client}presence"), c.now)
    c.s.send(E("{jabber:client}iq", {"type": "get", "id": "q1"}, E("{urn:xmpp:ping}ping")), c.now)
    out = c.out()
    assert len(origin_ids(out)) == 1
    assert out.index(b"<body>hello 1</body>") < out.index(b"<origin-id")
    assert sent.find(ORIGIN_ID) is None  # the caller's element is left as it was
    c.s.send(msg(2), c.now)
    assert origin_ids(c.out()) != origin_ids(out)  # one id per message


def test_an_origin_id_given_is_kept() -> None:
    given = msg(1)
    given.append(E(ORIGIN_ID, {"id": "mine"}))
    assert with_origin_id(given) is given
    c = Conv()
    c.online()
    c.s.send(given, c.now)
    assert c.out().count(b"origin-id") == 1


def test_a_received_message_sent_on_gets_one_too() -> None:
    received = parse_stanza("<message to='a@example.net'><body>x</body></message>")
    stamped = with_origin_id(received)
    assert isinstance(stamped, ET.Element) and stamped.find(ORIGIN_ID) is not None
    assert b"<body>x</body>" in tostring(stamped, default_ns="jabber:client")


def test_after_a_failed_resumption_the_same_bytes_go_out_again() -> None:
    c = Conv()
    c.online()
    for i in range(3):
        c.s.send(msg(i), c.now)
    first = c.out()
    ids = origin_ids(first)
    assert len(ids) == 3
    c.s.connection_lost(c.now)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    c.send(c.header() + FEAT_BIND)
    bind = c.send(
        b"<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found "
        b"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    iq_id = re.search(rb"id=\"([^\"]+)\"", bind).group(1)  # type: ignore[union-attr]
    c.send(
        b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<jid>device1@example.net/agent</jid></bind></iq>"
    )
    again = c.send(b"<enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='true'/>")
    # the server had acknowledged m0 (h=1): m1 and m2 again, byte for byte
    assert origin_ids(again) == ids[1:]
    for n in (1, 2):
        stanza = re.search(rb'<message[^>]*id="m%d".*?</message>' % n, first, re.S)
        assert stanza is not None and stanza.group(0) in again


def test_an_origin_id_without_an_id_is_replaced() -> None:
    """XEP-0359 requires the id: an ``<origin-id/>`` without one (or with an
    empty one, or two of them) would leave a receiver nothing to drop a
    duplicate by, so the message goes out with one origin-id of its own."""
    for given in ([{}], [{"id": ""}], [{"id": "a"}, {"id": "b"}]):
        sent = msg(1)
        for attrs in given:
            sent.append(E(ORIGIN_ID, attrs))
        out = tostring(with_origin_id(sent), default_ns="jabber:client")
        assert out.count(b"<origin-id") == 1, out
        assert len(origin_ids(out)) == 1, out
        assert len(sent.findall(ORIGIN_ID)) == len(given)  # the caller's element as it was


def test_the_stamp_written_into_the_bytes_is_the_copy_serialized() -> None:
    from stanzalink.stanza import serialized_with_origin_id

    def client(el: ET.Element) -> bytes:
        return tostring(el, default_ns="jabber:client")

    def serialized(el: ET.Element) -> bytes:
        return serialized_with_origin_id(el, tostring, default_ns="jabber:client")

    def masked(data: bytes) -> bytes:
        return ORIGIN.sub(b'<origin-id xmlns="urn:xmpp:sid:0" id="X"/>', data)

    cases = [
        msg(1),
        E("{jabber:client}message", {"to": "a@example.net"}),  # no child: <message .../>
        E("{jabber:client}message", {"to": "a@example.net"}, text="text & <more>"),
        E("{jabber:client}message", {}, E("{urn:other}x", {"a": '"'}, E("{urn:other}y"))),
        # an origin-id without an id, and one with: the copy's way, the same bytes
        E("{jabber:client}message", {}, E(ORIGIN_ID)),
        E("{jabber:client}message", {}, E(ORIGIN_ID, {"id": "given"})),
        E("{jabber:client}presence"),
    ]
    for el in cases:
        got = serialized(el)
        assert masked(got) == masked(client(with_origin_id(el))), got
        assert len(origin_ids(got)) + got.count(b'id="given"') == (
            1 if el.tag == "{jabber:client}message" else 0
        ), got

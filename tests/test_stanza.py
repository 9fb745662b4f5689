"""The reply builders: one place for IQ results and error replies."""

from __future__ import annotations

from stanzalink.stanza import error_reply, result_reply, stanza_error, stanza_error_type
from stanzalink.xml import Element, StreamParser, tostring
from stanzalink.xml.builder import E

HEADER = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"


def _parsed(xml: bytes) -> Element:
    stanza = StreamParser().feed(HEADER + xml)[1]
    assert isinstance(stanza, Element)
    return stanza


def test_result_reply_goes_back_with_the_id_and_payload() -> None:
    iq = _parsed(
        b"<iq type='get' id='q1' from='a@example.net/x'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    reply = result_reply(iq, E("{urn:xmpp:time}time"))
    assert tostring(reply, default_ns="jabber:client") == (
        b'<iq type="result" id="q1" to="a@example.net/x"><time xmlns="urn:xmpp:time"/></iq>'
    )
    assert tostring(
        result_reply(_parsed(b"<iq type='set' id='s'/>")), default_ns="jabber:client"
    ) == (b'<iq type="result" id="s"/>')


def test_error_reply_to_an_iq_always_carries_an_id() -> None:
    iq = _parsed(b"<iq type='get' from='a@example.net/x'><q xmlns='urn:x'/></iq>")
    reply = error_reply(iq, "service-unavailable")
    assert reply.get("id") == "" and reply.get("to") == "a@example.net/x"
    assert stanza_error(reply) == ("service-unavailable", "")
    assert stanza_error_type(reply) == "cancel"


def test_error_reply_to_a_message_keeps_its_id_only_when_it_had_one() -> None:
    msg = _parsed(b"<message from='b@example.net/y'><body>x</body></message>")
    reply = error_reply(msg, "not-allowed", "auth", "no")
    assert reply.tag == "{jabber:client}message" and reply.get("id") is None
    assert stanza_error(reply) == ("not-allowed", "no") and stanza_error_type(reply) == "auth"
    pres = _parsed(b"<presence id='p1' from='b@example.net/y'/>")
    assert error_reply(pres, "forbidden").get("id") == "p1"


def test_stanza_error_of_a_stanza_without_one() -> None:
    assert stanza_error(E("{jabber:client}iq", {"type": "error"})) == ("undefined-condition", "")
    assert stanza_error_type(E("{jabber:client}iq")) == "cancel"

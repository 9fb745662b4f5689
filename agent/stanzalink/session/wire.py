"""What the session writes, byte for byte: the stream header, the
negotiation elements (STARTTLS, SASL, XEP-0198, XEP-0352) and the IQs of
its own (bind, session, ping, XEP-0077), plus the two readers of numbers
that come over the wire.  The conversation tests compare these bytes
exactly; a change here is a change on the wire."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from stanzalink import ns
from stanzalink.stanza import Stanza, error_reply, result_reply
from stanzalink.xml import tostring
from stanzalink.xml.builder import E, sub

_Q = ns.q

CLOSE = b"</stream:stream>"
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
ABORT = b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
SM_R = b"<r xmlns='urn:xmpp:sm:3'/>"
INACTIVE = b"<inactive xmlns='urn:xmpp:csi:0'/>"
WHITESPACE = b" "


def stream_header(domain: str, lang: str, sender: str | None) -> bytes:
    """Our stream header; ``sender`` (the bare JID) only once TLS is up
    (RFC 6120 §4.7.1)."""
    attrs = {"to": domain, "version": "1.0", "xml:lang": lang}
    if sender is not None:
        attrs["from"] = sender
    head = "".join(f" {k}='{attr(v)}'" for k, v in attrs.items())
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        f"xmlns:stream='http://etherx.jabber.org/streams'{head}>"
    ).encode()


def stream_error(condition: str) -> bytes:
    """A stream error and the end of our stream."""
    return (
        b"<stream:error><"
        + condition.encode()
        + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
    )


def auth(mechanism: str, initial: bytes | None) -> bytes:
    """``<auth/>`` with the initial response: none, empty (``=``) or base64."""
    payload = "=" if initial == b"" else (base64.b64encode(initial).decode() if initial else "")
    return f"<auth xmlns='{ns.SASL}' mechanism='{mechanism}'>{payload}</auth>".encode()


def response(data: bytes) -> bytes:
    payload = base64.b64encode(data).decode() if data else ""
    return f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{payload}</response>".encode()


def sm_enable(resume_max: int | None) -> bytes:
    resume = " resume='true'"
    if resume_max:
        resume += f" max='{resume_max}'"
    return f"<enable xmlns='urn:xmpp:sm:3'{resume}/>".encode()


def sm_resume(h: int, previd: str) -> bytes:
    return f"<resume xmlns='urn:xmpp:sm:3' h='{h}' previd='{attr(previd)}'/>".encode()


def sm_a(h: int) -> bytes:
    return b"<a xmlns='urn:xmpp:sm:3' h='%d'/>" % h


def bind_request(resource: str | None) -> ET.Element:
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "set"})
    b = sub(iq, _Q(ns.BIND, "bind"))
    if resource:
        sub(b, _Q(ns.BIND, "resource"), text=resource)
    return iq


def session_request() -> ET.Element:
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "set"})
    sub(iq, _Q(ns.SESSION, "session"))
    return iq


def register_form_request() -> ET.Element:
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "get"})
    sub(iq, _Q(ns.REGISTER, "query"))
    return iq


def ping_request(domain: str) -> ET.Element:
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "get", "to": domain})
    sub(iq, _Q(ns.PING, "ping"))
    return iq


def ping_result(ping: Stanza) -> bytes:
    """The answer to the server's XEP-0199 ping: an empty result."""
    return tostring(result_reply(ping), default_ns=ns.CLIENT)


def over_limits_error(attrib: dict[str, str], to: str | None, what: str) -> ET.Element:
    """The error for an IQ request the parser skipped (over its limits):
    ``attrib`` is all that is left of it."""
    request = E(_Q(ns.CLIENT, "iq"), {k: v for k, v in attrib.items() if k == "id"})
    if to:
        request.set("from", to)
    return error_reply(request, "policy-violation", "modify", f"over the device's limits: {what}")


def attr(value: str) -> str:
    """Text for a single-quoted attribute."""
    return value.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def digits(text: str | None, limit: int = 10) -> int | None:
    """A decimal of ASCII digits only, at most ``limit`` of them (an
    xs:unsignedInt has 10), or None: ``int()`` alone would take "²" to a
    ValueError, " 7", "+7" and "7_0" to numbers, and 5,000 digits to an error."""
    if text and len(text) <= limit and text.isascii() and text.isdigit():
        return int(text)
    return None

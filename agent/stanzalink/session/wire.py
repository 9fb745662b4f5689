"""What the session writes, byte for byte: the stream header, the
negotiation elements (STARTTLS, SASL, XEP-0198, XEP-0352) and the IQs of
its own (bind, session, ping; XEP-0077's, written only on the rare paths
that need them, are :mod:`.register`'s and :mod:`.password`'s), plus the two readers of numbers
that come over the wire.  The conversation tests compare these bytes
exactly; a change here is a change on the wire."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.xml.escape import escape_attr, escape_text

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.stanza import Stanza

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


# An IQ of the session's own, as a function of its id: written here byte
# for byte, so that a client that never builds a stanza of its own never
# loads ElementTree.
IQ = Callable[[str], bytes]


def own_iq(kind: str, payload: str, to: str | None = None) -> IQ:
    """``<iq type=kind [to=to] id=...>payload</iq>``, ``payload`` already
    serialized; the id is given when it is sent.  ``kind`` and ``payload``
    are written as they are: constants and serialized XML only, never a
    peer's text."""
    head = f'<iq type="{kind}"' + (f' to="{escape_attr(to)}"' if to is not None else "")
    return lambda iq_id: f'{head} id="{escape_attr(iq_id)}">{payload}</iq>'.encode()


def bind_request(resource: str | None) -> IQ:
    if resource:
        payload = f"<resource>{escape_text(resource)}</resource></bind>"
        return own_iq("set", f'<bind xmlns="{ns.BIND}">' + payload)
    return own_iq("set", f'<bind xmlns="{ns.BIND}"/>')


def session_request() -> IQ:
    return own_iq("set", f'<session xmlns="{ns.SESSION}"/>')


def ping_request(domain: str) -> IQ:
    return own_iq("get", f'<ping xmlns="{ns.PING}"/>', to=domain)


def ping_result(ping: Stanza) -> bytes:
    """The answer to the server's XEP-0199 ping: an empty result."""
    sender = ping.get("from")
    to = f' to="{escape_attr(sender)}"' if sender is not None else ""
    return f'<iq type="result" id="{escape_attr(ping.get("id") or "")}"{to}/>'.encode()


def over_limits_error(attrib: dict[str, str], to: str | None, what: str) -> ET.Element:
    """The error for an IQ request the parser skipped (over its limits):
    ``attrib`` is all that is left of it."""
    from stanzalink.stanza import error_reply
    from stanzalink.xml.builder import E

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

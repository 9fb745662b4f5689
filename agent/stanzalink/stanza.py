"""Replies to stanzas, built in one place: an IQ result, an error reply
(RFC 6120 §8.3) to a message, presence or IQ, and the reading of a
received ``<error/>``; and the XEP-0359 ``<origin-id/>`` every message the
client sends carries (:func:`with_origin_id`, applied by the session's
``send``).  Above ``xml/`` and below everything that answers
stanzas (the client's IQ serving, the features).

>>> from stanzalink.xml import tostring
>>> from stanzalink.xml.builder import E
>>> iq = E("{jabber:client}iq", {"type": "get", "id": "q1", "from": "a@example.net/x"})
>>> tostring(error_reply(iq, "item-not-found"), default_ns="jabber:client")
b'<iq type="error" id="q1" to="a@example.net/x"><error type="cancel"><item-not-found \
xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from stanzalink import ns
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub
from stanzalink.xml.plain import PlainElement

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# a received stanza, or one built here (ElementTree is not imported for a name)
Stanza: TypeAlias = "Element | ET.Element | PlainElement"

__all__ = [
    "ORIGIN_ID",
    "SID",
    "error_reply",
    "result_reply",
    "stanza_error",
    "stanza_error_type",
    "with_origin_id",
]

SID = "urn:xmpp:sid:0"  # XEP-0359 Unique and Stable Stanza IDs
ORIGIN_ID = "{" + SID + "}origin-id"
_MESSAGE = "{jabber:client}message"

_IQ = "{jabber:client}iq"
_ERROR = "{jabber:client}error"
_STANZAS = "{" + ns.STANZAS_ERR + "}"


def result_reply(iq: Stanza, payload: ET.Element | PlainElement | None = None) -> PlainElement:
    """An IQ result for ``iq`` with an optional payload (a plain element:
    answering an IQ loads no ElementTree)."""
    attrs = {"type": "result", "id": iq.get("id") or ""}
    sender = iq.get("from")
    if sender is not None:
        attrs["to"] = sender
    reply = PlainElement(_IQ, attrs)
    if payload is not None:
        reply.append(payload)
    return reply


def error_reply(
    stanza: Stanza, condition: str, etype: str = "cancel", text: str = ""
) -> ET.Element:
    """An error reply to a message, presence or IQ: addressed to its sender,
    with its id (an IQ's always, empty when it had none), ``condition`` and
    an optional text."""
    kind = stanza.tag.split("}", 1)[1]
    attrs = {"type": "error"}
    if kind == "iq" or stanza.get("id") is not None:
        attrs["id"] = stanza.get("id") or ""
    sender = stanza.get("from")
    if sender is not None:
        attrs["to"] = sender
    reply = E("{jabber:client}" + kind, attrs)
    err = sub(reply, _ERROR, {"type": etype})
    sub(err, _STANZAS + condition)
    if text:
        sub(err, _STANZAS + "text", text=text)
    return reply


def stanza_error(stanza: Stanza) -> tuple[str, str]:
    """(condition, text) of a stanza's <error/>."""
    err = stanza.find(_ERROR)
    if err is None:
        return "undefined-condition", ""
    cond = "undefined-condition"
    text = ""
    for child in err:
        if child.tag == _STANZAS + "text":
            text = child.text or ""
        elif child.tag.startswith(_STANZAS):
            cond = child.tag.split("}", 1)[1]
    return cond, text


def stanza_error_type(stanza: Stanza) -> str:
    """The type of a stanza's <error/> (cancel when absent)."""
    err = stanza.find(_ERROR)
    return (err.get("type") if err is not None else None) or "cancel"


def serialized_with_origin_id(stanza: Stanza, tostring: Callable[..., bytes], **how: Any) -> bytes:
    """``stanza`` serialized by ``tostring(el, **how)`` as it goes out: a message with
    an XEP-0359 ``<origin-id/>`` (:func:`with_origin_id`).  A message with
    none gets it written into its bytes, before the end tag the serializer
    wrote, rather than by copying the tree: one is stamped on every message
    sent.  The bytes are the same as serializing :func:`with_origin_id`'s
    copy gives (tests/session/test_origin_id.py)."""
    if stanza.tag != _MESSAGE:
        return tostring(stanza, **how)
    if stanza.find(ORIGIN_ID) is not None:  # one to keep, or to mend: the copy
        return tostring(with_origin_id(stanza), **how)
    data = tostring(stanza, **how)
    stamp = b'<origin-id xmlns="urn:xmpp:sid:0" id="' + os.urandom(16).hex().encode() + b'"/>'
    if data.endswith(b"</message>"):
        return data[:-10] + stamp + b"</message>"
    if data.endswith(b"/>"):  # <message .../>, no child
        return data[:-2] + b">" + stamp + b"</message>"
    return tostring(with_origin_id(stanza), **how)  # written some other way: the copy


def with_origin_id(stanza: Stanza) -> Stanza:
    """A message as it goes out: with an XEP-0359 ``<origin-id/>``, a random
    id of 128 bits.  The same serialized bytes are what stream management
    keeps and re-sends after a failed resumption, so a message that arrives
    twice carries the same origin-id twice and the receiver can drop the
    duplicate.  A message that has one origin-id with an id already, and
    any other stanza, is returned as it is; otherwise a copy is returned
    (its children shared; an origin-id without an id, or one of several,
    left out), the caller's element left as it was."""
    if stanza.tag != _MESSAGE:
        return stanza
    given = stanza.findall(ORIGIN_ID)
    if len(given) == 1 and given[0].get("id"):
        return stanza
    tree = stanza.to_etree() if isinstance(stanza, (Element, PlainElement)) else stanza
    out = E(tree.tag, dict(tree.attrib))
    out.text = tree.text
    out.extend(child for child in tree if child.tag != ORIGIN_ID)
    sub(out, ORIGIN_ID, {"id": os.urandom(16).hex()})
    return out

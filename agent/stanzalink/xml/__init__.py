"""XML for XMPP streams: parsing (native C tokenizer or pyexpat), stanza
views that read like ElementTree elements, building and serializing.

Public interface::

    from stanzalink.xml import StreamParser, StreamError
    parser = StreamParser(backend="native")   # or "expat"
    for event in parser.feed(chunk): ...       # StreamOpen, Element, StanzaSkipped,
                                               # StreamClose
"""

from stanzalink.xml.builder import E, sub
from stanzalink.xml.element import Element
from stanzalink.xml.events import (
    STREAM_NS,
    XML_NS,
    Event,
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
)
from stanzalink.xml.limits import DEFAULT_LIMITS
from stanzalink.xml.serializer import escape_attr, escape_text, tostring
from stanzalink.xml.stream import StreamParser, available_backends

__all__ = [
    "DEFAULT_LIMITS",
    "STREAM_NS",
    "XML_NS",
    "E",
    "Element",
    "Event",
    "StanzaSkipped",
    "StreamClose",
    "StreamError",
    "StreamOpen",
    "StreamParser",
    "available_backends",
    "escape_attr",
    "escape_text",
    "sub",
    "tostring",
]

"""XML for XMPP streams: parsing (native C tokenizer or pyexpat), stanza
views that read like ElementTree elements, building and serializing.

Public interface::

    from stanzalink.xml import StreamParser, StreamError
    parser = StreamParser(backend="native")   # or "expat"
    for event in parser.feed(chunk): ...       # StreamOpen, Element, StanzaSkipped,
                                               # StreamClose
"""

from typing import TYPE_CHECKING, Any

from stanzalink.xml.element import Element
from stanzalink.xml.escape import escape_attr, escape_text
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
from stanzalink.xml.stream import StreamParser, available_backends

if TYPE_CHECKING:
    from stanzalink.xml.builder import E, sub
    from stanzalink.xml.serializer import tostring

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


def __getattr__(name: str) -> Any:
    # the serializer and the builder load with the first import of
    # ``tostring``, ``E`` or ``sub`` from here (or the first element built
    # or serialized): a session that only logs in writes its own bytes and
    # needs neither
    if name == "tostring":
        from stanzalink.xml.serializer import tostring

        globals()["tostring"] = tostring
        return tostring
    if name in ("E", "sub"):
        from stanzalink.xml import builder

        value = globals()[name] = getattr(builder, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

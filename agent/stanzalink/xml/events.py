"""What a :class:`~stanzalink.xml.StreamParser` produces.

``feed()`` returns a list whose items are :class:`StreamOpen` (the stream
header), :class:`~stanzalink.xml.element.Element` (one complete stanza),
:class:`StanzaSkipped` (a stanza that crossed a parser limit, dropped) or
:class:`StreamClose`; a bad stream raises :class:`StreamError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from stanzalink._value import Value, _set
from stanzalink.errors import RemoteProtocolError

if TYPE_CHECKING:
    from stanzalink.xml.element import Element

STREAM_NS = "http://etherx.jabber.org/streams"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# RFC 6120 §4.9.3 condition names the parser reports
NOT_WELL_FORMED = "not-well-formed"
RESTRICTED_XML = "restricted-xml"
INVALID_NAMESPACE = "invalid-namespace"
POLICY_VIOLATION = "policy-violation"
UNSUPPORTED_ENCODING = "unsupported-encoding"


class StreamOpen(Value):
    """The ``<stream:stream>`` header.

    ``attrib`` holds its attributes in ElementTree form (``xml:lang`` is
    ``{http://www.w3.org/XML/1998/namespace}lang``), in document order;
    ``nsmap`` its namespace declarations, prefix to namespace name, with
    ``""`` for the default (content) namespace.
    """

    __slots__ = ("attrib", "nsmap")

    attrib: dict[str, str]
    nsmap: dict[str, str]

    def __init__(self, attrib: dict[str, str], nsmap: dict[str, str] | None = None) -> None:
        _set(self, "attrib", attrib)
        _set(self, "nsmap", {} if nsmap is None else nsmap)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)


class StreamClose(Value):
    """``</stream:stream>``: the peer closed its stream."""

    __slots__ = ()


_LIMIT_TEXT = {
    "max_stanza_bytes": "larger than {} bytes",
    "max_depth": "elements nested deeper than {}",
    "max_attrs": "more than {} attributes on one element",
    "max_name_len": "a name longer than {} bytes",
}


class StanzaSkipped(Value):
    """A stanza that crossed a parser limit: dropped whole, the stream goes on.

    ``limit`` names the limit it crossed first, in document order:
    ``"max_stanza_bytes"``, ``"max_depth"``, ``"max_attrs"`` or
    ``"max_name_len"``; ``value`` is that limit's setting.  ``tag`` is the
    stanza element's ``{namespace}local`` (ElementTree form) and ``attrib``
    its unprefixed ``from``, ``to``, ``id`` and ``type`` attributes, decoded,
    when its start tag was read (also when that start tag itself crossed
    ``max_attrs`` or ``max_name_len``); ``""`` and ``{}`` when the stanza
    crossed ``max_stanza_bytes`` before its start tag ended.  ``offset`` and
    ``end`` are the stream byte offsets of its ``<`` and one past its last
    ``>``.  The skipped content was still checked as XML: broken XML in it
    raises :class:`StreamError` instead.
    """

    __slots__ = ("limit", "tag", "attrib", "offset", "end", "value")  # noqa: RUF023 (this order)

    limit: str
    tag: str
    attrib: dict[str, str]
    offset: int
    end: int
    value: int

    def __init__(
        self,
        limit: str,
        tag: str,
        attrib: dict[str, str],
        offset: int,
        end: int,
        value: int = 0,
    ) -> None:
        _set(self, "limit", limit)
        _set(self, "tag", tag)
        _set(self, "attrib", attrib)
        _set(self, "offset", offset)
        _set(self, "end", end)
        _set(self, "value", value)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    @property
    def message(self) -> str:
        """e.g. ``stanza skipped: elements nested deeper than 64``"""
        what = _LIMIT_TEXT.get(self.limit, self.limit + " {}").format(self.value or "the limit")
        return f"stanza skipped: {what}"

    def __str__(self) -> str:
        return self.message


Event = Union[StreamOpen, "Element", StanzaSkipped, StreamClose]


class StreamError(RemoteProtocolError):
    """The peer's stream broke the rules; ``condition`` is the RFC 6120
    stream-error condition to send back.

    ``offset`` is the stream byte offset where the fault was found, ``line``
    and ``column`` a human position (1-based).  ``events`` holds the events
    completed before the fault in the ``feed()`` call that raised: nothing
    that was already accepted is lost.
    """

    def __init__(
        self,
        condition: str,
        message: str,
        offset: int = 0,
        line: int = 0,
        column: int = 0,
        events: list[Event] | None = None,
    ) -> None:
        super().__init__(condition, message)
        self.offset = offset
        self.line = line
        self.column = column
        self.events: list[Event] = events if events is not None else []

    def __str__(self) -> str:
        where = (
            f" (line {self.line}, column {self.column}, byte {self.offset})" if self.line else ""
        )
        return f"{self.condition}: {self.message}{where}"

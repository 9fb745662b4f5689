"""The pure-Python backend: pyexpat with the XMPP rules layered on top.

libexpat decides every XML 1.0 + Namespaces question; this module adds what
RFC 6120 §11 restricts (comments, processing instructions, DTDs, entities,
encodings), stream framing, and the limits, so that it gives the same events
and the same conditions as the native tokenizer for every input and every
chunking (``native/README.md`` states the rules both follow).

To report ``max_stanza_bytes`` at exactly the byte the native tokenizer
does, input is handed to expat in pieces that never reach past the current
unit's budget (a unit is the prolog and stream header, or one top-level
construct: a stanza or the closing tag), nor, while a stanza is skipped,
past the budget of a stanza that may begin right after it; the raw bytes
of the open unit are kept (bounded by that same limit, ``max_skip_bytes``
while skipping) to find where it ends.

A stanza that crosses a limit is skipped as the native tokenizer skips it:
expat still checks the rest of it, no nodes are built, and its end gives
one :class:`StanzaSkipped`.

The module is over 500 lines because it is one class, one state machine fed
by expat's callbacks whose every branch mirrors a rule of the native
tokenizer; split across files, the rules a reader must compare side by side
with ``native/src/tokenizer/`` would no longer stand together.
"""

from __future__ import annotations

import pyexpat
import re
from pyexpat import errors as _experr
from typing import Any

from stanzalink.xml.element import ATTR, ELEM, TEXT, Element, ListDoc
from stanzalink.xml.events import (
    INVALID_NAMESPACE,
    NOT_WELL_FORMED,
    POLICY_VIOLATION,
    RESTRICTED_XML,
    STREAM_NS,
    UNSUPPORTED_ENCODING,
    Event,
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
)
from stanzalink.xml.limits import DEFAULT_LIMITS, check_limits

_SEP = "\x01"  # not an XML Char: cannot occur in a namespace name or a name
_STREAM_TAG = STREAM_NS + _SEP + "stream"
_WS = " \t\n\r"
_NON_WS = re.compile(rb"[^ \t\r\n]")
_TAG_END = re.compile(rb"[>\"']")
_SKIP_ATTRS = ("from", "to", "id", "type")  # what a StanzaSkipped keeps

_ENTITY_ERRORS = {
    _experr.codes[_experr.XML_ERROR_UNDEFINED_ENTITY],
    _experr.codes[_experr.XML_ERROR_RECURSIVE_ENTITY_REF],
    _experr.codes[_experr.XML_ERROR_BINARY_ENTITY_REF],
    _experr.codes[_experr.XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF],
    _experr.codes[_experr.XML_ERROR_EXTERNAL_ENTITY_HANDLING],
}
_ENCODING_ERRORS = {
    _experr.codes[_experr.XML_ERROR_UNKNOWN_ENCODING],
    _experr.codes[_experr.XML_ERROR_INCORRECT_ENCODING],
}


def reparse_deferral_stuck() -> bool:
    """True where libexpat defers re-parsing small chunks (expat 2.6, or a
    distribution's backport of it) and pyexpat offers no switch to turn that
    off (CPython before 3.12.3 / 3.11.9 / 3.13).  There the fallback parser
    may hold a complete stanza back until more bytes arrive."""
    p = pyexpat.ParserCreate()
    if hasattr(p, "SetReparseDeferralEnabled"):
        return False
    seen: list[str] = []
    p.StartElementHandler = lambda name, attrs: seen.append(name)
    for piece in (b"<a><bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", b"/", b">"):
        p.Parse(piece, False)
    return "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" not in seen


class _Fault(Exception):
    """Raised inside a handler to stop expat with a condition."""

    def __init__(self, condition: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.condition = condition
        self.message = message
        self.offset = offset


class ExpatTokenizer:
    """Same contract as the native tokenizer, on pyexpat."""

    def __init__(
        self,
        *,
        max_stanza_bytes: int = DEFAULT_LIMITS["max_stanza_bytes"],
        max_depth: int = DEFAULT_LIMITS["max_depth"],
        max_attrs: int = DEFAULT_LIMITS["max_attrs"],
        max_name_len: int = DEFAULT_LIMITS["max_name_len"],
        max_skip_bytes: int = DEFAULT_LIMITS["max_skip_bytes"],
    ) -> None:
        self.limits = check_limits(
            {
                "max_stanza_bytes": max_stanza_bytes,
                "max_depth": max_depth,
                "max_attrs": max_attrs,
                "max_name_len": max_name_len,
                "max_skip_bytes": max_skip_bytes,
            }
        )
        self.max_stanza_bytes = max_stanza_bytes
        self.max_depth = max_depth
        self.max_attrs = max_attrs
        self.max_name_len = max_name_len
        self.max_skip_bytes = max_skip_bytes
        self.reset()

    # -- lifecycle --------------------------------------------------------------
    def reset(self) -> None:
        p = pyexpat.ParserCreate(encoding="UTF-8", namespace_separator=_SEP)
        p.namespace_prefixes = True
        p.ordered_attributes = True
        p.buffer_text = False
        p.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        if hasattr(p, "SetReparseDeferralEnabled"):
            # libexpat >= 2.6 may hold a complete token back waiting for more
            # input; a stanza must be delivered by the call with its last byte
            p.SetReparseDeferralEnabled(False)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        p.StartNamespaceDeclHandler = self._nsdecl
        p.CommentHandler = self._comment
        p.ProcessingInstructionHandler = self._pi
        p.StartDoctypeDeclHandler = self._doctype
        p.XmlDeclHandler = self._xmldecl
        p.StartCdataSectionHandler = self._cdata
        self._p = p
        self._offset = 0  # bytes handed to expat so far
        self._hold = b""  # first bytes held back until the encoding is known
        self._started = False
        self._depth = 0  # open elements, the stream header included
        self._closed = False
        self._failed: StreamError | None = None
        self._events: list[Event] = []
        self._pending_ns: list[tuple[str, str]] = []
        # the open unit and its raw bytes
        self._unit_start: int | None = 0
        self._last_end = 0
        self._raw = bytearray()
        self._raw_base = 0
        # the stanza being built
        self._nodes: list[int] = []
        self._strings: list[str] = []
        self._open: list[int] = []
        self._text: list[str] = []
        self._last_start: tuple[int, int] | None = None  # (depth, byte index) of the last start
        # the stanza being skipped: (limit, tag, attrib), or None
        self._skip: tuple[str, str, dict[str, str]] | None = None
        # where the prolog / the epilog may hold only whitespace before a '<'
        self._prolog_from: int | None = 0
        self._epilog_from: int | None = None

    # -- feeding ------------------------------------------------------------------
    def feed_events(self, data: bytes | bytearray | memoryview, max_events: int = 0) -> list[Event]:
        """:meth:`feed` without the byte count."""
        return self.feed(data, max_events)[0]

    def feed(
        self, data: bytes | bytearray | memoryview, max_events: int = 0
    ) -> tuple[list[Event], int]:
        """Process ``data``; return the events and the number of bytes consumed.

        With ``max_events`` > 0, stop once that many events are complete:
        the bytes after the last one are not consumed.  Raises StreamError
        (with the events completed before the fault) on a bad stream.
        """
        if self._failed is not None:
            raise RuntimeError("the stream already failed; reset() before feeding again")
        data = bytes(data)
        self._events = []
        consumed = len(data)
        try:
            if not self._started:
                data = self._check_start(data)
                if not self._started:
                    return [], consumed
            pos = 0
            n = len(data)
            while pos < n:
                budget = self._budget()
                if budget <= 0:
                    self._over_budget()  # a skip starts (or a fault)
                    continue
                if max_events > 0:
                    # pausing: one byte at a time so the stop is exact
                    self._feed_piece(data[pos : pos + 1])
                    pos += 1
                    if len(self._events) >= max_events:
                        return self._take(), consumed - (n - pos)
                    continue
                if self._unit_start is None and self._depth == 1:
                    # between stanzas: whitespace needs no budget
                    m = _NON_WS.search(data, pos)
                    ws_end = m.start() if m else n
                    if ws_end > pos:
                        self._feed_piece(data[pos:ws_end])
                        pos = ws_end
                        continue
                self._feed_piece(data[pos : pos + budget])
                pos += min(budget, n - pos)
            return self._take(), consumed
        except _Fault as fault:
            raise self._fail(fault.condition, fault.message, fault.offset) from None
        except pyexpat.ExpatError as exc:
            raise self._fail(
                _condition_of(exc.code),
                pyexpat.ErrorString(exc.code) or "not well-formed",
                self._p.ErrorByteIndex,
                exc.lineno,
                exc.offset + 1,
            ) from None

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _fail(
        self, condition: str, message: str, offset: int, line: int = 0, column: int = 0
    ) -> StreamError:
        if not line:
            line, column = self._position(offset)
        err = StreamError(condition, message, offset, line, column, self._take())
        self._failed = err
        return err

    def _position(self, offset: int) -> tuple[int, int]:
        try:
            return self._p.CurrentLineNumber, self._p.CurrentColumnNumber + 1
        except Exception:  # pragma: no cover - parser already gone
            return 1, offset + 1

    def _budget(self) -> int:
        start = self._unit_start
        if start is None:
            return self.max_stanza_bytes
        if self._skip is not None:
            # the skipped stanza may end inside this piece and the next one
            # begin there: the piece must not reach past that one's budget
            # either, and it starts no earlier than here
            return min(start + self.max_skip_bytes - self._offset, self.max_stanza_bytes)
        return start + self.max_stanza_bytes - self._offset

    def _over_budget(self) -> None:
        """The open unit reached its byte limit: a stanza is skipped from
        here on; the header, a skipped stanza's hard cap, or anything that
        is not an element (an end tag, a comment, ...) is a fault."""
        if self._skip is not None:
            raise _Fault(
                POLICY_VIOLATION,
                f"skipped stanza larger than {self.max_skip_bytes} bytes",
                self._offset,
            )
        if self._depth >= 2 or (self._depth == 1 and not self._closed and self._in_stanza_tag()):
            self._skip_begin("max_stanza_bytes")
            return
        raise _Fault(
            POLICY_VIOLATION,
            f"stanza larger than {self.max_stanza_bytes} bytes"
            if self._depth
            else f"stream header larger than {self.max_stanza_bytes} bytes",
            self._offset,
        )

    def _in_stanza_tag(self) -> bool:
        """At depth 1: is the open unit a start tag ('<' and a name)?"""
        start = self._unit_start
        if start is None:
            return False
        i = start - self._raw_base
        head = bytes(self._raw[i : i + 2])
        return len(head) == 2 and head[0] == 0x3C and head[1] not in b"/!?"

    def _skip_begin(
        self, limit: str, name: str | None = None, attrs: list[str] | None = None
    ) -> None:
        """Skip the current stanza: keep its tag and from/to/id/type (from
        its start tag being handled, or from its element when it is open),
        drop what was built of it."""
        tag = ""
        attrib: dict[str, str] = {}
        if name is not None and attrs is not None:
            tag = _etree_name(name)
            for i in range(0, len(attrs), 2):
                if attrs[i] in _SKIP_ATTRS:  # (a prefixed name holds the separator)
                    attrib[attrs[i]] = attrs[i + 1]
        elif self._depth >= 2:
            nodes, strings = self._nodes, self._strings
            ns, local = strings[nodes[2]], strings[nodes[4]]
            tag = f"{{{ns}}}{local}" if ns else local
            for k in range(1, nodes[6] + 1):
                b = 8 * k
                key = strings[nodes[b + 4]]
                if not strings[nodes[b + 2]] and key in _SKIP_ATTRS:
                    attrib[key] = strings[nodes[b + 6]]
        self._skip = (limit, tag, attrib)
        self._nodes = []
        self._strings = []
        self._open = []
        self._text = []

    def _check_start(self, data: bytes) -> bytes:
        """Refuse other encodings and byte order marks before expat sees them."""
        head = self._hold + data
        if head[:2] in (b"\xfe\xff", b"\xff\xfe") or head[:1] == b"\x00":
            raise _Fault(UNSUPPORTED_ENCODING, "the stream is not UTF-8 (UTF-16/32)", 0)
        if head[:2] == b"<\x00":
            raise _Fault(UNSUPPORTED_ENCODING, "the stream is not UTF-8 (UTF-16LE)", 0)
        if head[:3] == b"\xef\xbb\xbf":
            raise _Fault(
                NOT_WELL_FORMED,
                "U+FEFF (a byte order mark) before the stream header (RFC 6120 §11.6)",
                0,
            )
        undecided = (b"\xfe", b"\xff", b"<", b"\xef", b"\xef\xbb")
        if head in undecided or head == b"":
            self._hold = head
            return b""
        self._hold = b""
        self._started = True
        return head

    def _feed_piece(self, piece: bytes) -> None:
        if self._unit_start is not None:
            self._raw += piece
        else:
            self._raw = bytearray(piece)
            self._raw_base = self._offset
        self._p.Parse(piece, False)
        self._offset += len(piece)
        self._settle()

    def _settle(self) -> None:
        """After a piece: which unit is open, and trim the retained bytes."""
        if self._closed:
            self._unit_start = None
            if self._epilog_from is not None:
                self._junk_check(self._epilog_from, "junk after document element", stop=True)
        elif self._depth == 0:
            self._unit_start = 0
            if self._prolog_from is not None:
                self._junk_check(self._prolog_from, "not well-formed (invalid token)", stop=True)
        elif self._depth >= 2:
            pass  # _start set it when the stanza opened
        else:
            self._unit_start = None
            begin = max(self._last_end, self._raw_base)
            m = _NON_WS.search(self._raw, begin - self._raw_base)
            if m:
                self._unit_start = self._raw_base + m.start()
                if self._raw[m.start()] not in (0x3C, 0x26):  # '<', '&'
                    raise _Fault(
                        NOT_WELL_FORMED, "character data between stanzas", self._unit_start
                    )
        keep = self._unit_start if self._unit_start is not None else self._offset
        if keep > self._raw_base:
            del self._raw[: keep - self._raw_base]
            self._raw_base = keep

    def _junk_check(self, start: int, message: str, stop: bool = False) -> None:
        """Between constructs outside the root (prolog, after the close) only
        whitespace may come before a '<'.  libexpat may hold such junk back
        (a quote starts a literal token there); report it at once."""
        begin = max(start, self._raw_base)
        m = _NON_WS.search(self._raw, begin - self._raw_base)
        if m is None:
            return
        if self._raw[m.start()] != 0x3C:
            raise _Fault(NOT_WELL_FORMED, message, self._raw_base + m.start())
        if stop:
            self._prolog_from = None
            self._epilog_from = None

    def _raw_tag_end(self, index: int) -> int:
        """Stream offset one past the '>' of the tag starting at ``index``."""
        raw = self._raw
        i = index - self._raw_base
        while True:
            m = _TAG_END.search(raw, i)
            if m is None:
                # libexpat fed a byte at a time reports the end of an empty
                # element after its '>', the last byte fed so far
                return self._raw_base + len(raw)
            ch = raw[m.start()]
            if ch == 0x3E:  # '>'
                return self._raw_base + m.start() + 1
            close = raw.find(bytes((ch,)), m.start() + 1)
            i = close + 1

    # -- handlers ----------------------------------------------------------------------
    def _here(self) -> int:
        return int(self._p.CurrentByteIndex)

    def _nsdecl(self, prefix: str | None, uri: str | None) -> None:
        self._pending_ns.append((prefix or "", uri or ""))

    def _start(self, name: str, attrs: list[str]) -> None:
        ns_decls = self._pending_ns
        self._pending_ns = []
        here = self._here()
        depth = self._depth  # 0 for the stream header, 1 for a stanza
        if self._skip is not None:
            # inside a skipped stanza: no limits, no nodes, the framing rule
            if _strip_prefix(name) == _STREAM_TAG:
                raise _Fault(NOT_WELL_FORMED, "a <stream:stream> inside the stream", here)
            if depth == 1:
                self._unit_start = here
            self._depth = depth + 1
            self._last_start = (depth + 1, here)
            return
        # limits, in the order the native tokenizer checks them: the
        # header's are faults, a stanza crossing one is skipped
        crossed = self._crossed(name, attrs, ns_decls, depth)
        if crossed is not None:
            if depth == 0:
                raise _Fault(POLICY_VIOLATION, crossed[1], here)
            if depth == 1:
                self._skip_begin(crossed[0], name, attrs)
            else:
                self._skip_begin(crossed[0])
            if _strip_prefix(name) == _STREAM_TAG:
                raise _Fault(NOT_WELL_FORMED, "a <stream:stream> inside the stream", here)
            if depth == 1:
                self._unit_start = here
            self._depth = depth + 1
            self._last_start = (depth + 1, here)
            return
        if depth == 0:
            if _strip_prefix(name) != _STREAM_TAG:
                raise _Fault(
                    INVALID_NAMESPACE,
                    "the root element is not <stream> in http://etherx.jabber.org/streams",
                    here,
                )
            attrib = {_etree_name(attrs[i]): attrs[i + 1] for i in range(0, len(attrs), 2)}
            self._depth = 1
            self._last_end = self._raw_tag_end(here)
            self._events.append(StreamOpen(attrib, dict(ns_decls)))
            return
        if _strip_prefix(name) == _STREAM_TAG:
            raise _Fault(NOT_WELL_FORMED, "a <stream:stream> inside the stream", here)
        if depth == 1:
            self._unit_start = here
            self._nodes = []
            self._strings = []
            self._open = []
        else:
            self._flush_text()
        nodes = self._nodes
        strings = self._strings
        index = len(nodes) // 8
        ns, local = _split(name)
        s = len(strings)
        strings.append(ns)
        strings.append(local)
        nodes += (ELEM, 0, s, 1 if ns else 0, s + 1, 1, len(attrs) // 2, 0)
        for i in range(0, len(attrs), 2):
            ans, alocal = _split(attrs[i])
            s = len(strings)
            strings.append(ans)
            strings.append(alocal)
            strings.append(attrs[i + 1])
            nodes += (ATTR, index + 2 + i // 2, s, 1 if ans else 0, s + 1, 1, s + 2, 1)
        self._open.append(index)
        self._depth = depth + 1
        self._last_start = (depth + 1, here)

    def _crossed(
        self, name: str, attrs: list[str], ns_decls: list[tuple[str, str]], depth: int
    ) -> tuple[str, str] | None:
        """The limit a start tag crosses first, and the fault message."""
        if len(attrs) // 2 + len(ns_decls) > self.max_attrs:
            return "max_attrs", f"more than {self.max_attrs} attributes"
        limit = self.max_name_len
        if (
            _qname_len(name) > limit
            or any(_qname_len(a) > limit for a in attrs[::2])
            or any(len(p.encode()) + (6 if p else 5) > limit for p, _uri in ns_decls)
        ):
            return "max_name_len", f"a name longer than {limit} bytes"
        if depth > self.max_depth:
            return "max_depth", f"elements nested deeper than {self.max_depth}"
        return None

    def _end(self, name: str) -> None:
        here = self._here()
        depth = self._depth
        if self._skip is not None:
            self._depth = depth - 1
            if depth == 2:
                start = self._unit_start if self._unit_start is not None else here
                end = self._stanza_end(start, here, depth)
                self._last_end = end
                self._unit_start = None
                limit, tag, attrib = self._skip
                self._skip = None
                value = self.limits[limit]
                self._events.append(StanzaSkipped(limit, tag, attrib, start, end, value))
            self._last_start = None
            return
        if depth == 1:
            self._depth = 0
            self._closed = True
            self._last_end = self._raw_tag_end(here)
            self._epilog_from = self._last_end
            self._events.append(StreamClose())
            return
        self._flush_text()
        index = self._open.pop()
        nodes = self._nodes
        nodes[index * 8 + 1] = len(nodes) // 8
        self._depth = depth - 1
        if depth == 2:
            start = self._unit_start if self._unit_start is not None else here
            end = self._stanza_end(start, here, depth)
            self._last_end = end
            self._unit_start = None
            self._events.append(Element(ListDoc(nodes, self._strings), 0, len(nodes) // 8))
            self._nodes = []
            self._strings = []
        self._last_start = None

    def _stanza_end(self, start: int, here: int, depth: int) -> int:
        """One past the last '>' of the stanza starting at ``start`` whose
        end was reported at ``here``."""
        end = self._raw_tag_end(here)
        if self._last_start == (depth, start):
            # no child: either <presence/> (one tag) or <a ...>...</a>
            tag_end = self._raw_tag_end(start)
            if self._raw[tag_end - 2 - self._raw_base] == 0x2F:  # '/>'
                end = tag_end
        return end

    def _flush_text(self) -> None:
        if self._text:
            s = len(self._strings)
            self._strings.append("".join(self._text))
            self._text = []
            index = len(self._nodes) // 8
            self._nodes += (TEXT, index + 1, 0, 0, 0, 0, s, 1)

    def _chars(self, data: str) -> None:
        if self._depth >= 2:
            if self._skip is None:
                self._text.append(data)
            return
        # directly inside the stream: only literal whitespace (keepalive)
        here = self._here()
        if data.strip(_WS) or self._raw_byte(here) == 0x26:  # '&': a reference
            raise _Fault(NOT_WELL_FORMED, "character data between stanzas", here)

    def _raw_byte(self, offset: int) -> int:
        i = offset - self._raw_base
        if 0 <= i < len(self._raw):
            return self._raw[i]
        return 0

    def _cdata(self) -> None:
        if self._depth < 2:
            raise _Fault(NOT_WELL_FORMED, "a CDATA section between stanzas", self._here())

    def _comment(self, data: str) -> None:
        raise _Fault(RESTRICTED_XML, "comments are not allowed in XMPP", self._here())

    def _pi(self, target: str, data: str) -> None:
        raise _Fault(
            RESTRICTED_XML, "processing instructions are not allowed in XMPP", self._here()
        )

    def _doctype(self, *args: Any) -> None:
        raise _Fault(RESTRICTED_XML, "a DTD is not allowed in XMPP", self._here())

    def _xmldecl(self, version: str | None, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.lower() != "utf-8":
            raise _Fault(UNSUPPORTED_ENCODING, f"encoding {encoding!r} is not UTF-8", self._here())
        end = self._raw.find(b"?>", self._here() - self._raw_base)
        self._prolog_from = self._raw_base + end + 2


def _condition_of(code: int) -> str:
    if code in _ENTITY_ERRORS:
        return RESTRICTED_XML
    if code in _ENCODING_ERRORS:
        return UNSUPPORTED_ENCODING
    return NOT_WELL_FORMED


def _split(name: str) -> tuple[str, str]:
    """'ns SEP local [SEP prefix]' -> (ns, local); 'local' -> ('', local)."""
    if _SEP not in name:
        return "", name
    parts = name.split(_SEP)
    return parts[0], parts[1]


def _strip_prefix(name: str) -> str:
    parts = name.split(_SEP)
    return _SEP.join(parts[:2])


def _qname_len(name: str) -> int:
    parts = name.split(_SEP)
    if len(parts) == 3:
        return len(parts[2].encode()) + 1 + len(parts[1].encode())
    return len(parts[-1].encode())


def _etree_name(name: str) -> str:
    ns, local = _split(name)
    return f"{{{ns}}}{local}" if ns else local

"""StreamParser: XMPP stream framing over either parser backend.

>>> p = StreamParser()
>>> events = p.feed(b"<stream:stream xmlns='jabber:client' "
...                 b"xmlns:stream='http://etherx.jabber.org/streams'>"
...                 b"<message><body>hi</body></message>")
>>> events[1].findtext('{jabber:client}body')
'hi'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from stanzalink.errors import LocalProtocolError
from stanzalink.xml import _native, element
from stanzalink.xml.element import ATTR, NSDECL, WORDS, Doc, Element, LazyElement, PoolDoc
from stanzalink.xml.events import Event, StanzaSkipped, StreamClose, StreamError, StreamOpen
from stanzalink.xml.limits import DEFAULT_LIMITS, SKIP_LIMITS

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_LIMITS", "NativeBackend", "StreamParser", "available_backends"]

_CLOSE = StreamClose()


def _first_build(root: Element, rendered: _native.Rendered) -> None:
    """A stanza's first full read: :mod:`stanzalink.xml.decoded` loads, and
    its ``build`` decodes this stanza and every one after it (an idle
    session reads only simple paths and attributes and never loads it)."""
    from stanzalink.xml.decoded import build

    element._build = build
    build(root, rendered)


element._build = _first_build

if TYPE_CHECKING:  # (a Protocol class costs memory at run time; only typing reads it)
    from typing import Protocol

    class _Backend(Protocol):
        def feed(
            self, data: bytes | bytearray | memoryview, max_events: int = 0
        ) -> tuple[list[Event], int]: ...

        def feed_events(
            self, data: bytes | bytearray | memoryview, max_events: int = 0
        ) -> list[Event]: ...

        def reset(self) -> None: ...


def available_backends() -> list[str]:
    """Backends usable here, preferred first."""
    return ["native", "expat"] if _native.AVAILABLE else ["expat"]


class _Chunk(tuple[memoryview, memoryview, bytes, int, _native.Tokenizer]):
    """The packed events, node table and pool of one feed, and the
    tokenizer that renders them, shared by the stanzas it delivered: the
    first time more than a stanza's tag is read, the tokenizer renders it
    (see :class:`LazyElement`), or a :class:`PoolDoc` is sliced out of it."""

    __slots__ = ()

    def __call__(self, k: int, /) -> tuple[Doc, int]:
        events, nodes, blob, pool_off, _ = self
        e = k * _PACKED
        start = events[e + 1]
        count = events[e + 2]
        nodes_of = nodes[start * WORDS : (start + count) * WORDS]
        doc = PoolDoc(nodes_of, blob, pool_off + events[e + 3])
        return doc, count


_DocSource = Callable[[int], tuple[Doc, int]]
_new_lazy: Callable[[], Element] = LazyElement  # type: ignore[assignment] # (no-argument __init__)
_new_chunk = tuple.__new__
_PACKED = _native.PACKED_WORDS
_TAG_IDS = _native.TAG_IDS


class NativeBackend:
    """Adapter from the C tokenizer's packed node tables to events: per
    feed one call into :class:`_native.Tokenizer` (one C call to tokenize
    and pack, one copy of the pack), and per stanza a lazy view and one
    list lookup for its tag."""

    def __init__(self, **limits: int) -> None:
        self._tok = _native.Tokenizer(**limits)
        self._feed = self._tok.feed
        # tag strings by packed event head (the tag_id of a numbered
        # stanza name, the same string for the handle's life); the heads of
        # other events (SL_TAG_IDS + kind) stay None
        self._tags: list[str | None] = [None] * (_TAG_IDS + 5)
        self._limits = self._tok.limits

    def reset(self) -> None:
        self._tok.reset()

    def memory(self) -> int:
        return self._tok.memory()

    def feed(
        self, data: bytes | bytearray | memoryview, max_events: int = 0
    ) -> tuple[list[Event], int]:
        return self.feed_events(data, max_events), self._tok.consumed

    def feed_events(self, data: bytes | bytearray | memoryview, max_events: int = 0) -> list[Event]:
        try:
            packed = self._feed(data, max_events)
        except _native.Fault as fault:
            raise self._stream_error(fault) from None
        if packed is None:
            return []
        chunk: _DocSource = _new_chunk(_Chunk, (*packed, self._tok))  # type: ignore[assignment]
        ev = packed[0]
        tags = self._tags
        events: list[Event] = [None] * (len(ev) // _PACKED)  # type: ignore[list-item] # (all filled below)
        for k, head in enumerate(ev[::_PACKED]):
            tag = tags[head]
            if tag:  # (never empty: "{ns}local" or "local")
                # a stanza whose numbered name was seen before: a lazy view
                # holding the chunk, its event number and the tag
                el = _new_lazy()
                el._c = chunk
                el._k = k
                el._tag = tag
                events[k] = el
            else:
                events[k] = self._first(chunk, k, head)
        return events

    def _stream_error(self, fault: _native.Fault) -> StreamError:
        # the events completed before the fault (packed by the same call)
        events: list[Event] = []
        if fault.completed is not None:
            chunk: _DocSource = _new_chunk(_Chunk, (*fault.completed, self._tok))  # type: ignore[assignment]
            ev = fault.completed[0]
            events = [self._first(chunk, k, head) for k, head in enumerate(ev[::_PACKED])]
        return StreamError(fault.condition, fault.message, *fault.where, events)

    def _first(self, chunk: _DocSource, k: int, head: int) -> Event:
        """An event other than a stanza with a known tag."""
        if head == _native.HEAD_OPEN:
            doc, count = chunk(k)
            return _stream_open(doc, count)
        if head == _native.HEAD_CLOSE:
            return _CLOSE
        if head == _native.HEAD_SKIP:
            return self._skipped(chunk, k)
        # a stanza, numbered (its tag is kept for the next ones) or not: a
        # lazy view like the others, its tag read from its node table
        doc, count = chunk(k)
        tag = Element(doc, 0, count).tag
        if head <= _TAG_IDS:
            self._tags[head] = tag
        el = _new_lazy()
        el._c = chunk
        el._k = k
        el._tag = tag
        return el

    def _skipped(self, chunk: _DocSource, k: int) -> StanzaSkipped:
        """A skip event: its tag and from/to/id/type from its nodes, its
        limit and byte range from the C event (the k-th of the last feed)."""
        doc, count = chunk(k)
        n = doc.n
        local = doc.s(n[4], n[5])
        tag = f"{{{doc.s(n[2], n[3])}}}{local}" if n[3] else local
        attrib = {}
        for i in range(1, count):
            b = i * WORDS
            attrib[doc.s(n[b + 4], n[b + 5])] = doc.s(n[b + 6], n[b + 7])
        which, start, end = self._tok.skip_detail(k)
        limit = SKIP_LIMITS[which]
        return StanzaSkipped(limit, tag, attrib, start, end, self._limits[limit])


def _stream_open(doc: Doc, count: int) -> StreamOpen:
    n = doc.n
    attrib: dict[str, str] = {}
    nsmap: dict[str, str] = {}
    for k in range(1, count):
        b = k * WORDS
        kind = n[b]
        if kind == ATTR:
            local = doc.s(n[b + 4], n[b + 5])
            key = f"{{{doc.s(n[b + 2], n[b + 3])}}}{local}" if n[b + 3] else local
            attrib[key] = doc.s(n[b + 6], n[b + 7])
        elif kind == NSDECL:
            nsmap[doc.s(n[b + 4], n[b + 5])] = doc.s(n[b + 6], n[b + 7])
    return StreamOpen(attrib, nsmap)


class StreamParser:
    """Turns the bytes of one XMPP stream into events.

    ``backend`` is ``"native"`` (the C tokenizer; the default) or
    ``"expat"`` (pyexpat); with no backend given and no native module
    built, expat is used and a warning logged.  Both give the same events
    for every input however it is chunked.

    ``feed(data)`` returns a list of :class:`StreamOpen`, stanza
    :class:`Element`, :class:`StanzaSkipped` and :class:`StreamClose`
    events; a bad stream raises :class:`StreamError` (its ``events``
    attribute holds what was completed before the fault).

    The limits (defaults in :data:`DEFAULT_LIMITS`): a stanza crossing
    ``max_stanza_bytes``, ``max_depth``, ``max_attrs`` or ``max_name_len``
    is dropped whole and reported as one :class:`StanzaSkipped`, and the
    stream goes on; its content is still checked as XML.  The stream
    header crossing one, or a skipped stanza growing past
    ``max_skip_bytes``, raises a ``policy-violation`` StreamError.

    After a StreamError the parser refuses more input until :meth:`reset`.
    ``reset()`` starts a new stream (after STARTTLS or SASL success); call
    it between feeds.
    """

    def __init__(
        self,
        backend: str | None = None,
        *,
        max_stanza_bytes: int = DEFAULT_LIMITS["max_stanza_bytes"],
        max_depth: int = DEFAULT_LIMITS["max_depth"],
        max_attrs: int = DEFAULT_LIMITS["max_attrs"],
        max_name_len: int = DEFAULT_LIMITS["max_name_len"],
        max_skip_bytes: int = DEFAULT_LIMITS["max_skip_bytes"],
    ) -> None:
        limits = {
            "max_stanza_bytes": max_stanza_bytes,
            "max_depth": max_depth,
            "max_attrs": max_attrs,
            "max_name_len": max_name_len,
            "max_skip_bytes": max_skip_bytes,
        }
        if backend is None:
            if _native.AVAILABLE:
                backend = "native"
            else:
                log.warning(
                    "native parser not available (%s); using the expat backend",
                    _native.IMPORT_ERROR,
                )
                backend = "expat"
        impl: _Backend
        if backend == "native":
            if not _native.AVAILABLE:
                raise LocalProtocolError(
                    f"the native parser is not available here: {_native.IMPORT_ERROR}"
                )
            impl = NativeBackend(**limits)
        elif backend == "expat":
            # imported here: with the native module it is never needed
            from stanzalink.xml.expat_backend import ExpatTokenizer, reparse_deferral_stuck

            impl = ExpatTokenizer(**limits)
            if reparse_deferral_stuck():
                log.warning(
                    "this libexpat defers parsing of small chunks and pyexpat cannot turn it "
                    "off: with the expat backend a stanza may wait for more bytes to arrive "
                    "(build the native module to avoid it)"
                )
        else:
            raise LocalProtocolError(f"unknown parser backend {backend!r} (native or expat)")
        self.backend = backend
        self.limits = limits
        self._impl = impl
        self._feed_events = impl.feed_events
        self._failed: StreamError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Parse ``data``; return the events it completed."""
        if self._failed is None:
            try:
                return self._feed_events(data)
            except StreamError as err:
                self._failed = err
                raise
        raise LocalProtocolError(
            f"this stream already failed ({self._failed.condition}); reset() first"
        )

    def feed_some(
        self, data: bytes | bytearray | memoryview, max_events: int = 0
    ) -> tuple[list[Event], int]:
        """Like :meth:`feed`, but stop after ``max_events`` events (0: no
        limit); return the events and how many bytes of ``data`` were
        consumed.  A session negotiating STARTTLS or SASL uses this to
        reset the parser right after ``<proceed/>`` or ``<success/>``."""
        if self._failed is not None:
            raise LocalProtocolError(
                f"this stream already failed ({self._failed.condition}); reset() first"
            )
        try:
            return self._impl.feed(data, max_events)
        except StreamError as err:
            self._failed = err
            raise

    def reset(self) -> None:
        """Forget the stream: the next byte fed starts a new one."""
        self._impl.reset()
        self._failed = None

"""The one module that touches the cffi binding of the C core.

Everything above this module sees Python objects only: a feed's packed
events, node table and string pool as :data:`Packed` (memoryviews over one
copy of the C arena), a stream fault as :class:`Fault`, and the receive
:class:`Ring` as memoryviews of its free and readable space.  One C call per
chunk tokenizes and packs; one copy brings the pack into Python.
"""

from __future__ import annotations

import struct
from typing import Any

from stanzalink.xml.limits import DEFAULT_LIMITS, check_limits

try:
    from stanzalink._sl_native import ffi as _ffi
    from stanzalink._sl_native import lib as _lib

    AVAILABLE = True
    IMPORT_ERROR: str | None = None
except ImportError as exc:  # not built here: the expat backend takes over
    _ffi = None
    _lib = None
    AVAILABLE = False
    IMPORT_ERROR = str(exc)

ffi: Any = _ffi
lib: Any = _lib

CONDITIONS = (
    "",
    "not-well-formed",
    "restricted-xml",
    "invalid-namespace",
    "policy-violation",
    "unsupported-encoding",
)

# SL_PACKED_WORDS: head (tag_id, or SL_TAG_IDS + kind), node_start, node_count, pool_start
PACKED_WORDS = 4
NODE_WORDS = 8
TAG_IDS = 32  # SL_TAG_IDS
# the packed heads of the events other than numbered stanzas
HEAD_OPEN = TAG_IDS + 1
HEAD_STANZA = TAG_IDS + 2
HEAD_CLOSE = TAG_IDS + 3
HEAD_SKIP = TAG_IDS + 4

# sl_tree_render (tree.h): the flag that renders a stanza's root element
# alone, and the record words per element it needs (besides two per
# attribute)
TREE_ROOT = 1
_WORDS_PER_ELEMENT = 13
_TREE_HEADER_BYTES = 5 * 4  # SL_TREE_HEADER words
_TREE_HEADER = struct.Struct("=5I").unpack_from
# render buffers a tokenizer keeps between stanzas, at most (bytes of strings,
# and record words: 256 elements); a larger stanza gets buffers for its call only
_STR_KEEP = 8192
_REC_KEEP = 256 * _WORDS_PER_ELEMENT
_STR_FIRST, _REC_FIRST = 1024, 256  # their first sizes

# A rendered stanza (tree.h): its strings (index 0 None), its records (the
# attributes' key ids, then per element tag id, attributes, first value,
# text, tail, children; bytes, or a memoryview of 2- or 4-byte numbers),
# the name list the ids index, and the number of attributes.
Rendered = tuple[list[str | None], "bytes | memoryview", list[str], int]

# What one feed completed, from a single copy of the packed arena
# (sl_tok_feed_pack): the packed events and the node table as "I" views into
# ``blob``, and the byte offset in ``blob`` where the string pool starts.
Packed = tuple[memoryview, memoryview, bytes, int]


class Fault(Exception):
    """The peer broke the stream: an RFC 6120 condition, a message, where
    it was found, and what the same feed completed before it."""

    def __init__(
        self,
        condition: str,
        message: str,
        byte_offset: int,
        line: int,
        column: int,
        completed: Packed | None,
    ) -> None:
        super().__init__(message)
        self.condition = condition
        self.message = message
        self.where = (byte_offset, line, column)
        self.completed = completed


class Tokenizer:
    """The C tokenizer for one stream."""

    def __init__(
        self,
        *,
        max_stanza_bytes: int = DEFAULT_LIMITS["max_stanza_bytes"],
        max_depth: int = DEFAULT_LIMITS["max_depth"],
        max_attrs: int = DEFAULT_LIMITS["max_attrs"],
        max_name_len: int = DEFAULT_LIMITS["max_name_len"],
        max_skip_bytes: int = DEFAULT_LIMITS["max_skip_bytes"],
    ) -> None:
        if not AVAILABLE:
            raise RuntimeError(f"the native module is not available: {IMPORT_ERROR}")
        if (lib.SL_TAG_IDS, lib.SL_PACKED_WORDS) != (TAG_IDS, PACKED_WORDS):
            raise RuntimeError("the native module does not match this _native.py")
        checked = check_limits(
            {
                "max_stanza_bytes": max_stanza_bytes,
                "max_depth": max_depth,
                "max_attrs": max_attrs,
                "max_name_len": max_name_len,
                "max_skip_bytes": max_skip_bytes,
            }
        )
        self.limits = checked
        limits = ffi.new("sl_limits *")
        for name, value in checked.items():
            setattr(limits, name, value)
        tok = lib.sl_tok_new(limits)
        if tok == ffi.NULL:
            raise MemoryError("sl_tok_new failed")
        self._tok = ffi.gc(tok, lib.sl_tok_free)
        self._consumed = ffi.new("size_t *")
        self._packed = ffi.new("sl_packed *")
        # sl_tree_render's buffers and name table, made by the first
        # render and kept in an sl_tree_out (each call passes it alone);
        # the names list holds the table's names by id
        self._str: Any = ffi.NULL
        self._rec: Any = ffi.NULL
        self._str_view: Any = None  # (ffi.buffer of each: slicing copies out)
        self._rec_view: Any = None
        self._out = ffi.new("sl_tree_out *")  # (zeroed: no table, no buffers)
        self._render_c = lib.sl_tree_render_out  # (an instance attribute: a quicker lookup)
        self._str_cap = self._rec_cap = 0
        self._need = self._out.need
        self._names: Any = ffi.NULL
        self._name_list: list[str] = []
        # one token: a render takes it (list.pop is atomic), and gives it back
        self._rendering: list[bool] = [True]
        self._render_max = 2 * checked["max_stanza_bytes"] + 65536

    def reset(self) -> None:
        lib.sl_tok_reset(self._tok)

    def memory(self) -> int:
        return int(lib.sl_tok_memory(self._tok))

    @property
    def consumed(self) -> int:
        """Bytes taken from the data of the last feed."""
        return int(self._consumed[0])

    def feed(self, data: bytes | bytearray | memoryview, max_events: int = 0) -> Packed | None:
        """Tokenize ``data`` (read in place: a bytes object as it is, any
        other buffer through its pointer); return what it completed, or
        None when it completed nothing.  A fault raises :class:`Fault`.
        The arena is copied once, into the returned ``blob``."""
        packed = self._packed
        rc = _lib.sl_tok_feed_pack(
            self._tok, data if type(data) is bytes else _ffi.from_buffer(data), len(data),
            max_events, self._consumed, packed,
        )  # fmt: skip
        if rc <= 0:
            if rc == 0:
                return None
            raise self._fault(rc)
        blob = _ffi.unpack(packed.data, packed.size)
        # one "I" view of the whole (its size is a multiple of 4): the
        # events are its first words, the nodes the words up to the pool
        words = memoryview(blob).cast("I")
        nodes_off = packed.nodes_off
        pool_off = packed.pool_off
        return (words[: nodes_off >> 2], words[nodes_off >> 2 : pool_off >> 2], blob, pool_off)

    def render(self, packed: tuple[Any, ...], k: int, flags: int) -> Rendered | None:
        """Event ``k`` (a stanza) of what a feed returned (``packed``: the
        :data:`Packed` tuple, or a tuple that starts with it) rendered by
        ``sl_tree_render``.  None when the stanza would render larger than
        the bound (a namespace name repeated in many names), when its names
        do not fit in the name table, or when the node table is not a
        consistent stanza: the caller reads it node by node."""
        # the C call runs without the GIL, on buffers and a name table of
        # this tokenizer: a stanza read in another thread meanwhile is read
        # node by node instead of waiting
        token = self._rendering
        try:
            token.pop()
        except IndexError:
            return None
        try:
            blob = packed[2]
            n = self._render_c(self._out, blob, len(blob), k, len(packed[0]) << 2, packed[3], flags)
            if n <= 0:
                return self._render_again(n, blob, k, len(packed[0]) << 2, packed[3], flags)
            # (_rendered, inline: the common case pays no second frame)
            rec_view = self._rec_view
            size, count, added, attrs, width = _TREE_HEADER(rec_view)
            strings: list[str | None] = self._str_view[:size].decode().split("\0")
            if len(strings) != count + 1 or added:
                recs = rec_view[_TREE_HEADER_BYTES:n]
                return self._names_added(strings, count, added, recs, attrs, width)
            strings[0] = None
            if width == 1:
                return strings, rec_view[_TREE_HEADER_BYTES:n], self._name_list, attrs
            wide = memoryview(rec_view[_TREE_HEADER_BYTES:n]).cast("H" if width == 2 else "I")
            return strings, wide, self._name_list, attrs
        finally:
            token.append(True)

    def _rendered(self, n: int, str_view: Any, rec_view: Any) -> Rendered | None:
        """What a render wrote: ``n`` bytes of records (tree.h), read
        through ``ffi.buffer`` views of the buffers (a slice is a copy)."""
        size, count, added, attrs, width = _TREE_HEADER(rec_view)
        strings: list[str | None] = str_view[:size].decode().split("\0")
        recs = rec_view[_TREE_HEADER_BYTES:n]
        return self._names_added(strings, count, added, recs, attrs, width)

    def _names_added(
        self, strings: list[str | None], count: int, added: int, recs: bytes, attrs: int, width: int
    ) -> Rendered | None:
        """A render's strings and records (its header read): the names it
        added appended to the name list."""
        names = self._name_list
        if len(strings) != count + 1:  # (a NUL inside a string: never from the tokenizer)
            lib.sl_names_reset(self._names)
            names.clear()
            return None
        if added:
            names += strings[count - added : count]  # type: ignore[arg-type]
        strings[0] = None
        if width == 1:
            return strings, recs, names, attrs
        return strings, memoryview(recs).cast("H" if width == 2 else "I"), names, attrs

    def _render_again(
        self, n: int, blob: bytes, k: int, nodes_off: int, pool_off: int, flags: int
    ) -> Rendered | None:
        """``render`` when the call did not succeed, each cause mended at
        most once: the name table made, or (full) emptied; buffers of the
        size needed (up to the bound; the kept ones grow to at most the
        _KEEP sizes).  Any other fault emptied the table (tree.h)."""
        str_buf, str_cap, rec_buf, rec_cap = self._str, self._str_cap, self._rec, self._rec_cap
        mended: set[int] = set()
        while n <= 0:  # (the loop ends: each cause is mended once, then None)
            if self._names == ffi.NULL:
                names = lib.sl_names_new()
                if names == ffi.NULL:
                    return None
                self._names = self._out.names = ffi.gc(names, lib.sl_names_free)
            elif n in mended:
                return None
            elif n == lib.SL_TREE_SHORT:
                size, words = int(self._need[0]), int(self._need[1])
                if size > self._render_max or words > self._render_max:
                    return None
                if size <= _STR_KEEP and words <= _REC_KEEP:
                    # the kept buffers double as stanzas need it, from
                    # 1 KiB each (ffi.new zero-fills: all of it resident)
                    str_cap = min(_STR_KEEP, max(size, 2 * self._str_cap, _STR_FIRST))
                    rec_cap = min(_REC_KEEP, max(words, 2 * self._rec_cap, _REC_FIRST))
                    self._str = str_buf = ffi.new("char[]", str_cap)
                    self._rec = rec_buf = ffi.new("uint32_t[]", rec_cap)
                    self._str_view = ffi.buffer(str_buf)
                    self._rec_view = ffi.buffer(rec_buf)
                    self._str_cap, self._rec_cap = str_cap, rec_cap
                    out = self._out
                    out.str, out.str_cap, out.rec, out.rec_cap = str_buf, str_cap, rec_buf, rec_cap
                else:
                    str_buf, str_cap = ffi.new("char[]", size), size
                    rec_buf, rec_cap = ffi.new("uint32_t[]", max(words, 1)), words
            else:
                self._name_list.clear()  # (the table is empty now)
                if n != lib.SL_TREE_FULL:
                    return None
            mended.add(n)
            n = lib.sl_tree_render(
                self._names, blob, len(blob), k, nodes_off, pool_off, flags,
                str_buf, str_cap, rec_buf, rec_cap, self._need,
            )  # fmt: skip
        return self._rendered(n, ffi.buffer(str_buf), ffi.buffer(rec_buf))

    def _fault(self, rc: int) -> Exception:
        if rc != lib.SL_E_STREAM:
            return RuntimeError(_local_error(rc))
        err = lib.sl_tok_error(self._tok)
        completed = None
        packed = self._packed
        if packed.events:
            blob = ffi.unpack(packed.data, packed.size)
            words = memoryview(blob).cast("I")
            nodes = words[packed.nodes_off >> 2 : packed.pool_off >> 2]
            completed = (words[: packed.nodes_off >> 2], nodes, blob, int(packed.pool_off))
        return Fault(
            CONDITIONS[err.condition],
            ffi.string(err.message).decode("utf-8", "replace"),
            int(err.byte_offset),
            int(err.line),
            int(err.column),
            completed,
        )

    def skip_detail(self, k: int) -> tuple[int, int, int]:
        """The limit crossed (SL_LIMIT_*) and the byte range of the skip
        event numbered ``k`` in the last feed."""
        e = lib.sl_tok_events(self._tok, ffi.NULL)[k]
        return int(e.limit), int(e.byte_start), int(e.byte_end)


class Ring:
    """The bounded receive buffer (see ringbuf.h): the transport writes into
    its free space, the tokenizer reads the written bytes where they lie.
    The capacity is fixed: a full ring offers no space, it never grows."""

    def __init__(self, capacity: int) -> None:
        if not AVAILABLE:
            raise RuntimeError(f"the native module is not available: {IMPORT_ERROR}")
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        ring = lib.sl_ring_new(capacity)
        if ring == ffi.NULL:
            raise MemoryError("sl_ring_new failed")
        self._ring = ffi.gc(ring, lib.sl_ring_free)
        self._wptr = ffi.new("uint8_t **")
        self._rptr = ffi.new("const uint8_t **")
        self.capacity = capacity

    @property
    def readable(self) -> int:
        return int(lib.sl_ring_readable(self._ring))

    @property
    def writable(self) -> int:
        return int(lib.sl_ring_writable(self._ring))

    def get_buffer(self) -> memoryview:
        """The contiguous free region (empty when the ring is full)."""
        n = lib.sl_ring_write_ptr(self._ring, self._wptr)
        return memoryview(ffi.buffer(self._wptr[0], n))

    def commit(self, n: int) -> None:
        """Mark ``n`` bytes of the last :meth:`get_buffer` region written."""
        if n < 0 or lib.sl_ring_commit(self._ring, n) != 0:
            raise ValueError(f"commit({n}) exceeds the region handed out")

    def peek(self) -> memoryview:
        """The contiguous readable region starting at the oldest byte (a
        view of the ring's own memory: valid until the next consume/clear)."""
        n = lib.sl_ring_read_ptr(self._ring, self._rptr)
        return memoryview(ffi.buffer(self._rptr[0], n))

    def consume(self, n: int) -> None:
        if n < 0 or lib.sl_ring_consume(self._ring, n) != 0:
            raise ValueError(f"consume({n}) exceeds the bytes stored")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Copy bytes in (a transport that hands over bytes objects);
        returns how many fitted."""
        return int(lib.sl_ring_write(self._ring, ffi.from_buffer(data), len(data)))

    def clear(self) -> None:
        lib.sl_ring_clear(self._ring)


def _local_error(rc: int) -> str:
    if rc == lib.SL_E_NOMEM:
        return "out of memory in the tokenizer"
    if rc == lib.SL_E_STATE:
        return "the tokenizer was fed after a stream error (reset it first)"
    return f"bad argument to the tokenizer (code {rc})"


def escape(data: bytes, attr: bool) -> bytes:
    """Escape UTF-8 bytes for character data or a double-quoted attribute."""
    n = len(data)
    cap = n + n // 4 + 16
    out = ffi.new("uint8_t[]", cap)
    need = lib.sl_escape(data, n, out, cap, 1 if attr else 0)
    if need > cap:
        out = ffi.new("uint8_t[]", need)
        lib.sl_escape(data, n, out, need, 1 if attr else 0)
    return bytes(ffi.buffer(out, need))

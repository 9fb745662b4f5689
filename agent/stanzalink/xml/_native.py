"""The one module that touches the cffi binding of the C core.

Everything above this module sees Python objects only: a feed's packed
events, node table and string pool as :data:`Packed` (memoryviews over one
copy of the C arena), a stream fault as :class:`Fault`, and the receive
:class:`Ring` as memoryviews of its free and readable space.  One C call per
chunk tokenizes and packs; one copy brings the pack into Python.
"""

from __future__ import annotations

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

"""The one module that touches the cffi binding of the C core.

Everything above this module sees Python objects only: :class:`RawFeed`
tuples of copied bytes and memoryviews.  One C call per chunk, one more to
pack its events, node table and string pool, and one copy of that.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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

_PACKED_WORDS = 4  # SL_PACKED_WORDS: kind | tag_id << 8, node_start, node_count, pool_start
_NODE_WORDS = 8


class RawFeed(NamedTuple):
    """What one feed produced, from a single copy of the C arena
    (``sl_tok_pack``): ``blob`` holds the packed events, the nodes and the
    pool; ``events`` and ``nodes`` are "I" views into it, and the pool is
    ``blob`` from ``pool_off`` on."""

    consumed: int
    n_events: int
    events: memoryview  # "I", _PACKED_WORDS words per event
    nodes: memoryview  # "I", 8 words per node
    blob: bytes
    pool_off: int
    error: tuple[str, str, int, int, int] | None


_EMPTY = memoryview(b"").cast("I")
_raw = tuple.__new__  # a RawFeed without the Python-level namedtuple __new__


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

    def feed(self, data: bytes | bytearray | memoryview, max_events: int = 0) -> RawFeed:
        # bytes go to the C call as they are; other buffers through from_buffer
        buf = data if type(data) is bytes else ffi.from_buffer(data)
        rc = lib.sl_tok_feed(self._tok, buf, len(data), max_events, self._consumed)
        return self._collect(rc)

    def _collect(self, rc: int) -> RawFeed:
        tok = self._tok
        error = None
        if rc < 0:
            if rc != lib.SL_E_STREAM:
                raise RuntimeError(_local_error(rc))
            err = lib.sl_tok_error(tok)
            error = (
                CONDITIONS[err.condition],
                ffi.string(err.message).decode("utf-8", "replace"),
                int(err.byte_offset),
                int(err.line),
                int(err.column),
            )
        elif rc == 0:
            return _raw(RawFeed, (self._consumed[0], 0, _EMPTY, _EMPTY, b"", 0, None))
        packed = self._packed
        if lib.sl_tok_pack(tok, packed) < 0:
            raise MemoryError("out of memory in the tokenizer")
        n_ev = packed.events
        if n_ev == 0:
            return _raw(RawFeed, (self._consumed[0], 0, _EMPTY, _EMPTY, b"", 0, error))
        blob = ffi.unpack(packed.data, packed.size)
        view = memoryview(blob)
        nodes_off = packed.nodes_off
        pool_off = packed.pool_off
        return _raw(
            RawFeed,
            (
                self._consumed[0],
                n_ev,
                view[:nodes_off].cast("I"),
                view[nodes_off:pool_off].cast("I"),
                blob,
                pool_off,
                error,
            ),
        )


class Ring:
    """A bounded byte ring the transport writes into (see ringbuf.h)."""

    def __init__(self, capacity: int) -> None:
        if not AVAILABLE:
            raise RuntimeError(f"the native module is not available: {IMPORT_ERROR}")
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        ring = lib.sl_ring_new(capacity)
        if ring == ffi.NULL:
            raise MemoryError("sl_ring_new failed")
        self._ring = ffi.gc(ring, lib.sl_ring_free)
        self._ptr = ffi.new("uint8_t **")

    @property
    def capacity(self) -> int:
        return int(lib.sl_ring_capacity(self._ring))

    @property
    def readable(self) -> int:
        return int(lib.sl_ring_readable(self._ring))

    @property
    def writable(self) -> int:
        return int(lib.sl_ring_writable(self._ring))

    def get_buffer(self) -> memoryview:
        n = lib.sl_ring_write_ptr(self._ring, self._ptr)
        return memoryview(ffi.buffer(self._ptr[0], n))

    def commit(self, n: int) -> None:
        if n < 0 or lib.sl_ring_commit(self._ring, n) != 0:
            raise ValueError(f"commit({n}) exceeds the region handed out")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return int(lib.sl_ring_write(self._ring, ffi.from_buffer(data), len(data)))

    def clear(self) -> None:
        lib.sl_ring_clear(self._ring)

    def feed(self, tok: Tokenizer, max_events: int = 0) -> RawFeed:
        before = self.readable
        rc = lib.sl_ring_feed(self._ring, tok._tok, max_events)
        tok._consumed[0] = before - self.readable
        return tok._collect(rc)


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

"""The receive buffer a transport writes into and a parser reads from.

:func:`receive_buffer` gives the C ring (:class:`stanzalink.xml._native.Ring`)
when the native module is built, else :class:`ByteRing`, a bytearray with
the same interface and the same bounds.  Both have a fixed capacity: a full
buffer offers an empty region, never more memory.

    ring = receive_buffer(65536)
    buf = ring.get_buffer()          # the transport fills part of it
    ring.commit(n)
    events = parser.feed(ring.peek())  # read in place
    ring.consume(len(...))
"""

from __future__ import annotations

from typing import Protocol

from stanzalink.xml import _native

__all__ = ["ByteRing", "ReceiveBuffer", "receive_buffer"]


class ReceiveBuffer(Protocol):
    capacity: int

    @property
    def readable(self) -> int: ...

    @property
    def writable(self) -> int: ...

    def get_buffer(self) -> memoryview: ...

    def commit(self, n: int) -> None: ...

    def peek(self) -> memoryview: ...

    def consume(self, n: int) -> None: ...

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def clear(self) -> None: ...


class ByteRing:
    """The ring in Python (no native module): the same regions as ringbuf.c."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._view = memoryview(bytearray(capacity))
        self._head = 0  # oldest byte
        self._len = 0  # bytes stored
        self._region = 0  # length last handed out by get_buffer

    @property
    def readable(self) -> int:
        return self._len

    @property
    def writable(self) -> int:
        return self.capacity - self._len

    def get_buffer(self) -> memoryview:
        cap = self.capacity
        if self._len == cap:
            self._region = 0
            return self._view[:0]
        if self._len == 0:
            self._head = 0  # empty: hand out the largest region
        tail = (self._head + self._len) % cap
        end = cap if tail >= self._head else self._head
        self._region = end - tail
        return self._view[tail:end]

    def commit(self, n: int) -> None:
        if n < 0 or n > self._region:
            raise ValueError(f"commit({n}) exceeds the region handed out")
        self._len += n
        self._region -= n

    def peek(self) -> memoryview:
        head = self._head
        return self._view[head : min(head + self._len, self.capacity)]

    def consume(self, n: int) -> None:
        if n < 0 or n > self._len:
            raise ValueError(f"consume({n}) exceeds the bytes stored")
        self._head = (self._head + n) % self.capacity
        self._len -= n
        if self._len == 0:
            self._head = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        src = memoryview(data)
        done = 0
        while done < len(src):
            buf = self.get_buffer()
            n = min(len(buf), len(src) - done)
            if n == 0:
                break
            buf[:n] = src[done : done + n]
            self.commit(n)
            done += n
        self._region = 0
        return done

    def clear(self) -> None:
        self._head = self._len = self._region = 0


def receive_buffer(capacity: int, native: bool | None = None) -> ReceiveBuffer:
    """A receive buffer of ``capacity`` bytes: the C ring when the native
    module is built (or ``native`` is True), else :class:`ByteRing`."""
    if native is None:
        native = _native.AVAILABLE
    return _native.Ring(capacity) if native else ByteRing(capacity)

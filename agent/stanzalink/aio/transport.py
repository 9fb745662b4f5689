"""The client's end of one TCP (or TLS) connection: an asyncio
BufferedProtocol whose receive buffer is the ring of
:mod:`stanzalink.xml.ring`.

The transport (the socket's ``recv_into``, or the TLS transport's
``SSLObject.read``) writes into the ring's free space, ``buffer_updated``
commits what it wrote, and ``on_data`` reads the ring where the bytes lie
and drains it.  The ring's capacity is fixed; being drained on every read,
it always offers its whole capacity to the next one.

:func:`shrink_tls_buffer` trims asyncio's TLS layer under one of our
connections to a receive buffer of :data:`TLS_READ_BUFFER` bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stanzalink.xml import _native

if TYPE_CHECKING:
    from stanzalink.xml.ring import ReceiveBuffer

__all__ = ["TLS_READ_BUFFER", "Receiver", "ack_tls_reads", "shrink_tls_buffer"]

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 0)  # Linux

# One recv of ciphertext for asyncio's TLS layer.  Its default is 256 KiB per
# connection, zero-filled, so all of it resident.  The bytes go on into the
# SSLObject's MemoryBIO, which joins partial records, so any size is correct;
# this one holds the largest record TLS allows (RFC 5246 §6.2.3: 2^14 bytes
# of plaintext, at most 2,048 of expansion, and the 5-byte header), so a
# full record never costs a second read.
TLS_READ_BUFFER = 2**14 + 2048 + 5


def shrink_tls_buffer(transport: asyncio.BaseTransport, size: int = TLS_READ_BUFFER) -> bool:
    """Give the TLS protocol under ``transport`` (asyncio's SSLProtocol, the
    one of this connection only) a ``size``-byte receive buffer instead of
    its class-wide ``max_size``.  It relies on CPython's private attributes
    (``_ssl_protocol``, ``_ssl_buffer``, ``_ssl_buffer_view``, ``max_size``):
    where they are missing (another Python, uvloop) it does nothing and
    returns False."""
    proto = getattr(transport, "_ssl_protocol", None)
    buf = getattr(proto, "_ssl_buffer", None)
    if (
        proto is None
        or not isinstance(buf, bytearray)
        or not hasattr(proto, "_ssl_buffer_view")
        or not isinstance(getattr(proto, "max_size", None), int)
    ):
        return False
    # get_buffer grows the buffer back to max_size: the instance's own
    # max_size keeps it small (it also bounds _do_read__copied's reads)
    proto.max_size = size
    if len(buf) > size:
        proto._ssl_buffer = bytearray(size)
        proto._ssl_buffer_view = memoryview(proto._ssl_buffer)
    return True


def ack_tls_reads(transport: asyncio.BaseTransport, receiver: Receiver) -> bool:
    """Have every read of asyncio's TLS layer under ``transport`` acknowledged
    at once (``receiver.ack_now``), not only the reads that bring data to
    ``receiver``: records without data, such as the session tickets a TLS
    1.3 server sends after the handshake, would otherwise wait for the
    delayed ACK, and a server with Nagle's algorithm holds its next segment
    (the answer to our stream header) until then, 40 ms.  Relies on
    CPython's ``_ssl_protocol``; where it is missing it does nothing and
    returns False."""
    proto: Any = getattr(transport, "_ssl_protocol", None)
    inner = getattr(proto, "buffer_updated", None)
    if receiver.quickack is None or inner is None:
        return False

    def buffer_updated(nbytes: int) -> None:
        receiver.ack_now()
        inner(nbytes)

    proto.buffer_updated = buffer_updated
    receiver.acked_below = True
    return True


def _byte_ring(size: int) -> ReceiveBuffer:
    """The pure-Python ring, where the native module is not built (as
    :func:`stanzalink.xml.ring.receive_buffer` chooses; that module is
    loaded only then)."""
    from stanzalink.xml.ring import ByteRing

    return ByteRing(size)


class Receiver(asyncio.BufferedProtocol):
    """``on_data(self)`` after each read (the bytes are in ``self.ring``; it
    must drain the ring), ``on_lost(self, exc)`` when the connection ends."""

    def __init__(
        self,
        size: int,
        on_data: Callable[[Receiver], None],
        on_lost: Callable[[Receiver, Exception | None], None],
    ) -> None:
        self.ring: ReceiveBuffer = _native.Ring(size) if _native.AVAILABLE else _byte_ring(size)
        self.transport: asyncio.Transport | None = None
        self.quickack: socket.socket | None = None
        self.acked_below = False  # the TLS layer's reads acknowledge (ack_tls_reads)
        self._on_data = on_data
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if _TCP_QUICKACK and sock is not None:
            self.quickack = sock

    def get_buffer(self, sizehint: int) -> memoryview:
        # never empty: every buffer_updated drains the ring (asyncio treats an
        # empty buffer as a fatal error, and a full ring may not grow)
        return self.ring.get_buffer()

    def ack_now(self) -> None:
        """Acknowledge what comes next at once: a server that does not set
        TCP_NODELAY would otherwise hold its next segment ~40 ms for our
        delayed ACK (each read calls this; the TLS handshake's reads do not
        come here, so the connection calls it once the handshake is done)."""
        if self.quickack is not None:
            with contextlib.suppress(OSError):
                self.quickack.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)

    def buffer_updated(self, nbytes: int) -> None:
        if not self.acked_below:
            self.ack_now()
        self.ring.commit(nbytes)
        self._on_data(self)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(self, exc)

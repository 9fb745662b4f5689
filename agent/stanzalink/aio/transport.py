"""The client's end of one TCP (or TLS) connection: an asyncio
BufferedProtocol whose receive buffer is the ring of
:mod:`stanzalink.xml.ring`.

The transport (the socket's ``recv_into``, or the TLS transport's
``SSLObject.read``) writes into the ring's free space, ``buffer_updated``
commits what it wrote, and ``on_data`` reads the ring where the bytes lie
and drains it.  The ring's capacity is fixed; being drained on every read,
it always offers its whole capacity to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from stanzalink.xml.ring import ReceiveBuffer, receive_buffer

__all__ = ["Receiver"]

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 0)  # Linux


class Receiver(asyncio.BufferedProtocol):
    """``on_data(self)`` after each read (the bytes are in ``self.ring``; it
    must drain the ring), ``on_lost(self, exc)`` when the connection ends."""

    def __init__(
        self,
        size: int,
        on_data: Callable[[Receiver], None],
        on_lost: Callable[[Receiver, Exception | None], None],
    ) -> None:
        self.ring: ReceiveBuffer = receive_buffer(size)
        self.transport: asyncio.Transport | None = None
        self.quickack: socket.socket | None = None
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
        self.ack_now()
        self.ring.commit(nbytes)
        self._on_data(self)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(self, exc)

"""Every read of the TLS layer under the client's connection is
acknowledged at once, also one that brings no data: a TLS 1.3 server's
session tickets, sent after the handshake, would otherwise wait for the
delayed ACK, and a server with Nagle's algorithm holds its next segment
(the answer to our stream header) until then, 40 ms."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from stanzalink.aio.transport import Receiver, ack_tls_reads
from stanzalink_testing.prosody import DOMAIN, make_certs

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's"
)


class Counting(Receiver):
    def __init__(self) -> None:
        super().__init__(4096, lambda r: r.ring.consume(r.ring.readable), self._lost)
        self.lost = asyncio.Event()
        self.acks = 0
        self.reads = 0

    def ack_now(self) -> None:
        self.acks += 1
        super().ack_now()

    def _lost(self, receiver: Receiver, exc: Exception | None) -> None:
        self.lost.set()

    def buffer_updated(self, nbytes: int) -> None:
        self.reads += 1
        super().buffer_updated(nbytes)


def test_a_tls_read_without_data_is_acknowledged(tmp_path: Path) -> None:
    """After one byte of data the server ends its stream: its close_notify
    alert is a TLS record with no data, read by the TLS layer alone (as the
    session tickets are), and it is acknowledged as the byte's read is."""
    ca, cert, key = make_certs(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))

    async def main() -> tuple[int, int, int]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)  # the byte's read first, then the alert's
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(
            Counting, "127.0.0.1", port, ssl=client_ctx, server_hostname=DOMAIN
        )
        assert ack_tls_reads(transport, proto)
        before = proto.acks
        transport.write(b"ping")
        await asyncio.wait_for(proto.lost.wait(), 10)
        server.close()
        await server.wait_closed()
        return proto.acks - before, proto.reads, proto.ring.readable

    acks, reads, left = asyncio.run(main())
    assert reads == 1 and left == 0  # one read brought the byte, drained
    # that read and the alert's were acknowledged (the receiver does not
    # acknowledge its read a second time)
    assert acks == 2

"""shrink_tls_buffer leaves alone what is not CPython's TLS transport."""

from __future__ import annotations

import asyncio
import socket

from stanzalink.aio.transport import shrink_tls_buffer


def test_plain_transport_is_left_alone() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=a)
        assert shrink_tls_buffer(transport) is False
        transport.close()
        b.close()

    asyncio.run(main())


def test_missing_private_attributes_do_nothing() -> None:
    class Other:  # a TLS protocol of another shape (another Python, uvloop)
        max_size = 256 * 1024

    class Transport(asyncio.Transport):
        _ssl_protocol = Other()

    transport = Transport()
    assert shrink_tls_buffer(transport) is False
    assert Transport._ssl_protocol.max_size == 256 * 1024

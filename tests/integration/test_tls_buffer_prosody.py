"""The client's TLS connections read ciphertext through a small buffer
(asyncio's default is 256 KiB per connection), still take stanzas larger
than it, and leave every other TLS connection of the process alone."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from typing import Any

import pytest

from stanzalink.aio.client import Client
from stanzalink.aio.transport import TLS_READ_BUFFER
from stanzalink.xml import Element
from stanzalink_testing.prosody import Prosody

from .peers import client_config, login, slix_client

_new = itertools.count(1)

_BIG = 100 * 1024  # a message body well over the TLS buffer


def _ssl_protocol(transport: Any) -> Any:
    proto = getattr(transport, "_ssl_protocol", None)
    if proto is None or not hasattr(proto, "_ssl_buffer"):
        pytest.skip("this Python's asyncio has no SSLProtocol._ssl_buffer")
    return proto


def _buffer_sizes(client: Client) -> tuple[int, int]:
    proto = client._proto
    assert proto is not None and proto.transport is not None
    tls = _ssl_protocol(proto.transport)
    return len(tls._ssl_buffer), tls.max_size


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_small_tls_buffer_takes_a_large_stanza(
    prosody: Prosody, account: tuple[str, str], direct_tls: bool
) -> None:
    jid, pw = account
    ctl_jid = f"bufctl{next(_new)}@{prosody.domain}"
    prosody.register(ctl_jid.split("@")[0], "ctl-password")
    port = prosody.tls_port if direct_tls else prosody.port
    assert _BIG > 3 * TLS_READ_BUFFER

    async def main() -> None:
        client, _ = await login(client_config(prosody, jid, pw, port=port, direct_tls=direct_tls))
        got: asyncio.Queue[Element] = asyncio.Queue()
        client.on_message(got.put_nowait)
        assert _buffer_sizes(client) == (TLS_READ_BUFFER, TLS_READ_BUFFER)

        # a plain asyncio TLS connection in the same process keeps the default
        ctx = ssl.create_default_context(cafile=str(prosody.ca))
        _, writer = await asyncio.open_connection(
            "127.0.0.1", prosody.tls_port, ssl=ctx, server_hostname=prosody.domain
        )
        other = _ssl_protocol(writer.transport)
        default = type(other).max_size
        assert default > TLS_READ_BUFFER
        assert len(other._ssl_buffer) == default and other.max_size == default
        writer.close()

        ctl = await slix_client(prosody, ctl_jid, "ctl-password")
        body = "".join(chr(0x41 + i % 26) for i in range(_BIG - 1)) + "\u2713"
        ctl.send_message(mto=str(client.session.jid), mbody=body, mtype="chat")
        msg = await asyncio.wait_for(got.get(), 20)
        assert msg.findtext("{jabber:client}body") == body
        # get_buffer did not grow it back to asyncio's default
        assert _buffer_sizes(client) == (TLS_READ_BUFFER, TLS_READ_BUFFER)
        ctl.disconnect()
        await client.close()

    asyncio.run(main())

"""A scripted XMPP server on loopback, for the client's behaviour against
what a real server rarely or never does (stream errors at any stage,
redirects, stalls, a link that dies after login, answers a broken device
could give).

:class:`Server` listens on a free port of 127.0.0.1 (plain TCP, or direct
TLS when given a context) and runs a :data:`Script` for every connection;
the pieces below play the usual parts of a login with real TLS (STARTTLS,
PLAIN, bind), so a script only writes what differs.  The client it serves is
``device1@`` the test domain, bound to resource ``agent``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable

from .prosody import DOMAIN

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='"
    + DOMAIN.encode()
    + b"' version='1.0'>"
)
FEAT_STARTTLS = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
    b"</starttls></stream:features>"
)
FEAT_PLAIN = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)
FEAT_BIND = b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"

# reader, writer, and which connection this is (1 for the first)
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


def stream_error(condition: str, body: str = "") -> bytes:
    """A stream error and the end of the stream."""
    return (
        f"<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{body}"
        f"</{condition}></stream:error></stream:stream>"
    ).encode()


class Server:
    """Runs ``script`` for every connection (for 10 s at most); counts them.
    With ``tls`` the connections are direct TLS, and a connection whose
    handshake fails is not counted."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await asyncio.wait_for(self.script(reader, writer, self.connections), 10)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def read_until(reader: asyncio.StreamReader, pattern: bytes) -> bytes:
    """Read until what came matches ``pattern`` (a regular expression); all
    of it.  The client closing first raises IncompleteReadError."""
    data = b""
    while not re.search(pattern, data):
        chunk = await reader.read(4096)
        if not chunk:
            raise asyncio.IncompleteReadError(data, None)
        data += chunk
    return data


async def open_stream(reader: asyncio.StreamReader) -> None:
    """Wait for the client's stream header."""
    await read_until(reader, rb"<stream:stream[^>]*>")


async def starttls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: ssl.SSLContext
) -> None:
    """The client's first stream, STARTTLS with ``ctx``, and the client's
    stream header over TLS."""
    await open_stream(reader)
    writer.write(HEADER + FEAT_STARTTLS)
    await read_until(reader, rb"<starttls[^>]*/>")
    writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await writer.drain()
    await writer.start_tls(ctx)
    await open_stream(reader)


async def plain_and_bind(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """On a stream the client has just opened over TLS: the header, PLAIN
    (any password), the stream restart and bind."""
    writer.write(HEADER + FEAT_PLAIN)
    await read_until(reader, rb"</auth>")
    writer.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    await open_stream(reader)
    writer.write(HEADER + FEAT_BIND)
    bind = await read_until(reader, rb"</iq>")
    iq_id = re.search(rb"id=[\"']([^\"']+)", bind).group(1)  # type: ignore[union-attr]
    writer.write(
        b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<jid>device1@" + DOMAIN.encode() + b"/agent</jid></bind></iq>"
    )
    await writer.drain()


async def login(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: ssl.SSLContext
) -> None:
    """STARTTLS, PLAIN, bind: the client is online after this."""
    await starttls(reader, writer, ctx)
    await plain_and_bind(reader, writer)

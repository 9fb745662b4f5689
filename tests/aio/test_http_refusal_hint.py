"""``stanzalink http``'s refusal hint against answers a hostile or broken
device could give to its disco#info question: none, a huge feature list,
a result without a query, an error.  The server is scripted on loopback
(real TCP, real TLS) and plays the device's answer; the client is the
real one.  Each answer gives a hint that says no more than it knows,
within the time the command was given."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from pathlib import Path

import pytest

from stanzalink.cli.http import refusal_hint
from stanzalink_testing.scripted import Server, login, read_until

from .test_hostile_server import certs, make_client

__all__ = ["certs"]  # the fixture

DEVICE = "device2@example.net/agent"
ME = "device1@example.net"
RESULT = "<iq type='result' id='{id}' from='{device}'>{query}</iq>"
INFO = "<query xmlns='http://jabber.org/protocol/disco#info'>{features}</query>"
HTTP = "<feature var='urn:xmpp:http'/>"


async def hint_for(
    reply: str | None, certs: tuple[Path, ssl.SSLContext], timeout: float = 5.0
) -> tuple[str, float]:
    """The hint when the device answers its disco#info with ``reply``
    (``{id}`` the question's id, ``{device}`` its JID; None: never), and
    how long the question took."""
    ca, ctx = certs

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await login(reader, writer, ctx)
        asked = await read_until(reader, rb"</iq>")
        found = re.search(rb"<iq[^>]* id=\"([^\"]+)\"", asked)
        assert found is not None, asked
        if reply is not None:
            writer.write(reply.format(id=found.group(1).decode(), device=DEVICE).encode())
            await writer.drain()
        await read_until(reader, rb"</stream:stream>")  # the client's close
        writer.write(b"</stream:stream>")

    async with Server(script) as server:
        client = make_client(server.port, ca, reconnect=False)
        await client.start()
        try:
            await client.wait_online(5)
            started = time.monotonic()
            hint = await refusal_hint(client, DEVICE, "/admin", ME, timeout)
            return hint, time.monotonic() - started
        finally:
            await client.close()


async def test_no_answer_waits_no_longer_than_the_command(
    certs: tuple[Path, ssl.SSLContext],
) -> None:
    """A device that refuses the request and never answers disco#info kept
    ``stanzalink http --timeout 1`` waiting 10 s more."""
    hint, took = await hint_for(None, certs, timeout=0.5)
    assert took < 5, took
    assert hint == f" (is the device online as {DEVICE}, and is {ME} in its [access]?)"


async def test_a_huge_feature_list_is_read(certs: tuple[Path, ssl.SSLContext]) -> None:
    many = "".join(f"<feature var='urn:example:{i}'/>" for i in range(20000))
    query = INFO.format(features=many + HTTP)
    hint, _ = await hint_for(RESULT.format(id="{id}", device="{device}", query=query), certs)
    assert hint.startswith(" (refused by the device's [http] paths: /admin needs"), hint


@pytest.mark.parametrize(
    "reply",
    [
        RESULT.format(id="{id}", device="{device}", query=""),
        RESULT.format(id="{id}", device="{device}", query="<query xmlns='urn:example:x'/>"),
    ],
    ids=["no-query", "other-query"],
)
async def test_an_answer_without_disco_info_is_not_read_as_one(
    reply: str, certs: tuple[Path, ssl.SSLContext]
) -> None:
    """An answer that holds no disco#info says nothing of [http] origin."""
    hint, _ = await hint_for(reply, certs)
    assert "origin" not in hint and "paths" not in hint, hint
    said = f" ({DEVICE} answered disco#info without its features: is it a stanzalink device?)"
    assert hint == said


async def test_an_error_answer(certs: tuple[Path, ssl.SSLContext]) -> None:
    reply = (
        "<iq type='error' id='{id}' from='{device}'><error type='cancel'>"
        "<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>all is fine\nstanzalink http: OK</text>"
        "</error></iq>"
    )
    hint, _ = await hint_for(reply, certs)
    assert hint == f" (is the device online as {DEVICE}, and is {ME} in its [access]?)"

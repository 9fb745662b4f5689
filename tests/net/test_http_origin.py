"""The device's HTTP/1.1 origin client against a raw loopback server that
answers with exactly the bytes each test gives (good and broken ones)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from stanzalink.net.http_origin import HTTPOrigin, OriginError, WSGIOrigin, make_origin


@asynccontextmanager
async def raw_origin(answer: bytes, hold: float = 0.0) -> AsyncIterator[tuple[str, list[bytes]]]:
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = [
            int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.startswith(b"Content-Length")
        ]
        body = await reader.readexactly(length[0]) if length else b""
        got.append(head + body)
        if hold:
            await asyncio.sleep(hold)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        server.close()


async def test_request_bytes_and_sized_body() -> None:
    async with raw_origin(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello") as (
        url,
        got,
    ):
        origin = HTTPOrigin(url + "/base/", timeout=5)
        resp = await origin("POST", "/api?x=1", [("Content-Type", "text/plain")], b"body")
        assert (resp.status, resp.reason, resp.length) == (201, "Created", 5)
        assert resp.headers == [("Content-Length", "5"), ("X-A", "1")]
        assert await resp.read(100) == b"hello"
    port = url.rsplit(":", 1)[1]
    assert (
        got[0]
        == (
            f"POST /base/api?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\nbody"
        ).encode()
    )


async def test_chunked_with_extensions_trailers_and_interim() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    async with raw_origin(answer) as (url, _):
        resp = await HTTPOrigin(url, timeout=5)("GET", "/", [], b"")
        assert resp.status == 200 and resp.length is None
        assert await resp.read(100) == b"hello, world"


async def test_body_until_close_head_and_limits() -> None:
    async with raw_origin(b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 3000) as (url, _):
        resp = await HTTPOrigin(url, timeout=5)("GET", "/", [], b"")
        with pytest.raises(OverflowError):
            await resp.read(2999)
    async with raw_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n") as (url, _):
        resp = await HTTPOrigin(url, timeout=5)("HEAD", "/", [], b"")
        assert resp.length == 99 and await resp.read(10) == b""  # HEAD: the length, no body


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"",
    ],
)
async def test_broken_origins_are_origin_errors(answer: bytes) -> None:
    async with raw_origin(answer) as (url, _):
        with pytest.raises(OriginError):
            resp = await HTTPOrigin(url, timeout=5)("GET", "/", [], b"")
            await resp.read(1 << 20)


async def test_timeout_unreachable_and_injection() -> None:
    async with raw_origin(b"HTTP/1.1 204 No Content\r\n\r\n", hold=2) as (url, _):
        with pytest.raises(TimeoutError):
            await HTTPOrigin(url, timeout=0.3)("GET", "/", [], b"")
        origin = HTTPOrigin(url, timeout=5)
        for headers, target in (([("X", "a\r\nInjected: 1")], "/"), ([("Bad Name", "v")], "/"),
                                ([], "/a b"), ([], "/a\r\nX: y"), ([], "http://x/")):  # fmt: skip
            with pytest.raises(ValueError):
                await origin("GET", target, headers, b"")
    with pytest.raises(OriginError):
        await HTTPOrigin(url, timeout=5)("GET", "/", [], b"")  # the server is gone
    with pytest.raises(ValueError):
        HTTPOrigin("ftp://127.0.0.1/")


async def test_wsgi_origin_limits() -> None:
    calls = []

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/slow":
            import time

            time.sleep(0.5)
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"a" * (200 if environ["PATH_INFO"] == "/big" else 5)]

    origin = make_origin(app, timeout=0.2, max_response_body=100)
    assert isinstance(origin, WSGIOrigin)
    resp = await origin("GET", "/a%20b?q=1", [("Accept", "*/*")], b"")
    assert (resp.status, resp.headers) == (200, [("Content-Type", "text/plain")])
    assert await resp.read(10) == b"aaaaa" and calls == ["/a b"]
    with pytest.raises(OverflowError):
        await origin("GET", "/big", [], b"")
    with pytest.raises(TimeoutError):
        await origin("GET", "/slow", [], b"")
    origin.close()


async def test_status_without_reason_gets_the_standard_phrase() -> None:
    from stanzalink.xep.http.feature import Http
    from stanzalink_testing.harness import Harness

    async with raw_origin(b"HTTP/1.1 418\r\nContent-Length: 0\r\n\r\n") as (url, _):
        h = Harness([Http], {"admin": ["a@example.org"]}, http={"origin": url})
        h.receive("<iq type='set' from='a@example.org/x' id='r'><req xmlns='urn:xmpp:http' "
                  "method='GET' resource='/' version='1.1'/></iq>")  # fmt: skip
        resp = (await h.next_sent()).find("{urn:xmpp:http}resp")
        assert resp is not None
        assert (resp.get("statusCode"), resp.get("statusMessage")) == ("418", "I'm a Teapot")
        await h.close()

"""The SOCKS5 client against scripted SOCKS5 servers on loopback (honest,
malformed and hostile), and the local streamhost."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from stanzalink.net.socks5 import (
    AllCandidatesFailed,
    Socks5Error,
    StreamHostServer,
    connect,
    connect_first,
    connect_request,
)
from stanzalink.xep.jingle.s5b import Candidate, by_priority, priority
from stanzalink_testing.prosody import free_port

DST = hashlib.sha1(b"sid" + b"a@example.net/x" + b"b@example.net/y").hexdigest()
GREETING = b"\x05\x01\x00"
REQUEST = b"\x05\x01\x00\x03\x28" + DST.encode() + b"\x00\x00"
GOOD_REPLY = b"\x05\x00\x00\x03\x28" + DST.encode() + b"\x00\x00"

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Scripted:
    """A loopback server running ``script`` per connection; records what it read."""

    script: Script
    port: int = 0
    server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._run, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _run(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await self.script(r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()


def replies(method: bytes, reply: bytes | None = None, then: bytes = b"") -> Script:
    """Check the client's greeting and request bytes, answer as given."""

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        assert await r.readexactly(3) == GREETING
        w.write(method)
        if reply is None:
            return
        assert await r.readexactly(len(REQUEST)) == REQUEST
        w.write(reply)
        await w.drain()
        if then:  # echo mode: send `then`, then echo one line
            w.write(then)
            w.write(await r.readline())
            await w.drain()

    return script


async def test_honest_streamhost_gives_a_stream() -> None:
    async with Scripted(replies(b"\x05\x00", GOOD_REPLY, then=b"hello\n")) as srv:
        s = await connect("127.0.0.1", srv.port, DST, timeout=5)
        assert await s.readexactly(6) == b"hello\n"
        await s.write(b"ping\n")
        assert await s.readexactly(5) == b"ping\n"
        await s.close()


@pytest.mark.parametrize(
    ("method", "reply", "reason"),
    [
        (b"\x04\x00", None, "not a SOCKS5 server (version 4 in method selection)"),
        (b"\x05\xff", None, "no acceptable authentication method (server chose 255)"),
        (b"\x05\x02", None, "no acceptable authentication method (server chose 2)"),
        (b"\x05", None, "truncated method selection: 1 of 2 bytes, then end of stream"),
        (b"\x05\x00", b"\x05\x05\x00\x01" + bytes(6), "CONNECT refused: connection refused"),
        (b"\x05\x00", b"\x05\x01\x00\x03\x00\x00\x00",
         "CONNECT refused: general SOCKS server failure"),
        (b"\x05\x00", b"\x05\x63\x00\x01" + bytes(6), "CONNECT refused: reply code 99"),
        (b"\x05\x00", b"\x04\x00\x00\x03", "not a SOCKS5 server (version 4 in CONNECT reply)"),
        (b"\x05\x00", GOOD_REPLY[:15],
         "truncated CONNECT reply address: 10 of 42 bytes, then end of stream"),
        (b"\x05\x00", b"\x05\x00\x00",
         "truncated CONNECT reply: 3 of 4 bytes, then end of stream"),
        (b"\x05\x00", b"\x05\x00\x00\x03\x05hello\x00\x00",
         "CONNECT reply for another address 'hello'"),
        (b"\x05\x00", b"\x05\x00\x00\x03\x28" + hashlib.sha1(b"x").hexdigest().encode() + b"\0\0",
         "CONNECT reply for another address"),
        (b"\x05\x00", b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00",
         "CONNECT reply for another address '<address type 1>'"),
        (b"\x05\x00", b"\x05\x00\x00\x09", "CONNECT reply with unknown address type 9"),
    ],
)  # fmt: skip
async def test_malformed_and_hostile_replies(
    method: bytes, reply: bytes | None, reason: str
) -> None:
    async with Scripted(replies(method, reply)) as srv:
        with pytest.raises(Socks5Error) as info:
            await connect("127.0.0.1", srv.port, DST, timeout=5, where="proxy.example")
    assert info.value.where == "proxy.example"
    assert reason in info.value.reason


async def test_address_check_can_be_relaxed_for_streamhosts_answering_ipv4() -> None:
    reply = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00"
    async with Scripted(replies(b"\x05\x00", reply, then=b"ok\n")) as srv:
        s = await connect("127.0.0.1", srv.port, DST, timeout=5, check_address=False)
        assert await s.readexactly(3) == b"ok\n"
        await s.close()


async def test_a_silent_server_times_out() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async with Scripted(silent) as srv:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(Socks5Error) as info:
            await connect("127.0.0.1", srv.port, DST, timeout=0.3)
        assert loop.time() - t0 < 2
    assert info.value.reason == "no SOCKS5 connection within 0.3 s"


async def test_a_flood_of_reply_bytes_is_not_read_beyond_the_reply() -> None:
    """A hostile streamhost answers with a huge address: the client reads
    exactly the announced 255 bytes + port and refuses, buffering no more."""
    flood = b"\x05\x00\x00\x03\xff" + b"A" * 255 + b"\0\0" + b"B" * 1_000_000
    async with Scripted(replies(b"\x05\x00", flood)) as srv:
        with pytest.raises(Socks5Error) as info:
            await connect("127.0.0.1", srv.port, DST, timeout=5)
    assert "another address 'AAAA" in info.value.reason


async def test_closed_port_names_the_candidate() -> None:
    port = free_port()
    cand = Candidate("c9", "127.0.0.1", port, "peer@example.net/x", priority("direct"))
    with pytest.raises(AllCandidatesFailed) as info:
        await connect_first([cand], DST, timeout=2)
    (fail,) = info.value.failures
    assert fail.where == f"candidate c9 peer@example.net/x at 127.0.0.1:{port}"
    assert fail.reason.startswith("TCP connect failed")
    assert "candidate c9" in str(info.value)


async def test_connect_first_tries_in_priority_order_and_says_why_each_failed() -> None:
    refused = Scripted(replies(b"\x05\x00", b"\x05\x02\x00\x01" + bytes(6)))
    good = Scripted(replies(b"\x05\x00", GOOD_REPLY, then=b"hi\n"))
    async with refused, good:
        closed = free_port()
        cands = [
            Candidate("proxy", "127.0.0.1", good.port, "proxy.example", priority("proxy")),
            Candidate("best", "127.0.0.1", refused.port, "a@x/y", priority("direct", 9)),
            Candidate("next", "127.0.0.1", closed, "a@x/y", priority("direct", 1)),
        ]
        seen: list[str] = []

        def dst(c: Candidate) -> str:
            seen.append(c.cid)
            return DST

        used, stream = await connect_first(by_priority(cands), dst, timeout=2)
        assert used.cid == "proxy"
        assert seen == ["best", "next", "proxy"]
        assert await stream.readexactly(3) == b"hi\n"
        await stream.close()
        with pytest.raises(AllCandidatesFailed) as info:
            await connect_first(by_priority(cands[1:]), DST, timeout=2)
        reasons = [(f.where.split()[1], f.reason.split(":")[0]) for f in info.value.failures]
        assert reasons == [("best", "CONNECT refused"), ("next", "TCP connect failed")]


async def test_local_streamhost_accepts_the_expected_hash_only() -> None:
    host = StreamHostServer(timeout=2)
    h, port = await host.start()
    try:
        waiting = host.expect(DST)
        client = await connect(h, port, DST, timeout=5)
        server_side = await asyncio.wait_for(waiting, 5)
        await client.write(b"to server")
        assert await server_side.readexactly(9) == b"to server"
        await server_side.write(b"to client")
        assert await client.readexactly(9) == b"to client"
        client.write_eof()
        assert await server_side.read() == b""
        await client.close()
        await server_side.close()
        # the hash was used up; another is refused with "not allowed"
        with pytest.raises(Socks5Error) as info:
            await connect(h, port, DST, timeout=5)
        assert info.value.reason == "CONNECT refused: connection not allowed by ruleset"
    finally:
        await host.close()


async def test_local_streamhost_refuses_bad_greetings_and_commands() -> None:
    host = StreamHostServer(timeout=0.5)
    h, port = await host.start()
    host.expect(DST)
    try:
        for hello, request, want in [
            (b"\x04\x01\x00", b"", b"\x05\xff"),  # SOCKS4
            (b"\x05\x01\x02", b"", b"\x05\xff"),  # username/password only
            (b"\x05\x01\x00", b"\x05\x02\x00\x03", b"\x05\x00\x05\x07"),  # BIND
            (b"\x05\x01\x00", b"\x05\x01\x00\x01", b"\x05\x00\x05\x08"),  # IPv4 address
        ]:
            r, w = await asyncio.open_connection(h, port)
            w.write(hello + request)
            got = await asyncio.wait_for(r.read(100), 5)
            assert got.startswith(want), (hello, request, got)
            assert await asyncio.wait_for(r.read(100), 5) == b""  # and it hung up
            w.close()
        # a client that never finishes its handshake is dropped after the timeout
        r, w = await asyncio.open_connection(h, port)
        w.write(b"\x05\x01")
        assert await asyncio.wait_for(r.read(100), 5) == b""
        w.close()
        # the expected hash is still there for the real peer
        s = await connect(h, port, DST, timeout=5)
        await s.close()
    finally:
        await host.close()


async def test_bounded_buffers_push_back_on_a_sender() -> None:
    """A receiver that does not read stops the sender (drain blocks) instead
    of letting buffers grow."""
    host = StreamHostServer(limit=64 * 1024)
    h, port = await host.start()
    try:
        waiting = host.expect(DST)
        client = await connect(h, port, DST, timeout=5, limit=64 * 1024)
        server_side = await asyncio.wait_for(waiting, 5)
        sent = 0
        block = b"x" * 65536
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                while sent < 512 * 1024 * 1024:
                    await client.write(block)
                    sent += len(block)
        # kernel socket buffers plus the two bounded stream buffers, not 512 MiB
        assert sent < 64 * 1024 * 1024
        await client.close()
        await server_side.close()
    finally:
        await host.close()


def test_connect_request_bytes() -> None:
    assert connect_request(DST) == REQUEST
    with pytest.raises(ValueError):
        connect_request("x" * 256)

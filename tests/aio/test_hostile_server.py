"""The connection loop against a scripted hostile server on loopback: what a
real server never sends (stream errors before TLS, redirects to itself or to
nowhere, garbage DNS answers, a server that stalls).  For each, the client
stays alive and tries again within its documented bounds.

The server speaks real TCP and real TLS (a private CA made by openssl); the
client is the real :class:`~stanzalink.aio.client.Client`, with its waits
scaled down (``backoff_base``, ``negotiation_timeout``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stanzalink.aio.client import Client, ClientConfig, parse_redirect
from stanzalink.jid import JID
from stanzalink_testing.prosody import DOMAIN, make_certs
from stanzalink_testing.scripted import (
    FEAT_STARTTLS,
    HEADER,
    Script,
    Server,
    login,
    open_stream,
    read_until,
    starttls,
    stream_error,
)

# RFC 6120 §4.9.3, every defined condition
CONDITIONS = [
    "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout", "host-gone",
    "host-unknown", "improper-addressing", "internal-server-error", "invalid-from",
    "invalid-namespace", "invalid-xml", "not-authorized", "not-well-formed",
    "policy-violation", "remote-connection-failed", "reset", "resource-constraint",
    "restricted-xml", "see-other-host", "system-shutdown", "undefined-condition",
    "unsupported-encoding", "unsupported-feature", "unsupported-stanza-type",
    "unsupported-version",
]  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    ca, cert, key = make_certs(tmp_path_factory.mktemp("certs"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ca, ctx


def make_client(port: int, ca: Path | None, **kw: object) -> Client:
    options: dict[str, object] = {
        "jid": JID.parse(f"device1@{DOMAIN}"),
        "password": "secret",
        "resource": "agent",
        "host": "127.0.0.1",
        "port": port,
        "ca_file": str(ca) if ca else None,
        "stream_management": False,
        "backoff_base": 0.02,
        "backoff_cap": 0.1,
        "reconnect_spread": 0.05,
        "slow_base": 0.05,
        "negotiation_timeout": 2.0,
        "connect_timeout": 2.0,
    }
    options.update(kw)
    return Client(ClientConfig(**options))  # type: ignore[arg-type]


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def alive(client: Client) -> bool:
    return not client._closed_event.is_set() and client.crashed is None


async def run_against(script: Script, ca: Path | None, connections: int, **kw: object) -> Client:
    """Start a client against ``script``; return it once the server saw
    ``connections`` connections, checked alive, then closed."""
    async with Server(script) as server:
        client = make_client(server.port, ca, **kw)
        await client.start()
        try:
            await until(
                lambda: server.connections >= connections or not alive(client),
                10,
                f"{connections} connections",
            )
            assert alive(client), client._final_error
        finally:
            await client.close()
    return client


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_no_stream_error_before_tls_stops_the_client(condition: str) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await open_stream(reader)
        body = "127.0.0.1:9" if condition == "see-other-host" else ""
        writer.write(HEADER + stream_error(condition, body))
        await writer.drain()

    await run_against(script, None, 3)


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_no_stream_error_after_tls_stops_the_client(
    condition: str, certs: tuple[Path, ssl.SSLContext]
) -> None:
    ca, ctx = certs

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await login(reader, writer, ctx)
        body = (
            ""
            if condition != "see-other-host"
            else f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
        )
        writer.write(stream_error(condition, body))
        await writer.drain()

    await run_against(script, ca, 3)


async def test_conflict_after_login_is_logged_and_retried_slowly(
    certs: tuple[Path, ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    ca, ctx = certs

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await login(reader, writer, ctx)
        writer.write(stream_error("conflict"))
        await writer.drain()

    caplog.set_level(logging.INFO)
    await run_against(script, ca, 2, slow_base=1.0, slow_cap=2.0)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"another client took resource agent of device1@{DOMAIN}" in m for m in errors)
    waits = [
        float(m.group(1))
        for r in caplog.records
        if (m := re.match(r"reconnecting in ([\d.]+) s", r.getMessage()))
    ]
    assert waits and all(w >= 0.5 for w in waits)  # at least half of slow_base


async def test_redirects_to_itself_are_followed_a_few_times_in_a_row_only(
    certs: tuple[Path, ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    ca, ctx = certs
    port = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await starttls(reader, writer, ctx)
        writer.write(HEADER + stream_error("see-other-host", f"127.0.0.1:{port}"))
        await writer.drain()

    caplog.set_level(logging.INFO)
    async with Server(script) as server:
        port = server.port
        client = make_client(server.port, ca, max_redirects=3)
        await client.start()
        try:
            await until(lambda: server.connections >= 9, 10, "9 connections")
            assert alive(client)
        finally:
            await client.close()
    lines = [r.getMessage() for r in caplog.records]
    followed = [m for m in lines if m.startswith("following the server's redirect")]
    ignored = [m for m in lines if "redirects in a row" in m]
    assert followed and ignored
    run = 0
    for m in lines:
        if m.startswith("following the server's redirect"):
            run += 1
            assert run <= 3
        elif "redirects in a row" in m:
            run = 0


@pytest.mark.parametrize(
    "target", ["127.0.0.1:70000", "127.0.0.1:0", "bad..name:5222", "[nothex]:1", "a:b:c", "x" * 70]
)
async def test_a_redirect_to_no_real_place_is_ignored(
    target: str, certs: tuple[Path, ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    ca, ctx = certs

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await starttls(reader, writer, ctx)
        writer.write(HEADER + stream_error("see-other-host", target))
        await writer.drain()

    await run_against(script, ca, 3)
    assert any("not a host[:port]" in r.getMessage() for r in caplog.records)


def test_parse_redirect() -> None:
    assert parse_redirect("a.example:5223", 5222) == ("a.example", 5223)
    assert parse_redirect("a.example", 5222) == ("a.example", 5222)
    assert parse_redirect("[::1]:5223", 5222) == ("::1", 5223)
    assert parse_redirect("[::1]", 5222) == ("::1", 5222)
    for bad in ["", ":", "a:", "a:-1", "a:65536", "a:99999999999", "::1", "[::1", "[::1]x", "a b"]:
        assert parse_redirect(bad, 5222) is None, bad


async def test_a_server_that_stalls_mid_negotiation_is_left(
    certs: tuple[Path, ssl.SSLContext],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await open_stream(reader)
        writer.write(HEADER)  # and then nothing: no features
        await writer.drain()
        await asyncio.sleep(5)

    await run_against(script, None, 3, negotiation_timeout=0.3)


async def test_a_server_that_stalls_the_tls_handshake_is_left(
    certs: tuple[Path, ssl.SSLContext],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await open_stream(reader)
        writer.write(HEADER + FEAT_STARTTLS)
        await read_until(reader, rb"<starttls[^>]*/>")
        writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await writer.drain()
        await asyncio.sleep(5)  # no handshake

    await run_against(script, certs[0], 3, connect_timeout=0.3, negotiation_timeout=5)


async def test_a_session_ended_at_once_does_not_reset_the_backoff(
    certs: tuple[Path, ssl.SSLContext],
) -> None:
    """A stanza (or a server) that ends every session right after login must
    not make a hot loop: the count of attempts goes on growing."""
    ca, ctx = certs
    async with Server(lambda r, w, n: kill_after_login(r, w, ctx)) as server:
        client = make_client(server.port, ca, backoff_cap=30.0, backoff_base=0.005)
        await client.start()
        try:
            await until(lambda: server.connections >= 5, 15, "5 connections")
            assert alive(client)
            assert client._reconnect.attempt >= 4
        finally:
            await client.close()


async def kill_after_login(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: ssl.SSLContext
) -> None:
    await login(reader, writer, ctx)
    writer.write(stream_error("internal-server-error"))
    await writer.drain()


async def test_a_ca_file_that_is_no_certificate_is_said_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("this is not a certificate\n")
    caplog.set_level(logging.INFO)
    client = make_client(1, bad)
    await client.start()
    try:
        await until(
            lambda: sum("reconnecting in" in r.getMessage() for r in caplog.records) >= 4,
            10,
            "4 attempts",
        )
        assert alive(client)
    finally:
        await client.close()
    said = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "cannot set up TLS" in r.getMessage()
    ]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert "server.ca_file" in said[0].getMessage()


@contextlib.contextmanager
def dns_server(answer: Callable[[Any], None]) -> Iterator[tuple[tuple[str, int], list[int]]]:
    """A DNS server on loopback: ``answer(reply)`` fills each reply (dnslib);
    yields its address and a one-item list counting the queries."""
    dnslib = pytest.importorskip("dnslib")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    queries = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            queries[0] += 1
            reply = dnslib.DNSRecord.parse(data).reply()
            answer(reply)
            sock.sendto(reply.pack(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname(), queries
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@pytest.fixture
def garbage_dns() -> Iterator[tuple[tuple[str, int], list[int]]]:
    """SRV answers naming a target with a label no resolver can use."""
    dnslib = pytest.importorskip("dnslib")

    def answer(reply: Any) -> None:
        target = dnslib.DNSLabel([b"\xff\xfe\x00bad", b"x" * 63, b"test"])
        srv = dnslib.SRV(0, 0, 5222, target)
        reply.add_answer(dnslib.RR(reply.q.qname, dnslib.QTYPE.SRV, rdata=srv, ttl=60))

    with dns_server(answer) as server:
        yield server


@pytest.fixture
def empty_dns() -> Iterator[tuple[str, int]]:
    """A DNS server that knows no name (NXDOMAIN)."""

    def answer(reply: Any) -> None:
        reply.header.rcode = 3

    with dns_server(answer) as (address, _):
        yield address


async def test_a_garbage_srv_answer_is_retried(
    garbage_dns: tuple[tuple[str, int], list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    server, queries = garbage_dns
    client = make_client(0, None, host=None, nameservers=[server])
    await client.start()
    try:
        await until(lambda: queries[0] >= 3, 10, "3 DNS queries")
        assert alive(client)
    finally:
        await client.close()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1  # said once, however often it is tried


async def test_a_crashed_connection_loop_ends_the_agent_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the loop must not leave a process that lives on offline: the
    agent returns, non-zero, so its service manager starts it again."""
    from stanzalink.agent import Agent, load_config

    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "device1@{DOMAIN}"\npassword = "x"\n'
        '[server]\nhost = "127.0.0.1"\nport = 1\n'
    )
    agent = Agent(load_config(str(cfg)), features=[])

    def broken(retry: object) -> float:
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(agent.client, "_next_delay", broken)
    await asyncio.wait_for(agent.run(), 10)
    assert agent.exit_code == 1
    assert isinstance(agent.client.crashed, RuntimeError)


async def test_a_refused_connection_says_where_the_address_came_from(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    client = make_client(port, None)
    await client.start()
    try:
        await until(lambda: any("cannot connect" in r.getMessage() for r in caplog.records), 5, "")
    finally:
        await client.close()
    [line] = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert line.startswith(f"cannot connect to 127.0.0.1:{port} ([server] host): ")


async def test_without_srv_records_the_log_names_the_fallback_and_the_key(
    empty_dns: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A new user's smallest config has no [server]: when the JID's domain
    has no SRV record and is no server either, the log says both and names
    the key to set."""
    client = make_client(
        0,
        None,
        host=None,
        nameservers=[empty_dns],
        jid=JID.parse("device1@nosuch.invalid"),
        connect_timeout=1.0,
    )
    await client.start()
    try:
        await until(lambda: any("cannot connect" in r.getMessage() for r in caplog.records), 10, "")
    finally:
        await client.close()
    line = next(r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage())
    assert line.startswith(
        "cannot connect to nosuch.invalid:5222 (no SRV record for "
        "_xmpp-client._tcp.nosuch.invalid, so the JID's domain; set [server] host to the "
        "server's address if it is elsewhere): "
    )


@pytest.mark.parametrize("ring", ["native", "python"])
async def test_stanzas_cut_across_reads_of_a_small_ring_all_arrive(
    ring: str, certs: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receive ring is drained on every read, so a 64-byte ring carries
    a stream of larger stanzas over TLS, whichever ring it is."""
    from stanzalink.xml import _native

    if ring == "native" and not _native.AVAILABLE:
        pytest.skip("native module not built")
    if ring == "python":  # the client as where no native module is built
        from tests.conftest import expat_usable

        if not expat_usable():
            pytest.skip("this libexpat defers small chunks (the fallback's documented limit)")
        monkeypatch.setattr(_native, "AVAILABLE", False)
    ca, ctx = certs
    bodies = [f"message {i} " + "x" * (i * 7) for i in range(40)]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await login(reader, writer, ctx)
        for body in bodies:
            writer.write(f"<message from='a@{DOMAIN}/x'><body>{body}</body></message>".encode())
        await writer.drain()
        await read_until(reader, rb"</stream:stream>")
        writer.write(b"</stream:stream>")
        await writer.drain()

    got: list[str] = []
    async with Server(script) as server:
        client = make_client(server.port, ca, read_buffer=64)
        client.on_message(lambda m: got.append(m.findtext("{jabber:client}body") or ""))
        await client.start()
        try:
            await until(lambda: len(got) == len(bodies), 10, "every message")
            assert client.session.state.name == "ONLINE"
            ring_type = type(client._proto.ring).__name__ if client._proto else ""
            assert ring_type == ("Ring" if ring == "native" else "ByteRing")
        finally:
            await client.close()
    assert got == bodies

"""Failover between server addresses: a candidate that fails at any stage
(refused, a TLS handshake that fails, a stream error, a negotiation that
stalls, a link that dies after login) makes the next attempt start with the
next candidate; the certificate is checked against the JID's domain
whichever address answers.

The servers are scripted on loopback, with real TCP and real TLS (a private
CA made by openssl); the client is the real one, its waits scaled down.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.aio.reconnect import Reconnect
from stanzalink.aio.targets import Target
from stanzalink.jid import JID
from stanzalink_testing.prosody import DOMAIN, make_certs
from stanzalink_testing.scripted import (
    HEADER,
    Script,
    Server,
    login,
    open_stream,
    plain_and_bind,
    starttls,
    stream_error,
)

from .test_hostile_server import alive, dns_server, until


def test_each_failure_sends_the_next_attempt_to_the_next_candidate() -> None:
    reconnect = Reconnect(ClientConfig(JID.parse("d@example.net"), hosts=["a", "b", "c"]))

    def order() -> list[str]:
        return [t.host for t in asyncio.run(reconnect.targets(None))]

    assert order() == ["a", "b", "c"]
    reconnect.failed(Target("a", 5222, False))
    assert order() == ["b", "c", "a"]
    reconnect.failed(Target("b", 5222, False))
    assert order() == ["c", "a", "b"]
    reconnect.failed(Target("c", 5222, False))
    assert order() == ["a", "b", "c"]  # round the ring: a failed longest ago
    reconnect.failed(Target("a", 5222, False))
    reconnect.failed(Target("a", 5222, False))
    assert order() == ["b", "c", "a"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA, a server certificate for the JID's domain, and one from the same
    CA for "localhost" only (the name the client connects to)."""
    d = tmp_path_factory.mktemp("certs")
    ca, cert, key = make_certs(d)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "host.key", "-out", "host.csr")  # fmt: skip
    (d / "host.cnf").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "host.pem",
            "-extfile", "host.cnf")  # fmt: skip

    def context(cert: Path, key: Path) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        return ctx

    return {
        "ca": ca,
        "domain": context(cert, key),
        "host": context(d / "host.pem", d / "host.key"),
    }


async def stay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: Any) -> None:
    """Log the client in and keep the connection until it goes."""
    await login(reader, writer, ctx)
    await until_closed(reader, writer)


async def stay_direct(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    """The same over direct TLS."""
    await open_stream(reader)
    await plain_and_bind(reader, writer)
    await until_closed(reader, writer)


async def until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the client's end of the stream; return when it has gone."""
    while chunk := await reader.read(4096):
        if b"</stream:stream>" in chunk:
            writer.write(b"</stream:stream>")
            await writer.drain()


def client_for(hosts: list[str] | None, ca: Path, **kw: Any) -> Client:
    options: dict[str, Any] = {
        "password": "secret",
        "resource": "agent",
        "hosts": hosts,
        "ca_file": str(ca),
        "stream_management": False,
        "backoff_base": 0.02,
        "backoff_cap": 0.1,
        "reconnect_spread": 0.05,
        "negotiation_timeout": 1.0,
        "connect_timeout": 1.0,
    }
    options.update(kw)
    return Client(ClientConfig(JID.parse(f"device1@{DOMAIN}"), **options))


def stage_scripts(ctx: ssl.SSLContext, wrong: ssl.SSLContext) -> dict[str, Script]:
    async def tls_error(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await starttls(r, w, wrong)  # a certificate for another name

    async def shutdown(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await starttls(r, w, ctx)
        w.write(HEADER + stream_error("system-shutdown"))
        await w.drain()

    async def stall(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await open_stream(r)
        w.write(HEADER)  # and no features
        await w.drain()
        await asyncio.sleep(5)

    async def dies_after_login(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await login(r, w, ctx)
        await asyncio.sleep(0.2)
        w.transport.abort()

    return {
        "tls-error": tls_error,
        "system-shutdown": shutdown,
        "negotiation-stalls": stall,
        "dead-link": dies_after_login,
    }


async def test_a_refusing_candidate_is_passed_over_at_once(
    certs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ctx = certs["domain"]
    async with Server(lambda r, w, n: stay(r, w, ctx)) as good:
        client = client_for(["127.0.0.1:1", f"127.0.0.1:{good.port}"], certs["ca"])
        await client.start()
        try:
            await client.wait_online(10)
            assert good.connections == 1
        finally:
            await client.close()
    said = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("cannot connect to 127.0.0.1:1 ([server] hosts, 1 of 2): ") for m in said
    ), said


@pytest.mark.parametrize(
    "stage", ["tls-error", "system-shutdown", "negotiation-stalls", "dead-link"]
)
async def test_a_candidate_failing_at_any_stage_sends_the_next_attempt_elsewhere(
    stage: str, certs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ctx = certs["domain"]
    bad_script = stage_scripts(ctx, certs["host"])[stage]
    async with Server(bad_script) as bad, Server(lambda r, w, n: stay(r, w, ctx)) as good:
        client = client_for([f"127.0.0.1:{bad.port}", f"127.0.0.1:{good.port}"], certs["ca"])
        await client.start()
        try:
            await until(lambda: good.connections >= 1 and client.online, 10, "online on b")
            assert alive(client)
            # the first attempt went to a, the next one to b: a was not tried again
            assert bad.connections == 1
        finally:
            await client.close()
    said = [r.getMessage() for r in caplog.records]
    assert any(
        re.match(rf"127\.0\.0\.1:{bad.port} \(\[server\] hosts, 1 of 2\) ended: ", m) for m in said
    ), said


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
async def test_the_certificate_is_checked_against_the_domain_not_the_host(
    direct_tls: bool, certs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The client connects to "localhost"; a certificate for the JID's domain
    is accepted there, one for "localhost" (from the same CA) is not, and the
    client moves on to the next candidate."""
    ctx, wrong = certs["domain"], certs["host"]

    if direct_tls:  # the handshake with "wrong" fails before its script runs
        wrong_server, right_server = Server(stay_direct, tls=wrong), Server(stay_direct, tls=ctx)
    else:
        wrong_server = Server(lambda r, w, n: starttls(r, w, wrong))
        right_server = Server(lambda r, w, n: stay(r, w, ctx))
    caplog.set_level(logging.INFO)
    async with wrong_server, right_server:
        hosts = [f"localhost:{s.port}" for s in (wrong_server, right_server)]
        client = client_for(hosts, certs["ca"], direct_tls=direct_tls)
        try:
            await client.start()
            await client.wait_online(10)
            assert wrong_server.connections == (0 if direct_tls else 1)
            assert right_server.connections == 1
        finally:
            await client.close()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "certificate verify failed" in said or "CERTIFICATE_VERIFY_FAILED" in said, said


async def test_srv_targets_are_failover_candidates_in_rfc_2782_order(
    certs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Three SRV records: the lowest priority first; when it fails at login,
    the next attempt goes to the next record, not the same one again."""
    dnslib = pytest.importorskip("dnslib")  # as in test_dns.py: not on the target

    ctx = certs["domain"]
    caplog.set_level(logging.INFO)
    async with (
        Server(lambda r, w, n: dies(r, w, ctx)) as first,
        Server(lambda r, w, n: stay(r, w, ctx)) as second,
        Server(lambda r, w, n: stay(r, w, ctx)) as last,
    ):
        records = [(0, 1, first.port), (5, 1, second.port), (9, 1, last.port)]

        def answer(reply: Any) -> None:
            if str(reply.q.qname).startswith("_xmpp-client."):
                for prio, weight, port in records:
                    srv = dnslib.SRV(prio, weight, port, "127.0.0.1.")
                    reply.add_answer(dnslib.RR(reply.q.qname, dnslib.QTYPE.SRV, rdata=srv, ttl=60))
            else:
                reply.header.rcode = 3

        with dns_server(answer) as (address, _):
            client = client_for(None, certs["ca"], nameservers=[address])
            try:
                await client.start()
                await until(lambda: second.connections >= 1 and client.online, 10, "online")
                assert first.connections == 1 and last.connections == 0
            finally:
                await client.close()
    said = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"127.0.0.1:{first.port} (the SRV records of {DOMAIN}, 1 of 3) ended")
        for m in said
    ), said


async def dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: Any) -> None:
    await login(reader, writer, ctx)
    writer.write(stream_error("system-shutdown"))
    await writer.drain()

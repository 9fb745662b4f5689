"""SRV lookup against a real DNS server on loopback (dnslib, an independent
implementation of the wire format)."""

from __future__ import annotations

import asyncio
import random
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from stanzalink.aio.dns import (
    DNSError,
    Resolver,
    SRVRecord,
    Target,
    decode_srv_response,
    encode_query,
    order_srv,
    xmpp_targets,
)

# dnslib is a development dependency: the on-target suite (ptest) has no
# package of it and skips this file
dnslib = pytest.importorskip("dnslib")
QTYPE, RR, SRV, DNSRecord = dnslib.QTYPE, dnslib.RR, dnslib.SRV, dnslib.DNSRecord

ZONE: dict[str, list[tuple[int, int, int, str]]] = {
    "_xmpps-client._tcp.example.test.": [(5, 0, 5223, "tls.example.test.")],
    "_xmpp-client._tcp.example.test.": [
        (10, 60, 5222, "a.example.test."),
        (10, 40, 5222, "b.example.test."),
        (20, 0, 5222, "backup.example.test."),
    ],
    "_xmpp-client._tcp.noservice.test.": [(0, 0, 0, ".")],
    # the same host three times (its name's case and final dot aside), and
    # a "." among real targets (no service only when it is the only one)
    "_xmpp-client._tcp.dup.test.": [
        (10, 0, 5222, "a.dup.test."),
        (20, 0, 5222, "A.Dup.Test."),
        (5, 0, 5222, "."),
        (30, 0, 5222, "a.dup.test"),
        (30, 0, 5223, "a.dup.test."),
    ],
    # what no host name is: control characters, a colon, port 0
    "_xmpp-client._tcp.odd.test.": [
        (1, 0, 5222, "evil\nline\x1b[2J.odd.test."),
        (1, 0, 5222, "a:b.odd.test."),
        (1, 0, 0, "zero.odd.test."),
        (2, 0, 5222, "good.odd.test."),
    ],
    # 300 records, over TCP: at most MAX_ANSWERS of them are kept
    "_xmpp-client._tcp.many.test.": [(1, 0, 5222, f"h{i}.many.test.") for i in range(300)],
    # 40 records: more than fit in 512 bytes of UDP, so the answer is truncated
    "_xmpp-client._tcp.big.test.": [
        (1, 1, 5222, f"host-number-{i:02d}.a-rather-long-name.big.test.") for i in range(40)
    ],
}


def answer(data: bytes, limit: int | None) -> bytes:
    req = DNSRecord.parse(data)
    reply = req.reply()
    name = str(req.q.qname)
    if req.q.qtype == QTYPE.SRV and name in ZONE:
        for prio, weight, port, target in ZONE[name]:
            reply.add_answer(RR(name, QTYPE.SRV, rdata=SRV(prio, weight, port, target), ttl=60))
    else:
        reply.header.rcode = 3
    packed = reply.pack()
    if limit is not None and len(packed) > limit:
        reply.rr = []
        reply.header.tc = 1
        packed = reply.pack()
    return packed


@pytest.fixture
def dns_server() -> Iterator[tuple[str, int]]:
    class UDP(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(data, 512), self.client_address)

    class TCP(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            size = int.from_bytes(self.rfile.read(2), "big")
            out = answer(self.rfile.read(size), None)
            self.wfile.write(len(out).to_bytes(2, "big") + out)

    # the same port number for UDP and TCP; the TCP one may be taken (by
    # any connection on this machine), so try a few
    for _ in range(50):
        udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UDP)
        port = udp.server_address[1]
        try:
            tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), TCP)
            break
        except OSError:
            udp.server_close()
    else:
        pytest.fail("no port free for both UDP and TCP on 127.0.0.1")
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (udp, tcp)]
    for t in threads:
        t.start()
    yield ("127.0.0.1", port)
    for s in (udp, tcp):
        s.shutdown()
        s.server_close()


def test_targets_in_rfc_order(dns_server: tuple[str, int]) -> None:
    targets = asyncio.run(xmpp_targets("example.test", Resolver([dns_server], timeout=2)))
    assert targets[0] == Target("tls.example.test", 5223, True)
    assert {t.host for t in targets[1:3]} == {"a.example.test", "b.example.test"}
    assert targets[3] == Target("backup.example.test", 5222, False)


def test_no_records_falls_back_to_the_domain(dns_server: tuple[str, int]) -> None:
    targets = asyncio.run(xmpp_targets("nothing.test", Resolver([dns_server], timeout=2)))
    assert targets == [Target("nothing.test", 5222, False)]


def test_dot_target_means_no_service(dns_server: tuple[str, int]) -> None:
    assert asyncio.run(xmpp_targets("noservice.test", Resolver([dns_server], timeout=2))) == []


def test_truncated_answer_is_asked_again_over_tcp(dns_server: tuple[str, int]) -> None:
    records = asyncio.run(Resolver([dns_server], timeout=2).srv("_xmpp-client._tcp.big.test"))
    assert len(records) == 40 and records[0].port == 5222


def test_silent_server_times_out() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # receives, never answers
    try:
        resolver = Resolver([sock.getsockname()], timeout=0.2, tries=1)
        with pytest.raises(DNSError):
            asyncio.run(resolver.srv("_xmpp-client._tcp.example.test"))
        # and a lookup failure is not fatal: the domain itself is tried
        targets = asyncio.run(xmpp_targets("example.test", resolver))
        assert targets == [Target("example.test", 5222, False)]
    finally:
        sock.close()


def test_hostile_responses_are_errors() -> None:
    qid, query = encode_query("_xmpp-client._tcp.example.test", qid=7)
    with pytest.raises(DNSError):
        decode_srv_response(b"\x00\x07", qid)
    with pytest.raises(DNSError):  # wrong id
        decode_srv_response(b"\x00\x08\x81\x80" + b"\x00" * 8, qid)
    loop = bytearray(query)
    loop[2] |= 0x80
    loop[7] = 1  # one answer whose name points at itself
    loop += (
        b"\xc0"
        + bytes([len(query)])
        + b"\x00\x21\x00\x01"
        + b"\x00" * 4
        + b"\x00\x07"
        + b"\x00" * 7
    )
    with pytest.raises(DNSError):
        decode_srv_response(bytes(loop), qid)


def test_weighted_order_is_weighted() -> None:
    recs = [SRVRecord(1, 90, 1, "heavy"), SRVRecord(1, 10, 1, "light"), SRVRecord(0, 0, 1, "first")]
    rng = random.Random(1)
    firsts = [order_srv(recs, rng)[1].target for _ in range(2000)]
    assert all(order_srv(recs, rng)[0].target == "first" for _ in range(50))
    assert 0.8 < firsts.count("heavy") / 2000 < 0.97


def test_the_weights_are_drawn_again_at_each_lookup(dns_server: tuple[str, int]) -> None:
    """a (weight 60) comes before b (weight 40) in about 60 % of lookups:
    each attempt draws the order again, so a fleet spreads over both."""
    resolver = Resolver([dns_server], timeout=2)

    async def lookups() -> list[str]:
        return [(await xmpp_targets("example.test", resolver))[1].host for _ in range(200)]

    firsts = asyncio.run(lookups())
    assert 0.45 < firsts.count("a.example.test") / 200 < 0.75


def test_a_failed_srv_target_goes_behind_the_others(dns_server: tuple[str, int]) -> None:
    """Failover: the target that failed is tried last; the others keep
    their RFC 2782 order (priority first, the weights drawn again)."""
    from stanzalink.aio.client import ClientConfig
    from stanzalink.aio.reconnect import Reconnect
    from stanzalink.jid import JID

    reconnect = Reconnect(
        ClientConfig(JID.parse("d@example.test")), Resolver([dns_server], timeout=2)
    )
    first = asyncio.run(reconnect.targets(None))
    assert first[0] == Target("tls.example.test", 5223, True)
    reconnect.failed(first[0])
    second = asyncio.run(reconnect.targets(None))
    assert {t.host for t in second[:2]} == {"a.example.test", "b.example.test"}
    assert second[2:] == [Target("backup.example.test", 5222, False), first[0]]
    reconnect.failed(second[0])
    third = asyncio.run(reconnect.targets(None))
    assert third == [second[1], second[2], first[0], second[0]]


def test_a_target_listed_twice_is_tried_once(dns_server: tuple[str, int]) -> None:
    """A server (or a hostile answer) that lists one host several times
    would have it tried as often in each round: it is kept once, where it
    comes first; a "." among other targets is passed over."""
    resolver = Resolver([dns_server], timeout=2)
    targets = asyncio.run(xmpp_targets("dup.test", resolver))
    assert targets == [Target("a.dup.test", 5222, False), Target("a.dup.test", 5223, False)]


def test_hundreds_of_targets_are_bounded(dns_server: tuple[str, int]) -> None:
    from stanzalink.aio.dns import MAX_ANSWERS

    resolver = Resolver([dns_server], timeout=2)
    targets = asyncio.run(xmpp_targets("many.test", resolver))
    assert len(targets) == MAX_ANSWERS
    assert len(set(targets)) == len(targets)


def test_a_target_that_is_no_host_name_is_passed_over(dns_server: tuple[str, int]) -> None:
    """A DNS label may hold any byte: a target with a line break or an
    escape would be connected to and logged as it is; port 0 is no port."""
    resolver = Resolver([dns_server], timeout=2)
    targets = asyncio.run(xmpp_targets("odd.test", resolver))
    assert targets == [Target("good.odd.test", 5222, False)]


def test_weight_zero_everywhere_spreads_the_first_pick() -> None:
    """RFC 2782 leaves records of weight 0 "in any order": taken in the
    order the answer gave, a fleet whose server lists its nodes with weight
    0 (and does not rotate its answers) sent every device to the first."""
    recs = [SRVRecord(1, 0, 5222, f"n{i}") for i in range(3)]
    rng = random.Random(7)
    firsts = [order_srv(recs, rng)[0].target for _ in range(3000)]
    for name in ("n0", "n1", "n2"):
        assert 0.25 < firsts.count(name) / 3000 < 0.42, (name, firsts.count(name))

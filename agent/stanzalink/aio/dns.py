"""SRV lookup for XMPP (RFC 6120 §3.2, XEP-0368) with a small stub resolver.

The wire format is encoded and decoded here (RFC 1035, RFC 2782) so the
device needs no DNS library; queries go over UDP to the nameservers of
``/etc/resolv.conf`` (or the ones given), with a timeout and a retry, and
fall back to TCP when the answer is truncated.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stanzalink._value import Value, _set
from stanzalink.aio.hostport import host_key, parse_host_port
from stanzalink.aio.targets import Target

if TYPE_CHECKING:
    import random

log = logging.getLogger(__name__)

TYPE_SRV = 33
CLASS_IN = 1
MAX_ANSWERS = 64


class DNSError(Exception):
    pass


class SRVRecord(Value):
    __slots__ = ("port", "priority", "target", "weight")

    priority: int
    weight: int
    port: int
    target: str

    def __init__(self, priority: int, weight: int, port: int, target: str) -> None:
        _set(self, "priority", priority)
        _set(self, "weight", weight)
        _set(self, "port", port)
        _set(self, "target", target)


def encode_query(name: str, qtype: int = TYPE_SRV, qid: int | None = None) -> tuple[int, bytes]:
    qid = int.from_bytes(os.urandom(2), "big") if qid is None else qid
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD set
    return qid, header + _encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def _encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if not label.isascii() else label.encode()
        if not 0 < len(raw) < 64:
            raise DNSError(f"bad DNS label in {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def _read_name(msg: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    end = None
    jumps = 0
    while True:
        if pos >= len(msg):
            raise DNSError("truncated name")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise DNSError("truncated pointer")
            if end is None:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if jumps > 32:
                raise DNSError("compression loop")
            continue
        if length & 0xC0:
            raise DNSError("bad label type")
        pos += 1
        if length == 0:
            break
        labels.append(msg[pos : pos + length].decode("ascii", "replace"))
        pos += length
    return ".".join(labels), (end if end is not None else pos)


def decode_srv_response(msg: bytes, qid: int) -> tuple[list[SRVRecord], bool]:
    """The SRV records of a response and whether it was truncated."""
    if len(msg) < 12:
        raise DNSError("short DNS response")
    rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid:
        raise DNSError("response id does not match the query")
    if not flags & 0x8000:
        raise DNSError("not a response")
    rcode = flags & 0xF
    truncated = bool(flags & 0x0200)
    if rcode == 3:  # NXDOMAIN
        return [], truncated
    if rcode != 0:
        raise DNSError(f"DNS error rcode {rcode}")
    pos = 12
    for _ in range(qd):
        _, pos = _read_name(msg, pos)
        pos += 4
    records = []
    for _ in range(min(an, MAX_ANSWERS)):
        _, pos = _read_name(msg, pos)
        if pos + 10 > len(msg):
            raise DNSError("truncated answer")
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[pos : pos + 10])
        pos += 10
        if rtype == TYPE_SRV:
            if rdlen < 7 or pos + rdlen > len(msg):
                raise DNSError("bad SRV record")
            prio, weight, port = struct.unpack("!HHH", msg[pos : pos + 6])
            target, _ = _read_name(msg, pos + 6)
            records.append(SRVRecord(prio, weight, port, target))
        pos += rdlen
    return records, truncated


def system_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    servers = []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append((parts[1], 53))
    except OSError:
        pass
    return servers or [("127.0.0.1", 53)]


class _UDPQuery(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self.fut = fut

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


class Resolver:
    """Asks nameservers for SRV records."""

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] | None = None,
        timeout: float = 3.0,
        tries: int = 2,
    ) -> None:
        self.nameservers = list(nameservers) if nameservers else system_nameservers()
        self.timeout = timeout
        self.tries = tries

    async def srv(self, name: str) -> list[SRVRecord]:
        last: Exception | None = None
        for _ in range(self.tries):
            for server in self.nameservers:
                try:
                    return await self._query(server, name)
                except (OSError, TimeoutError, DNSError) as exc:
                    last = exc
        raise DNSError(f"no answer for {name}: {last}")

    async def _query(self, server: tuple[str, int], name: str) -> list[SRVRecord]:
        loop = asyncio.get_running_loop()
        qid, query = encode_query(name)
        fut: asyncio.Future[bytes] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDPQuery(fut), remote_addr=server
        )
        try:
            transport.sendto(query)
            data = await asyncio.wait_for(fut, self.timeout)
        finally:
            transport.close()
        records, truncated = decode_srv_response(data, qid)
        if truncated:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*server), self.timeout)
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                size = struct.unpack(
                    "!H", await asyncio.wait_for(reader.readexactly(2), self.timeout)
                )[0]
                data = await asyncio.wait_for(reader.readexactly(size), self.timeout)
            finally:
                writer.close()
            records, _ = decode_srv_response(data, qid)
        return records


def order_srv(records: Sequence[SRVRecord], rng: random.Random | None = None) -> list[SRVRecord]:
    """RFC 2782 order: by priority, weighted random within a priority."""
    if rng is None:
        import random  # only for SRV answers: not imported at start

        rng = random.Random()
    out: list[SRVRecord] = []
    for prio in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == prio]
        # "in any order" (RFC 2782): shuffled, so records of weight 0 (the
        # last picked, in their order) do not send a whole fleet to the first
        rng.shuffle(group)
        while group:
            total = sum(r.weight for r in group)
            pick = rng.uniform(0, total) if total else 0
            acc = 0
            chosen = group[0]
            for r in group:
                acc += r.weight
                if acc >= pick and (r.weight or total == 0):
                    chosen = r
                    break
            out.append(chosen)
            group.remove(chosen)
    return out


async def xmpp_targets(domain: str, resolver: Resolver | None = None) -> list[Target]:
    """Where to connect for ``domain``: XEP-0368 direct-TLS and STARTTLS SRV
    records merged by priority (direct TLS first on a tie), else the domain
    itself on 5222.  A "." target means the service is not offered; a host
    listed twice is kept once."""
    resolver = resolver or Resolver()
    targets: list[tuple[int, int, int, Target]] = []
    seen_any = False
    for service, direct in (("_xmpps-client._tcp.", True), ("_xmpp-client._tcp.", False)):
        try:
            records = await resolver.srv(service + domain)
        except DNSError as exc:
            log.info("SRV lookup %s%s failed: %s", service, domain, exc)
            continue
        seen_any = seen_any or bool(records)
        for i, r in enumerate(order_srv(records)):
            if r.target in ("", "."):
                continue
            host = r.target.rstrip(".")
            if parse_host_port(host, r.port or 1) is None or r.port == 0:
                # a label may hold any byte: what is no host name (a line
                # break, an escape, a colon) is never connected to nor logged
                log.info("SRV %s%s: passing over a target that is no host:port", service, domain)
                continue
            targets.append((r.priority, 0 if direct else 1, i, Target(host, r.port, direct)))
    if not targets:
        if seen_any:
            return []  # the domain says explicitly that it offers no XMPP service
        return [Target(domain, 5222, False)]
    targets.sort(key=lambda t: t[:3])
    # a host listed twice (its name's case and final dot aside) is tried
    # once a round, where it comes first
    out: list[Target] = []
    seen: set[tuple[str, int, bool]] = set()
    for *_, t in targets:
        key = (host_key(t.host), t.port, t.direct_tls)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out

"""SOCKS5 for XEP-0065 / XEP-0260 bytestreams, over asyncio.

Only the subset of RFC 1928 the XEPs use: no authentication (method 0),
CONNECT (CMD 1) with the domain-name address type (ATYP 3) whose name is
the 40-character hex SHA1 DST.ADDR, port 0.

* :func:`connect` opens one SOCKS5 connection to a streamhost (a proxy such
  as Prosody's ``mod_proxy65``, or a peer's own listener) and returns a
  :class:`Socks5Stream` once the streamhost accepted the CONNECT.
* :func:`connect_first` tries candidates in order, each with its own
  timeout, and returns the first that works; when none does,
  :class:`AllCandidatesFailed` says which failed and why.
* :class:`StreamHostServer` is a local streamhost (a "direct" candidate):
  it accepts SOCKS5 connections whose DST.ADDR was registered with
  :meth:`StreamHostServer.expect`.  Devices usually sit behind NAT, so a
  proxy is the candidate that works in the field; the listener serves
  loopback tests and LAN peers.

Every read is bounded (the StreamReader ``limit``), every step has a
timeout, and each error names the streamhost and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from stanzalink.errors import StanzalinkError

log = logging.getLogger(__name__)

VERSION = 5
NO_AUTH = 0
NO_ACCEPTABLE = 0xFF
CMD_CONNECT = 1
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4
READ_LIMIT = 256 * 1024  # bytes a stream buffers before it stops reading the socket
REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class Socks5Error(StanzalinkError):
    """A SOCKS5 connection failed: ``where`` names the streamhost."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class AllCandidatesFailed(Socks5Error):
    def __init__(self, failures: list[Socks5Error]) -> None:
        what = "; ".join(str(f) for f in failures) or "no candidates"
        super().__init__("all candidates", what)
        self.failures = failures


class Endpoint(Protocol):
    """A streamhost (XEP-0065 ``StreamHost``, XEP-0260 ``Candidate``)."""

    @property
    def jid(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


T = TypeVar("T", bound=Endpoint)


def describe(ep: Endpoint) -> str:
    cid = getattr(ep, "cid", None)
    return f"{'candidate ' + cid + ' ' if cid else ''}{ep.jid} at {ep.host}:{ep.port}"


def connect_request(dst: str) -> bytes:
    name = dst.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError("DST.ADDR must be 1-255 bytes")
    return bytes([VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, len(name)]) + name + b"\x00\x00"


class Socks5Stream:
    """An established bytestream: bytes in both directions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str):
        self.reader, self.writer, self.where = reader, writer, where

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; b"" at end of stream."""
        return await self.reader.read(n)

    async def readexactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    async def write(self, data: bytes | memoryview) -> None:
        """Send, waiting while the transport's buffer is above its high-water mark."""
        self.writer.write(data)
        await self.writer.drain()

    def write_eof(self) -> None:
        if self.writer.can_write_eof():
            self.writer.write_eof()

    async def close(self, timeout: float = 5.0) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), timeout)

    def __repr__(self) -> str:
        return f"<Socks5Stream {self.where}>"


async def _read(reader: asyncio.StreamReader, n: int, what: str, where: str) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        got = len(exc.partial)
        raise Socks5Error(
            where, f"truncated {what}: {got} of {n} bytes, then end of stream"
        ) from None
    except OSError as exc:
        raise Socks5Error(where, f"connection lost reading {what}: {exc}") from None


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dst: str,
                     where: str, check_address: bool) -> None:  # fmt: skip
    writer.write(bytes([VERSION, 1, NO_AUTH]))  # one write: mod_proxy65 wants it whole
    ver, method = await _read(reader, 2, "method selection", where)
    if ver != VERSION:
        raise Socks5Error(where, f"not a SOCKS5 server (version {ver} in method selection)")
    if method != NO_AUTH:
        raise Socks5Error(where, f"no acceptable authentication method (server chose {method})")
    writer.write(connect_request(dst))
    ver, rep, _rsv, atyp = await _read(reader, 4, "CONNECT reply", where)
    if ver != VERSION:
        raise Socks5Error(where, f"not a SOCKS5 server (version {ver} in CONNECT reply)")
    if rep != 0:
        raise Socks5Error(where, f"CONNECT refused: {REPLIES.get(rep, f'reply code {rep}')}")
    if atyp == ATYP_DOMAIN:
        (n,) = await _read(reader, 1, "CONNECT reply address length", where)
        bnd = await _read(reader, n + 2, "CONNECT reply address", where)
        addr = bnd[:-2].decode("ascii", "replace")
    elif atyp in (ATYP_IPV4, ATYP_IPV6):
        await _read(reader, (4 if atyp == ATYP_IPV4 else 16) + 2, "CONNECT reply address", where)
        addr = f"<address type {atyp}>"
    else:
        raise Socks5Error(where, f"CONNECT reply with unknown address type {atyp}")
    # XEP-0065 §5.3.2/§6.3.2: BND.ADDR must echo the DST.ADDR
    if check_address and addr != dst:
        raise Socks5Error(where, f"CONNECT reply for another address {addr[:64]!r}")


async def connect(host: str, port: int, dst: str, *, timeout: float = 10.0, where: str = "",
                  check_address: bool = True, limit: int = READ_LIMIT) -> Socks5Stream:  # fmt: skip
    """Open a SOCKS5 connection for DST.ADDR ``dst`` (TCP connect and
    handshake together within ``timeout`` seconds)."""
    where = where or f"{host}:{port}"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_connection(host, port, limit=limit)
            except OSError as exc:
                raise Socks5Error(where, f"TCP connect failed: {exc.strerror or exc}") from None
            await _handshake(reader, writer, dst, where, check_address)
    except TimeoutError:
        if writer is not None:
            writer.close()
        raise Socks5Error(where, f"no SOCKS5 connection within {timeout} s") from None
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    return Socks5Stream(reader, writer, where)


async def connect_first(candidates: Iterable[T], dst: str | Callable[[T], str], *,
                        timeout: float = 5.0, check_address: bool = True,
                        limit: int = READ_LIMIT) -> tuple[T, Socks5Stream]:  # fmt: skip
    """Try ``candidates`` in the given order (sort XEP-0260 candidates with
    ``stanzalink.xep.jingle.s5b.by_priority`` first), each within ``timeout`` seconds;
    ``dst`` is the DST.ADDR or a function of the candidate giving it."""
    failures: list[Socks5Error] = []
    for cand in candidates:
        where = describe(cand)
        addr = dst(cand) if callable(dst) else dst
        try:
            stream = await connect(cand.host, cand.port, addr, timeout=timeout, where=where,
                                   check_address=check_address, limit=limit)  # fmt: skip
        except Socks5Error as exc:
            log.info("SOCKS5 %s", exc)
            failures.append(exc)
            continue
        return cand, stream
    raise AllCandidatesFailed(failures)


class StreamHostServer:
    """A local streamhost: accepts the SOCKS5 connections whose DST.ADDR is
    expected, refuses the rest (REP 2, "not allowed").  Bounded: at most
    ``max_pending`` handshakes at a time and ``max_expected`` hashes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0,
                 max_pending: int = 8, max_expected: int = 32,
                 limit: int = READ_LIMIT) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.timeout, self.max_pending, self.max_expected = timeout, max_pending, max_expected
        self.limit = limit
        self._server: asyncio.Server | None = None
        self._expected: dict[str, asyncio.Future[Socks5Stream]] = {}
        self._pending = 0

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  limit=self.limit)  # fmt: skip
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.host, self.port

    def expect(self, dst: str) -> asyncio.Future[Socks5Stream]:
        """A future resolved with the stream of the first client that
        connects with DST.ADDR ``dst``."""
        if len(self._expected) >= self.max_expected:
            raise RuntimeError(f"more than {self.max_expected} bytestreams awaited")
        fut: asyncio.Future[Socks5Stream] = asyncio.get_running_loop().create_future()
        self._expected[dst] = fut
        return fut

    def forget(self, dst: str) -> None:
        fut = self._expected.pop(dst, None)
        if fut is not None and not fut.done():
            fut.cancel()

    async def close(self) -> None:
        for dst in list(self._expected):
            self.forget(dst)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        where = f"client {peer}"
        if self._pending >= self.max_pending:
            writer.close()
            return
        self._pending += 1
        try:
            async with asyncio.timeout(self.timeout):
                dst = await self._accept(reader, writer, where)
        except (Socks5Error, TimeoutError) as exc:
            log.info("SOCKS5 %s refused: %s", where, exc or "handshake timeout")
            writer.close()
            return
        finally:
            self._pending -= 1
        fut = self._expected.pop(dst, None) if dst else None
        if fut is None or fut.done():
            writer.write(bytes([VERSION, 2, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]))
            writer.close()
            log.info("SOCKS5 %s refused: DST.ADDR %r not expected", where, dst[:64])
            return
        n = len(dst)
        writer.write(bytes([VERSION, 0, 0, ATYP_DOMAIN, n]) + dst.encode("ascii") + b"\0\0")
        fut.set_result(Socks5Stream(reader, writer, where))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      where: str) -> str:  # fmt: skip
        ver, n = await _read(reader, 2, "greeting", where)
        methods = await _read(reader, n, "greeting methods", where)
        if ver != VERSION or NO_AUTH not in methods:
            writer.write(bytes([VERSION, NO_ACCEPTABLE]))
            raise Socks5Error(where, "no SOCKS5 greeting without authentication")
        writer.write(bytes([VERSION, NO_AUTH]))
        ver, cmd, _rsv, atyp = await _read(reader, 4, "request", where)
        if ver != VERSION or cmd != CMD_CONNECT or atyp != ATYP_DOMAIN:
            writer.write(bytes([VERSION, 7 if cmd != CMD_CONNECT else 8, 0, ATYP_IPV4]) + bytes(6))
            raise Socks5Error(where, f"unsupported request (version {ver} cmd {cmd} atyp {atyp})")
        (n,) = await _read(reader, 1, "address length", where)
        raw = await _read(reader, n + 2, "address", where)
        return raw[:-2].decode("ascii", "replace")

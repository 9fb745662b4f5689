"""The socket side of SOCKS5 bytestreams as one object a feature receives:
:class:`Socks5IO` is what the XEP-0260 negotiation needs (dial one
streamhost, dial the first that works, listen as a local streamhost),
:class:`Socks5Dialer` does it with :mod:`stanzalink.net.socks5`.  The agent
passes a ``Socks5Dialer`` to the ``jingle-s5b`` feature; the protocol (which
candidates, in what order, what to tell the peer) stays in
:mod:`stanzalink.xep.jingle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol, TypeVar

from stanzalink.net import socks5
from stanzalink.net.socks5 import Endpoint, Socks5Stream, StreamHostServer

T = TypeVar("T", bound=Endpoint)


class Socks5Listener(Protocol):
    """A local streamhost (:class:`~stanzalink.net.socks5.StreamHostServer`)."""

    async def start(self) -> tuple[str, int]: ...
    def expect(self, dst: str) -> asyncio.Future[Socks5Stream]: ...
    def forget(self, dst: str) -> None: ...
    async def close(self) -> None: ...


class Socks5IO(Protocol):
    """The sockets of SOCKS5 bytestreams."""

    async def connect(self, host: str, port: int, dst: str, *, timeout: float,
                      where: str = "") -> Socks5Stream: ...  # fmt: skip
    async def connect_first(self, candidates: Iterable[T], dst: str, *,
                            timeout: float) -> tuple[T, Socks5Stream]: ...  # fmt: skip
    def listener(self, host: str, port: int = 0) -> Socks5Listener: ...


class Socks5Dialer:
    """:class:`Socks5IO` over asyncio TCP (:mod:`stanzalink.net.socks5`)."""

    async def connect(self, host: str, port: int, dst: str, *, timeout: float,
                      where: str = "") -> Socks5Stream:  # fmt: skip
        return await socks5.connect(host, port, dst, timeout=timeout, where=where)

    async def connect_first(self, candidates: Iterable[T], dst: str, *,
                            timeout: float) -> tuple[T, Socks5Stream]:  # fmt: skip
        return await socks5.connect_first(candidates, dst, timeout=timeout)

    def listener(self, host: str, port: int = 0) -> Socks5Listener:
        return StreamHostServer(host, port)

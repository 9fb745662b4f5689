"""XEP-0261 Jingle In-Band Bytestreams Transport: a Jingle transport over
XEP-0047 (the ``ibb`` feature), and the fallback every other transport
falls back to (XEP-0260 §3).

The offer names an IBB sid and a block-size; the responder may answer a
smaller block-size (never a larger one).  The session's initiator opens
the IBB stream once the session (or the transport-replace) is accepted; the
responder waits for that open (``open_timeout``).
"""

from __future__ import annotations

import asyncio
import os
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from stanzalink.xep.base import Feature
from stanzalink.xep.ibb import MAX_BLOCK, Ibb, IBBError, IBBStream
from stanzalink.xep.jingle.session import JingleSession, Transport, TransportFailed
from stanzalink.xml import Element
from stanzalink.xml.builder import E

NS = "urn:xmpp:jingle:transports:ibb:1"


def _block(el: Element, default: int) -> int:
    try:
        return max(1, min(int(el.get("block-size") or default), MAX_BLOCK))
    except ValueError:
        return default


class IBBTransport(Transport):
    namespace: ClassVar[str] = NS
    block_size: ClassVar[int] = 4096  # what we offer (XEP-0047 recommends 4096)
    open_timeout: ClassVar[float] = 30.0

    def __init__(self, session: JingleSession, content: str, offer: Element | None) -> None:
        super().__init__(session, content, offer)
        ibb = session.jingle.ctx.feature(Ibb)
        if ibb is None:
            raise TransportFailed("the ibb feature is not running")
        self.ibb = ibb
        self.sid = os.urandom(6).hex()
        self.size = self.block_size
        if offer is not None:
            self.sid = offer.get("sid") or self.sid
            self.size = min(_block(offer, self.block_size), ibb.max_block)
        self.stream: IBBStream | None = None
        self._aborted = False
        self._waiting: asyncio.Future[IBBStream] | None = None

    def _element(self) -> ET.Element:
        return E(f"{{{NS}}}transport", {"block-size": str(self.size), "sid": self.sid})

    def offer(self) -> ET.Element:
        return self._element()

    def answer(self) -> ET.Element:
        if not self.session.we_initiated and self._waiting is None:
            self._waiting = self.ibb.expect(self.session.peer, self.sid, self.size)
        return self._element()

    def accepted(self, answer: Element) -> None:
        self.size = min(self.size, _block(answer, self.size))

    def info(self, payload: Element) -> None:
        # XEP-0261 §2.4: a new IBB sid for the same content
        if payload.tag == f"{{{NS}}}transport" and payload.get("sid"):
            self.sid = payload.get("sid") or self.sid
            self.size = min(self.size, _block(payload, self.size))
            if not self.session.we_initiated:
                if self._waiting is not None:
                    self._waiting.cancel()
                self._waiting = self.ibb.expect(self.session.peer, self.sid, self.size)

    async def open(self) -> None:
        if self.stream is not None:
            return
        if self.session.we_initiated:
            try:
                self.stream = await self.ibb.open(self.session.peer, self.sid, self.size)
            except IBBError as exc:
                raise TransportFailed(str(exc)) from None
            return
        clock = self.session.jingle.ctx.clock
        deadline = clock.now() + self.open_timeout
        while True:
            if self._waiting is None:
                self._waiting = self.ibb.expect(self.session.peer, self.sid, self.size)
            fut = self._waiting
            try:
                self.stream = await clock.wait_for(
                    asyncio.shield(fut), max(0.0, deadline - clock.now())
                )
                return
            except TimeoutError:
                raise TransportFailed("the peer did not open the IBB stream") from None
            except asyncio.CancelledError:
                if not fut.cancelled():
                    raise  # we were cancelled ourselves
                if self._waiting is fut or self._aborted:
                    raise TransportFailed("released") from None
                # transport-info moved us to another sid: wait for that one

    async def send(self, data: bytes) -> None:
        if self.stream is None:
            raise TransportFailed("not open")
        try:
            await self.stream.write(data)
        except IBBError as exc:
            raise TransportFailed(str(exc)) from None

    async def recv(self) -> bytes:
        if self.stream is None:
            raise TransportFailed("not open")
        try:
            return await self.stream.read()
        except IBBError as exc:
            raise TransportFailed(str(exc)) from None

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()

    def abort(self) -> None:
        self._aborted = True
        if self._waiting is not None:
            self._waiting.cancel()
        if self.stream is not None:
            self.stream.abort("jingle transport released")


class JingleIBB(Feature):
    name = "jingle-ibb"
    requires = (Ibb,)
    disco_features = (NS,)
    jingle_transport: ClassVar[type[Transport]] = IBBTransport

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)

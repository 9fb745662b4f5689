"""XEP-0047 In-Band Bytestreams: a bidirectional byte stream carried in
base64 chunks inside IQ stanzas, used by Jingle (XEP-0261) and by anyone
who needs a stream to a peer (for example HTTP bodies over XMPP).

API (through ``ctx.feature(Ibb)``)::

    stream = await ibb.open(peer_full_jid, block_size=4096)   # we initiate
    await stream.write(data); await stream.close()
    ibb.listen(cb)          # cb(stream, role) -> bool: take streams a peer opens
    fut = ibb.expect(peer, sid, block_size)  # a stream negotiated elsewhere (Jingle)
    chunk = await stream.read()               # b"" at the peer's close

Data is sent in IQ stanzas (the acknowledgement is the flow control, with
at most ``window`` blocks unacknowledged); data in message stanzas is
accepted too.  Sequence numbers wrap at 65535.  Block sizes above
``max_block`` are refused with ``resource-constraint``.  Every buffer is
bounded: an incoming block is acknowledged only once the reader made room,
so a slow reader slows the sender; a reader that does not read for
``stall_timeout`` seconds closes the stream; at most ``max_held`` blocks
wait for room at once (a sender that does not wait for acknowledgements
gets ``resource-constraint`` for the rest, their sequence numbers not
taken, the stream kept).  Any protocol fault (bad
sequence number, bad base64, oversized block, unknown sid) closes the
stream, as XEP-0047 §2.2 and §3 require.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from stanzalink.access import Role
from stanzalink.errors import StanzaError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.base import Feature, IQRoute
from stanzalink.xml import Element
from stanzalink.xml.builder import E

log = logging.getLogger(__name__)

NS = "http://jabber.org/protocol/ibb"
MAX_BLOCK = 65535  # XEP-0047 §2.1: block-size SHOULD NOT be greater


class IBBError(Exception):
    """The stream broke (peer error, protocol fault, timeout, local abort)."""


def decode_block(text: str | None) -> bytes:
    """Strict base64 (XEP-0047 §7): XML whitespace is ignored, every other
    character outside the alphabet and any misplaced padding is refused."""
    raw = "".join((text or "").split()).encode("ascii", "replace")
    if not raw:
        return b""
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _peer(sender: str | None) -> str:
    try:
        return str(JID.parse(sender or ""))
    except InvalidJID:
        return ""


class IBBStream:
    """One open in-band bytestream with one peer."""

    def __init__(
        self, owner: Ibb, peer: str, sid: str, block_size: int, stanza: str = "iq"
    ) -> None:
        self.owner = owner
        self.peer = peer
        self.sid = sid
        self.block_size = block_size
        self.stanza = stanza
        self.out_seq = 0
        self.in_seq = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.eof = False  # the peer closed its side
        self.closed = False  # we closed or it broke
        self.error: str | None = None
        self._chunks: deque[bytes] = deque()
        self._cond = asyncio.Condition()
        # blocks accepted in seq order get tickets and enter the buffer in
        # that order; those not in it yet are "held" (bounded by max_held)
        self._tickets = 0
        self._turn = 0

    # ------------------------------------------------------------ writing
    async def write(self, data: bytes | memoryview) -> None:
        """Send ``data`` in blocks, at most ``owner.window`` unacknowledged."""
        view = memoryview(data)
        pending: deque[asyncio.Task[Any]] = deque()
        try:
            for off in range(0, len(view), self.block_size):
                if self.closed:
                    raise IBBError(self.error or "stream closed")
                block = bytes(view[off : off + self.block_size])
                pending.append(asyncio.ensure_future(self._send_block(block)))
                await asyncio.sleep(0)  # let it send before the next one is made
                while len(pending) >= self.owner.window:
                    await pending.popleft()
            while pending:
                await pending.popleft()
        except BaseException:
            for task in pending:
                task.cancel()
            raise

    async def _send_block(self, block: bytes) -> None:
        seq = self.out_seq
        self.out_seq = (seq + 1) & 0xFFFF
        el = E(f"{{{NS}}}data", {"sid": self.sid, "seq": str(seq)})
        el.text = binascii.b2a_base64(block, newline=False).decode("ascii")
        iq = E("{jabber:client}iq", {"type": "set", "to": self.peer}, el)
        try:
            await self.owner.ctx.iq(iq, timeout=self.owner.ack_timeout)
        except StanzaError as exc:
            self._fail(f"peer refused data: {exc.condition}")
            raise IBBError(self.error or "") from None
        except TimeoutError:
            self._fail("no acknowledgement")
            raise IBBError(self.error or "") from None
        except Exception as exc:  # connection gone
            self._fail(f"send failed: {exc}")
            raise IBBError(self.error or "") from None
        self.bytes_out += len(block)

    # ------------------------------------------------------------ reading
    async def read(self) -> bytes:
        """The next chunk the peer sent; ``b""`` once it closed the stream;
        IBBError if the stream broke."""
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._chunks) or self.eof or self.closed)
            if self._chunks:
                chunk = self._chunks.popleft()
                self._cond.notify_all()
                return chunk
            if self.error:
                raise IBBError(self.error)
            return b""

    @property
    def held(self) -> int:
        """Blocks accepted (their seq taken) that wait for room in the buffer."""
        return self._tickets - self._turn

    async def _deliver(self, data: bytes, wait: bool) -> None:
        ticket = self._tickets
        self._tickets += 1

        def ready() -> bool:
            return self.closed or (
                self._turn == ticket and len(self._chunks) < self.owner.buffer_blocks
            )

        async with self._cond:
            if not ready():
                if not wait:
                    self._fail("receive buffer full (message stanzas carry no flow control)")
                    raise StanzaError("resource-constraint", etype="wait")
                try:
                    await self.owner.ctx.clock.wait_for(
                        self._cond.wait_for(ready), self.owner.stall_timeout
                    )
                except TimeoutError:
                    self._fail("the reader stalled")
                    raise StanzaError("resource-constraint", etype="wait") from None
            if self.closed:
                raise StanzaError("item-not-found")
            self._chunks.append(data)
            self._turn += 1
            self.bytes_in += len(data)
            self._cond.notify_all()

    def _wake(self) -> None:
        async def notify() -> None:
            async with self._cond:
                self._cond.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(notify())

    # ------------------------------------------------------------ ending
    def _fail(self, reason: str) -> None:
        if not self.closed:
            log.info("IBB stream %s with %s closed: %s", self.sid, self.peer, reason)
        self.error = self.error or reason
        self.closed = True
        self.owner._forget(self)
        self._wake()

    def abort(self, reason: str = "aborted") -> None:
        """End locally without telling the peer (it went away)."""
        self._fail(reason)

    async def close(self) -> None:
        """Close both directions (XEP-0047 §2.3); the peer sees end of stream."""
        if self.closed:
            return
        self.closed = True
        self.owner._forget(self)
        self._wake()
        if self.eof:
            return  # the peer closed it already
        iq = E(
            "{jabber:client}iq",
            {"type": "set", "to": self.peer},
            E(f"{{{NS}}}close", {"sid": self.sid}),
        )
        with contextlib.suppress(Exception):
            await self.owner.ctx.iq(iq, timeout=self.owner.ack_timeout)


Listener = Callable[[IBBStream, "Role | None"], bool]


class Ibb(Feature):
    name = "ibb"
    disco_features = (NS,)

    # limits (instance attributes may be changed, e.g. by tests)
    max_block = 16384  # the largest block-size accepted from a peer
    max_streams = 32
    window = 4  # blocks sent before waiting for an acknowledgement
    buffer_blocks = 16  # blocks buffered for a reader before acks are delayed
    max_held = 16  # blocks whose ack is delayed at once; more: resource-constraint
    ack_timeout = 30.0
    stall_timeout = 30.0

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._streams: dict[tuple[str, str], IBBStream] = {}
        self._expected: dict[tuple[str, str], tuple[int, asyncio.Future[IBBStream]]] = {}
        self._listeners: list[Listener] = []

    def iq_routes(self) -> list[IQRoute]:
        return [
            IQRoute("set", f"{{{NS}}}open", self._on_open, Role.VIEWER),
            IQRoute("set", f"{{{NS}}}data", self._on_data_iq, Role.VIEWER),
            IQRoute("set", f"{{{NS}}}close", self._on_close, Role.VIEWER),
        ]

    # ------------------------------------------------------------ public
    def listen(self, callback: Listener) -> None:
        """``callback(stream, role)`` is asked about streams a peer opens
        that nobody ``expect``-ed; True takes the stream."""
        self._listeners.append(callback)

    def expect(self, peer: str, sid: str, block_size: int) -> asyncio.Future[IBBStream]:
        """A stream ``peer`` will open with ``sid`` (negotiated by Jingle);
        the future completes when it is open.  Cancel it to stop waiting."""
        key = (_peer(peer), sid)
        fut: asyncio.Future[IBBStream] = asyncio.get_running_loop().create_future()
        self._expected[key] = (block_size, fut)
        fut.add_done_callback(lambda _f: self._drop_expected(key, fut))
        return fut

    async def open(self, peer: str, sid: str | None = None, block_size: int = 4096) -> IBBStream:
        """Open a stream to ``peer`` (a full JID); IBBError if refused."""
        if len(self._streams) >= self.max_streams:
            raise IBBError("too many streams")
        sid = sid or os.urandom(8).hex()
        block_size = max(1, min(block_size, MAX_BLOCK))
        stream = IBBStream(self, _peer(peer), sid, block_size)
        key = (stream.peer, sid)
        if key in self._streams:
            raise IBBError(f"stream {sid} exists")
        self._streams[key] = stream
        attrs = {"sid": sid, "block-size": str(block_size), "stanza": "iq"}
        iq = E("{jabber:client}iq", {"type": "set", "to": peer}, E(f"{{{NS}}}open", attrs))
        try:
            await self.ctx.iq(iq, timeout=self.ack_timeout)
        except BaseException as exc:
            self._streams.pop(key, None)
            stream.closed = True
            cond = getattr(exc, "condition", type(exc).__name__)
            raise IBBError(f"open refused: {cond}") from None
        return stream

    def streams(self) -> list[IBBStream]:
        return list(self._streams.values())

    def abort_peer(self, peer: str, reason: str = "peer gone") -> None:
        p = _peer(peer)
        for (who, _sid), stream in list(self._streams.items()):
            if who == p:
                stream.abort(reason)

    # ------------------------------------------------------------ handlers
    def _on_open(self, iq: Element, role: Role | None) -> None:
        el = iq.find(f"{{{NS}}}open")
        assert el is not None
        peer, sid = _peer(iq.get("from")), el.get("sid") or ""
        try:
            size = int(el.get("block-size") or "")
        except ValueError:
            raise StanzaError("bad-request", "block-size") from None
        stanza = el.get("stanza") or "iq"
        if not sid or size <= 0 or stanza not in ("iq", "message") or not peer:
            raise StanzaError("bad-request", etype="modify")
        key = (peer, sid)
        if key in self._streams:
            raise StanzaError("not-acceptable")
        expected = self._expected.get(key)
        limit = expected[0] if expected is not None else self.max_block
        if size > min(limit, MAX_BLOCK):
            raise StanzaError("resource-constraint", etype="modify")
        if len(self._streams) >= self.max_streams:
            raise StanzaError("resource-constraint", etype="wait")
        stream = IBBStream(self, peer, sid, size, stanza)
        if expected is not None:
            self._streams[key] = stream
            if not expected[1].done():
                expected[1].set_result(stream)
            return None
        for cb in self._listeners:
            self._streams[key] = stream
            if cb(stream, role):
                return None
            self._streams.pop(key, None)
        raise StanzaError("not-acceptable")

    async def _on_data_iq(self, iq: Element, role: Role | None) -> None:
        el = iq.find(f"{{{NS}}}data")
        assert el is not None
        await self._data(iq, el, wait=True)

    def on_message(self, msg: Element, role: Role) -> bool:
        el = msg.find(f"{{{NS}}}data")
        if el is None:
            return False

        async def deliver() -> None:
            with contextlib.suppress(StanzaError):
                await self._data(msg, el, wait=False)

        self.ctx.spawn(deliver(), name="ibb-message")
        return True

    async def _data(self, stanza: Element, el: Element, wait: bool) -> None:
        stream = self._streams.get((_peer(stanza.get("from")), el.get("sid") or ""))
        if stream is None or stream.closed:
            raise StanzaError("item-not-found")
        try:
            seq = int(el.get("seq") or "")
        except ValueError:
            seq = -1
        if wait and stream.held >= self.max_held:
            # a sender that does not wait for acks: refused, its seq not
            # taken (it sends from this block again), the stream left open
            raise StanzaError("resource-constraint", "too many blocks unacknowledged", "wait")
        if seq != stream.in_seq:
            stream._fail(f"sequence {seq}, expected {stream.in_seq}")
            raise StanzaError("unexpected-request")
        try:
            data = decode_block(el.text)
        except ValueError:
            stream._fail("bad base64")
            raise StanzaError("bad-request") from None
        if len(data) > stream.block_size:
            stream._fail(f"block of {len(data)} bytes, block-size {stream.block_size}")
            raise StanzaError("bad-request")
        stream.in_seq = (seq + 1) & 0xFFFF
        await stream._deliver(data, wait)

    def _on_close(self, iq: Element, role: Role | None) -> None:
        el = iq.find(f"{{{NS}}}close")
        assert el is not None
        stream = self._streams.pop((_peer(iq.get("from")), el.get("sid") or ""), None)
        if stream is None:
            raise StanzaError("item-not-found")
        stream.eof = True
        stream._wake()
        return None

    # ------------------------------------------------------------ upkeep
    def _forget(self, stream: IBBStream) -> None:
        key = (stream.peer, stream.sid)
        if self._streams.get(key) is stream:
            del self._streams[key]

    def _drop_expected(self, key: tuple[str, str], fut: asyncio.Future[IBBStream]) -> None:
        cur = self._expected.get(key)
        if cur is not None and cur[1] is fut:
            del self._expected[key]

    def on_online(self, resumed: bool) -> None:
        if not resumed:  # a new stream: the peers' streams are gone
            for stream in list(self._streams.values()):
                stream.abort("reconnected without resumption")

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        if pres.get("type") == "unavailable":
            self.abort_peer(pres.get("from") or "", "peer went offline")
        return False

    async def stop(self) -> None:
        for stream in list(self._streams.values()):
            stream.abort("agent stopping")
        for _size, fut in list(self._expected.values()):
            fut.cancel()

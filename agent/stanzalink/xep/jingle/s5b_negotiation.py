"""One XEP-0260 transport negotiation (one Jingle content): the piece a
Jingle SOCKS5 transport class wraps.  Its sockets come from ``io`` (a
:class:`~stanzalink.net.s5b.Socks5IO`), which candidates it dials from the
device's one :class:`~stanzalink.xep.bytestreams.S5BPolicy`.  It knows nothing of
Jingle sessions: it builds and reads ``<transport/>`` elements and leaves
sending them (in session-initiate / session-accept / transport-info) to the
caller.  See ``docs/socks5.md`` for the whole flow.

    neg = S5BNegotiation(sid=new_id(), me=my_jid, peer=peer_jid, initiator=True,
                         send_info=send_transport_info, iq=ctx.iq, io=Socks5Dialer(),
                         policy=policy, listener=server)
    el = neg.local_transport(proxies)          # into session-initiate
    ...
    neg.remote_transport(their_transport_el)   # from session-accept
    neg.on_transport_info(el)                  # each s5b transport-info received
    stream = await neg.established()           # or S5BFailed: transport-replace
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable

from stanzalink.clock import Clock, LoopClock
from stanzalink.errors import StanzaError, StanzalinkError
from stanzalink.net.s5b import Socks5IO, Socks5Listener
from stanzalink.net.socks5 import AllCandidatesFailed, Socks5Error, Socks5Stream, describe
from stanzalink.xep.bytestreams import (
    IQFn,
    S5BPolicy,
    StreamHost,
    activate,
    check_sid,
    normalize_jid,
)
from stanzalink.xep.jingle import s5b as j
from stanzalink.xml import Element

log = logging.getLogger(__name__)

SendInfo = Callable[[ET.Element], Awaitable[None]]


class S5BFailed(StanzalinkError):
    """The SOCKS5 transport failed (``reason``: "candidate-error" when no
    candidate worked either way, "proxy-error" when the nominated proxy
    could not be used, "timeout"): fall back (XEP-0260 §3)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason + (f": {detail}" if detail else ""))
        self.reason = reason


class S5BNegotiation:
    def __init__(self, *, sid: str, me: str, peer: str, initiator: bool, send_info: SendInfo,
                 iq: IQFn, io: Socks5IO, policy: S5BPolicy,
                 listener: Socks5Listener | None = None,
                 connect_timeout: float = 5.0, clock: Clock | None = None) -> None:  # fmt: skip
        self.sid = check_sid(sid)
        self.me, self.peer = normalize_jid(me), normalize_jid(peer)
        self.initiator = initiator
        self._send_info, self._iq = send_info, iq
        self._io, self._listener = io, listener
        self._timeout = connect_timeout
        self._clock: Clock = clock or LoopClock()
        # what we dial of the peer's candidates: a proxy only when its JID is
        # one we learned ourselves, at the address its own streamhost answer
        # gave; direct/assisted/tunnel candidates only with ``dial_direct``
        self._policy = policy
        self.ours: list[j.Candidate] = []
        self.theirs: list[j.Candidate] = []
        self._their_dstaddr: str | None = None
        self._incoming: asyncio.Future[Socks5Stream] | None = None  # peer -> our listener
        self._outgoing: Socks5Stream | None = None  # us -> a candidate of theirs
        self._we_used: str | None = None
        self._they_used: str | None = None
        self._local_done = asyncio.Event()
        self._remote_done = asyncio.Event()
        self._activated = asyncio.Event()
        self._proxy_failed = False
        self._task: asyncio.Task[None] | None = None
        self.nominated: j.Nominated | None = None

    # ------------------------------------------------------------ candidates
    def local_transport(
        self, proxies: Iterable[StreamHost] = (), direct: Iterable[tuple[str, int]] = ()
    ) -> ET.Element:
        """Our ``<transport/>``: ``direct`` (host, port) pairs of our listener
        and the ``proxies`` found by ``discover_proxies``."""
        direct = list(direct)
        if direct:
            if self._listener is None:
                raise ValueError("direct candidates need a listener")
            try:
                self._incoming = self._listener.expect(self.dst_ours)
            except RuntimeError as exc:  # the listener awaits max_expected already
                log.info("s5b %s: no direct candidate: %s", self.sid, exc)
                direct = []
        for i, (host, port) in enumerate(direct):
            pri = j.priority("direct", max(0, 65535 - i))
            self.ours.append(j.Candidate(j.new_id(), host, port, self.me, pri, "direct"))
        for i, sh in enumerate(proxies):
            self.ours.append(j.Candidate.from_streamhost(sh, "proxy", max(0, 65535 - i)))
        has_proxy = any(c.type == "proxy" for c in self.ours)
        return j.transport(self.sid, self.ours, self.dst_ours if has_proxy else None,
                           "tcp" if self.initiator else None)  # fmt: skip

    @property
    def dst_ours(self) -> str:
        """DST.ADDR for the candidates we offer (we are their requester)."""
        return j.candidate_dst(self.sid, self.me, self.peer)

    @property
    def dst_theirs(self) -> str:
        return self._their_dstaddr or j.candidate_dst(self.sid, self.peer, self.me)

    def remote_transport(self, el: Element | ET.Element) -> None:
        """The peer's ``<transport/>``: start connecting to its candidates."""
        t = j.parse_transport(el)
        if t.sid != self.sid:
            raise StanzaError("bad-request", "transport sid differs", "modify")
        if t.mode != "tcp":
            raise StanzaError("not-acceptable", "only mode tcp", "modify")
        self.theirs, self._their_dstaddr = list(t.candidates), t.dstaddr
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._connect_theirs())

    def dialable(self, cands: Iterable[j.Candidate]) -> list[j.Candidate]:
        """The peer's candidates we may connect to, in the order given: a
        peer names hosts and ports, and dialling them blindly would let it
        make the device open connections anywhere on its network."""
        out: list[j.Candidate] = []
        for c in cands:
            proxy = c.type == "proxy"
            dial = self._policy.dial(c.jid, c.host, c.port, "proxy" if proxy else "direct")
            if dial is not None:
                out.append(dataclasses.replace(c, host=dial.host, port=dial.port))
            elif proxy:
                log.info("s5b %s: not dialling %s's proxy candidate %s: %s is not a"
                         " proxy of ours", self.sid, self.peer, c.cid, c.jid[:64])  # fmt: skip
            else:
                log.info("s5b %s: not dialling %s's %s candidate %s (dial_direct is off)",
                         self.sid, self.peer, c.type, c.cid)  # fmt: skip
        return out

    async def _connect_theirs(self) -> None:
        try:
            cand, self._outgoing = await self._io.connect_first(
                self.dialable(j.by_priority(self.theirs)), self.dst_theirs, timeout=self._timeout
            )
        except AllCandidatesFailed as exc:
            log.info("s5b %s: no candidate of %s worked: %s", self.sid, self.peer, exc.reason)
            self._local_done.set()
            await self._report(j.candidate_error(self.sid))
            return
        self._we_used = cand.cid
        self._local_done.set()
        await self._report(j.candidate_used(self.sid, cand.cid))

    async def _report(self, el: ET.Element) -> None:
        try:
            await self._send_info(el)
        except (StanzalinkError, TimeoutError) as exc:  # established() times out then
            log.warning("s5b %s: transport-info to %s failed: %s", self.sid, self.peer, exc)

    # ------------------------------------------------------------ signals
    def on_transport_info(self, el: Element | ET.Element) -> None:
        """A signal from the peer (candidate-used, candidate-error, activated,
        proxy-error); StanzaError for one that does not fit."""
        t = j.parse_transport(el)
        if t.sid != self.sid:
            raise StanzaError("item-not-found", "unknown transport sid", "cancel")
        if t.signal == "candidate-used":
            if not any(c.cid == t.cid for c in self.ours):
                raise StanzaError("item-not-found", f"no candidate {t.cid}", "cancel")
            self._they_used = t.cid
            self._remote_done.set()
        elif t.signal == "candidate-error":
            self._remote_done.set()
        elif t.signal in ("activated", "proxy-error"):
            self._proxy_failed = t.signal == "proxy-error"
            self._activated.set()
        elif t.candidates:
            raise StanzaError("feature-not-implemented", "trickled candidates", "cancel")

    # ------------------------------------------------------------ result
    async def established(self, timeout: float = 60.0) -> Socks5Stream:
        """The bytestream once both sides reported and the nominated
        candidate is ready (activated, for a proxy)."""
        try:
            return await self._clock.wait_for(self._establish(), timeout)
        except TimeoutError:
            await self.close()
            raise S5BFailed("timeout", f"no bytestream within {timeout} s") from None
        except S5BFailed:
            await self.close()
            raise

    async def _establish(self) -> Socks5Stream:
        await self._local_done.wait()
        await self._remote_done.wait()
        nom = self.nominated = j.nominate(
            self.ours, self.theirs, self._we_used, self._they_used, self.initiator
        )
        if nom is None:
            raise S5BFailed("candidate-error", "no candidate worked either way")
        c = nom.candidate
        if c.type == "proxy" and nom.ours:
            stream = await self._activate(c)
        elif c.type == "proxy":
            await self._activated.wait()
            if self._proxy_failed:
                raise S5BFailed("proxy-error", f"the peer could not use proxy {c.jid}")
            assert self._outgoing is not None
            stream, self._outgoing = self._outgoing, None
        elif nom.ours:
            assert self._incoming is not None
            stream = await self._incoming
            self._incoming = None
        else:
            assert self._outgoing is not None
            stream, self._outgoing = self._outgoing, None
        await self.close()  # the losers
        return stream

    async def _activate(self, c: j.Candidate) -> Socks5Stream:
        """Our proxy won: connect to it ourselves, activate, tell the peer."""
        stream: Socks5Stream | None = None
        try:
            stream = await self._io.connect(
                c.host, c.port, self.dst_ours, timeout=self._timeout, where=describe(c)
            )
            await self._iq(activate(c.jid, self.sid, self.peer), self._timeout)
        except (Socks5Error, StanzaError, TimeoutError) as exc:
            if stream is not None:
                await stream.close()
            with contextlib.suppress(StanzalinkError, TimeoutError):
                await self._send_info(j.proxy_error(self.sid))
            raise S5BFailed("proxy-error", str(exc)) from None
        await self._send_info(j.activated(self.sid, c.cid))
        return stream

    async def close(self) -> None:
        """Close what was not chosen (every stream, before established())."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._outgoing is not None:
            await self._outgoing.close()
            self._outgoing = None
        if self._incoming is not None:
            if self._incoming.done() and not self._incoming.cancelled():
                await self._incoming.result().close()
            elif self._listener is not None:
                self._listener.forget(self.dst_ours)
            self._incoming = None

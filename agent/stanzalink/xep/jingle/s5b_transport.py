"""XEP-0260 Jingle SOCKS5 Bytestreams as a Jingle transport, falling back
to IBB (XEP-0260 §3, done by the Jingle core on ``TransportFailed``).

The feature ``jingle-s5b`` (listed before ``jingle-ibb``) runs when
``[files] socks5 = true``.  On every new stream (not a resumed one) it asks
the server for its SOCKS5 proxies once (``socks5_proxy`` names one instead
of disco) and keeps what it found; sessions offer those proxies, plus a
direct candidate on ``direct_host`` when ``direct_candidates = true``
(devices are usually behind NAT: off by default).  Nothing found and no
direct candidate: the transport is not offered, IBB is.

Of the peer's candidates the device dials only proxies it found itself, at
the address their own streamhost answer gave; direct and assisted ones
only with ``dial_direct = true`` (a peer names any host and port it likes).

Feature modules open no sockets: the agent hands this feature its sockets
(``socks5``, a :class:`~stanzalink.net.s5b.Socks5IO`) and the dial policy
and proxy cache it shares with XEP-0065 (``policy``, a
:class:`~stanzalink.xep.bytestreams.S5BPolicy`) through its constructor;
without ``socks5`` the transport is not offered.  See ``docs/socks5.md``
and ``docs/jingle.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from stanzalink.errors import StanzaError, StanzalinkError
from stanzalink.net.s5b import Socks5IO, Socks5Listener
from stanzalink.net.socks5 import Socks5Stream
from stanzalink.xep import bytestreams as bs
from stanzalink.xep.base import Feature
from stanzalink.xep.files_config import FILES
from stanzalink.xep.jingle import s5b as j
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.s5b_negotiation import S5BNegotiation
from stanzalink.xep.jingle.session import JingleSession, Transport, TransportFailed
from stanzalink.xml import Element

log = logging.getLogger(__name__)

NS = j.NS


class S5BTransport(Transport):
    namespace: ClassVar[str] = NS

    def __init__(self, session: JingleSession, content: str, offer: Element | None) -> None:
        super().__init__(session, content, offer)
        feat = session.jingle.ctx.feature(JingleS5B)
        if feat is None or feat.io is None:
            raise TransportFailed("the jingle-s5b feature is not running")
        self.feature = feat
        self._offer = offer
        sid = j.new_id()
        self._theirs: set[tuple[str, int]] = set()
        if offer is not None:
            t = j.parse_transport(offer)  # StanzaError bad-request: answers the IQ
            if t.mode != "tcp":
                raise StanzaError("not-acceptable", "only mode tcp", "modify")
            sid = t.sid
            self._theirs = {(c.host, c.port) for c in t.candidates}
        self._failed = ""
        self._aborted = False
        self._opening: asyncio.Future[Any] | None = None
        self.stream: Socks5Stream | None = None
        self.neg = S5BNegotiation(
            sid=sid, me=str(session.jingle.ctx.jid), peer=session.peer,
            initiator=session.we_initiated, send_info=self._send_info,
            iq=session.jingle.ctx.iq, io=feat.io, policy=feat.policy,
            listener=feat.listener, connect_timeout=feat.connect_timeout,
            clock=session.jingle.ctx.clock,
        )  # fmt: skip

    @classmethod
    def usable(cls, jingle: Jingle) -> bool:
        feat = jingle.ctx.feature(JingleS5B)
        return feat is not None and feat.can_offer()

    async def _send_info(self, el: ET.Element) -> None:
        await self.session.transport_info(self.content, el)

    def offer(self) -> ET.Element:
        return self.neg.local_transport(self.feature.proxies or (), self.feature.direct())

    def answer(self) -> ET.Element:
        # §2.2: do not repeat a host/port the initiator offered
        direct = [hp for hp in self.feature.direct() if hp not in self._theirs]
        el = self.neg.local_transport(self.feature.proxies or (), direct)
        assert self._offer is not None
        self.neg.remote_transport(self._offer)  # start connecting to theirs
        return el

    def accepted(self, answer: Element) -> None:
        try:
            self.neg.remote_transport(answer)
        except StanzaError as exc:  # open() fails: fall back
            self._failed = f"bad transport in the answer: {exc}"

    def info(self, payload: Element) -> None:
        self.neg.on_transport_info(payload)

    async def open(self) -> None:
        if self.stream is not None:
            return
        if self._failed or self._aborted:
            raise TransportFailed(self._failed or "released")
        self._opening = fut = asyncio.ensure_future(
            self.neg.established(self.feature.establish_timeout)
        )
        try:
            self.stream = await fut
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._aborted and not (task is not None and task.cancelling()):
                # released (abort() cancelled the negotiation), not cancelled
                # ourselves: a cancel of our task must never turn into a
                # fallback
                raise TransportFailed("released") from None
            raise
        except (StanzalinkError, OSError, TimeoutError) as exc:
            self.feature.failed += 1
            raise TransportFailed(f"SOCKS5: {exc}") from None
        finally:
            self._opening = None
        if self._aborted:  # released while the last step finished
            await self.stream.close()
            raise TransportFailed("released")
        self.feature.established += 1

    async def send(self, data: bytes) -> None:
        if self.stream is None:
            raise TransportFailed("not open")
        try:
            await self.stream.write(data)
        except OSError as exc:
            raise TransportFailed(f"SOCKS5 stream broke: {exc}") from None

    async def recv(self) -> bytes:
        if self.stream is None:
            raise TransportFailed("not open")
        try:
            return await self.stream.read(65536)
        except OSError as exc:
            raise TransportFailed(f"SOCKS5 stream broke: {exc}") from None

    async def close(self) -> None:
        # the close ends the data (and makes Prosody's proxy65 pass on the
        # last bytes it holds back, docs/socks5.md)
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.close()

    def abort(self) -> None:
        if self._aborted:
            return
        self._aborted = True
        if self._opening is not None:
            self._opening.cancel()
        stream, self.stream = self.stream, None
        spawn = self.session.jingle.ctx.spawn
        spawn(self.neg.close(), name="s5b-release")
        if stream is not None:
            spawn(stream.close(), name="s5b-close")


class JingleS5B(Feature):
    """The XEP-0260 transport feature: proxy discovery and the candidates."""

    name = "jingle-s5b"
    config_sections = (FILES,)
    connect_timeout = 5.0  # per candidate
    establish_timeout = 30.0  # the whole negotiation
    discover_timeout = 10.0

    def __init__(
        self, ctx: Any, *, socks5: Socks5IO | None = None, policy: bs.S5BPolicy | None = None
    ) -> None:
        super().__init__(ctx)
        cfg = FILES.of(ctx.config)
        self.enabled = bool(cfg["socks5"])
        self.direct_enabled = bool(cfg["direct_candidates"])
        self.direct_host = str(cfg["direct_host"])
        # the sockets (agent.py passes a net.s5b.Socks5Dialer); None: not offered
        self.io = socks5
        # which of the peer's candidates are dialled (proxies the device found
        # itself; direct/assisted ones only with dial_direct), and the proxies:
        # shared with XEP-0065 (agent.py passes the Bytestreams feature's)
        self.policy = policy or bs.S5BPolicy.from_config(ctx.config)
        self.listener: Socks5Listener | None = None
        self._direct: tuple[str, int] | None = None
        self._discovery: asyncio.Task[Any] | None = None
        self.established = 0  # bytestreams set up (counters, for status and tests)
        self.failed = 0  # negotiations that fell back

    @property
    def dial_direct(self) -> bool:
        return self.policy.dial_direct

    @property
    def proxies(self) -> list[bs.StreamHost] | None:
        """The proxies found on this stream (None: not looked for yet)."""
        return self.policy.proxies

    @proxies.setter
    def proxies(self, value: list[bs.StreamHost] | None) -> None:
        self.policy.proxies = value

    @property
    def active(self) -> bool:
        return self.enabled and self.io is not None

    @property
    def jingle_transport(self) -> type[Transport] | None:
        return S5BTransport if self.active else None

    @property
    def disco_features(self) -> tuple[str, ...]:  # type: ignore[override]
        return (NS,) if self.active else ()

    def can_offer(self) -> bool:
        """Worth offering: proxies found, or a direct candidate."""
        return self.active and bool(self.proxies or self._direct)

    def direct(self) -> list[tuple[str, int]]:
        return [self._direct] if self._direct else []

    # ------------------------------------------------------------ upkeep
    def on_online(self, resumed: bool) -> None:
        if not self.active or (resumed and self.proxies is not None):
            return
        self.policy.forget()
        if self._discovery is not None:
            self._discovery.cancel()
        self._discovery = self.ctx.spawn(self._discover(), name="s5b-discover")

    async def _discover(self) -> None:
        try:
            if self.direct_enabled and self.listener is None and self.io is not None:
                self.listener = self.io.listener(self.direct_host, 0)
                self._direct = await self.listener.start()
        except OSError as exc:
            log.info("no direct candidate: %s", exc)
        found = await self.policy.find(self.ctx.iq, self.ctx.jid.domain, self.discover_timeout)
        log.info("SOCKS5 proxies: %s", ", ".join(f"{p.jid} {p.host}:{p.port}"
                                                 for p in found) or "none")  # fmt: skip

    async def stop(self) -> None:
        if self._discovery is not None:
            self._discovery.cancel()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                await self.listener.close()
            self.listener = None

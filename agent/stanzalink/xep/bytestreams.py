"""XEP-0065 SOCKS5 Bytestreams, the stanza side (no sockets: the SOCKS5
connections themselves are :mod:`stanzalink.net.socks5`).

What is here, in the order a transfer uses it:

* proxy discovery: :func:`discover_proxies` asks the server for its
  disco#items, each item for its disco#info (identity proxy/bytestreams)
  and each proxy for its streamhost (§4);
* the requester's offer (:func:`offer` / :func:`parse_offer`, §5.3.1 and
  §6.3.1), the target's ``streamhost-used`` answer
  (:func:`streamhost_used` / :func:`parse_streamhost_used`);
* activation at a proxy (:func:`activate` / :func:`parse_activate`, §6.3.5);
* the SOCKS5 DST.ADDR, :func:`dst_addr` = hex SHA1(SID + requester JID +
  target JID) over the normalized JIDs (§5.3.2);
* :class:`Bytestreams`, the device feature answering offers (the device as
  target, for plain XEP-0065 outside Jingle): operators and admins only,
  and only while an application listens (:meth:`Bytestreams.listen`);
  otherwise ``not-acceptable``.  The listener opens the connection (with
  ``stanzalink.net.socks5.connect_first``: this module opens no socket)
  to the streamhosts the device may dial: the proxies it found itself, at
  the address their own answer gave, and the others only with ``[files]
  dial_direct = true`` (a requester names any host and port it likes).

Every parser raises :class:`StanzaError` with ``bad-request`` for a payload
that breaks the XEP, so a handler can let it propagate as the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stanzalink.access import Role
from stanzalink.digest import hexdigest
from stanzalink.errors import StanzaError, StanzalinkError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.base import Context, Feature, IQRoute
from stanzalink.xep.files_config import FILES
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

NS = "http://jabber.org/protocol/bytestreams"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
QUERY = f"{{{NS}}}query"

MAX_STREAMHOSTS = 16  # an offer with more is refused (each one is a connection attempt)
MAX_DISCO_ITEMS = 32  # items of the server probed for a proxy
MAX_PROXIES = 4  # streamhosts kept from discovery (find_proxies)
MAX_SID = 128  # XEP-0065 gives no bound; 128 characters is plenty for a nonce

log = logging.getLogger(__name__)

Node = Element | ET.Element
IQFn = Callable[[ET.Element, "float | None"], Awaitable[Element]]


def attrs(**kw: str | None) -> dict[str, str]:
    """Attributes without the None values."""
    return {k: v for k, v in kw.items() if v is not None}


def normalize_jid(jid: str | JID) -> str:
    """The stringprep'ed form of a JID (bad-request if it is not one)."""
    try:
        return str(jid if isinstance(jid, JID) else JID.parse(jid))
    except InvalidJID as exc:
        raise StanzaError("bad-request", f"not a JID: {jid!r} ({exc})", "modify") from None


def dst_addr(sid: str, requester: str | JID, target: str | JID) -> str:
    """SOCKS5 DST.ADDR of XEP-0065 §5.3.2: hex SHA1(SID + requester + target)."""
    data = sid + normalize_jid(requester) + normalize_jid(target)
    return hexdigest("sha1", data.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class StreamHost:
    """A ``<streamhost/>``: where to open the SOCKS5 connection."""

    jid: str
    host: str
    port: int

    def element(self) -> ET.Element:
        return E(
            f"{{{NS}}}streamhost", {"jid": self.jid, "host": self.host, "port": str(self.port)}
        )


@dataclass(frozen=True, slots=True)
class Offer:
    """A requester's offer (the ``query`` of an IQ set)."""

    sid: str
    streamhosts: tuple[StreamHost, ...]
    dstaddr: str | None = None
    mode: str = "tcp"


def check_sid(sid: str | None) -> str:
    if not sid or len(sid) > MAX_SID:
        raise StanzaError("bad-request", "a sid of 1-128 characters is required", "modify")
    return sid


def parse_port(value: str | None, what: str) -> int:
    # ASCII digits only: str.isdigit() takes "¹" and 5000 digits, int() raises on both
    if value is None or not re.fullmatch(r"[0-9]{1,5}", value) or not 0 < int(value) < 65536:
        raise StanzaError("bad-request", f"{what}: bad port {value[:16] if value else value!r}",
                          "modify")  # fmt: skip
    return int(value)


def parse_streamhost(el: Node) -> StreamHost:
    jid, host = el.get("jid"), el.get("host")
    if not jid or not host:
        raise StanzaError("bad-request", "a streamhost needs jid, host and port", "modify")
    return StreamHost(normalize_jid(jid), host, parse_port(el.get("port"), "streamhost"))


def _query(stanza: Node) -> Node:
    q = stanza.find(QUERY)
    if q is None:
        raise StanzaError("bad-request", "no bytestreams query", "modify")
    return q


def parse_streamhosts(stanza: Node) -> list[StreamHost]:
    """The streamhosts of an IQ (or of its query): a proxy's answer, an offer."""
    q = stanza if stanza.tag == QUERY else _query(stanza)
    hosts = q.findall(f"{{{NS}}}streamhost")
    if len(hosts) > MAX_STREAMHOSTS:
        raise StanzaError("bad-request", f"more than {MAX_STREAMHOSTS} streamhosts", "modify")
    return [parse_streamhost(h) for h in hosts]


def streamhost_request(proxy: str) -> ET.Element:
    """IQ get asking a proxy for its network address (§4, no sid)."""
    return E("{jabber:client}iq", {"type": "get", "to": proxy}, E(QUERY))


def offer(to: str, sid: str, hosts: list[StreamHost], dstaddr: str | None = None) -> ET.Element:
    """The requester's IQ set offering ``hosts`` to the target."""
    q = E(QUERY, attrs(sid=check_sid(sid), dstaddr=dstaddr))
    q.extend(h.element() for h in hosts)
    return E("{jabber:client}iq", {"type": "set", "to": to}, q)


def parse_offer(iq: Node) -> Offer:
    q = _query(iq)
    mode = q.get("mode") or "tcp"
    if mode != "tcp":
        raise StanzaError("not-acceptable", "only mode tcp is supported", "modify")
    hosts = parse_streamhosts(q)
    if not hosts:
        raise StanzaError("bad-request", "an offer needs a streamhost", "modify")
    return Offer(check_sid(q.get("sid")), tuple(hosts), q.get("dstaddr"), mode)


def streamhost_used(iq: Node, sid: str, jid: str) -> ET.Element:
    """The target's IQ result naming the streamhost it connected to."""
    reply = E("{jabber:client}iq", attrs(type="result", id=iq.get("id") or "", to=iq.get("from")))
    q = sub(reply, QUERY, {"sid": sid})
    sub(q, f"{{{NS}}}streamhost-used", {"jid": jid})
    return reply


def parse_streamhost_used(reply: Node, offered: Offer | list[StreamHost]) -> StreamHost:
    """The streamhost the target names in its result; it must be one offered."""
    hosts = offered.streamhosts if isinstance(offered, Offer) else offered
    used = _query(reply).find(f"{{{NS}}}streamhost-used")
    jid = used.get("jid") if used is not None else None
    if not jid:
        raise StanzaError("bad-request", "no streamhost-used jid", "modify")
    norm = normalize_jid(jid)
    for h in hosts:
        if h.jid == norm:
            return h
    raise StanzaError("item-not-found", f"streamhost {jid} was not offered", "cancel")


def activate(proxy: str, sid: str, target: str) -> ET.Element:
    """The requester's IQ set asking the proxy to relay (§6.3.5)."""
    q = E(QUERY, {"sid": check_sid(sid)}, E(f"{{{NS}}}activate", text=target))
    return E("{jabber:client}iq", {"type": "set", "to": proxy}, q)


def parse_activate(iq: Node) -> tuple[str, str]:
    """(sid, target JID) of an activation request."""
    q = _query(iq)
    target = q.findtext(f"{{{NS}}}activate")
    if not target:
        raise StanzaError("bad-request", "no activate target", "modify")
    return check_sid(q.get("sid")), normalize_jid(target.strip())


def is_proxy(info: Node) -> bool:
    """Does a disco#info result carry the identity proxy/bytestreams?"""
    q = info.find(f"{{{DISCO_INFO}}}query")
    if q is None:
        return False
    return any(
        i.get("category") == "proxy" and i.get("type") == "bytestreams"
        for i in q.findall(f"{{{DISCO_INFO}}}identity")
    )


def own_component(jid: str, server: str) -> bool:
    """Whether ``jid`` is a service of ``server``: a domain JID, the server's
    own or one under it (``proxy.example.net`` for ``example.net``)."""
    try:
        j, home = JID.parse(jid), JID.parse(server)
    except InvalidJID:
        return False
    return (
        j.local is None
        and j.resource is None
        and (j.domain == home.domain or j.domain.endswith("." + home.domain))
    )


def proxy_streamhosts(reply: Node, proxy: str) -> list[StreamHost]:
    """The streamhosts of a proxy's answer (§4) that are the proxy itself:
    one naming another JID would vouch for an address of someone else's."""
    me = normalize_jid(proxy)
    hosts = parse_streamhosts(reply)
    for sh in hosts:
        if sh.jid != me:
            log.info("proxy %s named another streamhost, %s: not used", me[:64], sh.jid[:64])
    return [sh for sh in hosts if sh.jid == me]


async def discover_proxies(iq: IQFn, server: str, timeout: float = 10.0) -> list[StreamHost]:
    """The streamhosts of the server's SOCKS5 proxies (§4), in disco order.
    ``iq`` is ``ctx.iq`` or ``Client.iq``.  Only the server's own services
    are asked (:func:`own_component`: a disco item elsewhere could name any
    address), and of each proxy's answer only the streamhost that is the
    proxy itself is kept.  An item that does not answer, or answers with an
    error, is skipped (and logged)."""
    items = await iq(
        E("{jabber:client}iq", {"type": "get", "to": server}, E(f"{{{DISCO_ITEMS}}}query")),
        timeout,
    )
    q = items.find(f"{{{DISCO_ITEMS}}}query")
    jids = [i.get("jid") for i in (q.findall(f"{{{DISCO_ITEMS}}}item") if q is not None else [])]
    found: list[StreamHost] = []
    for jid in [j for j in jids if j][:MAX_DISCO_ITEMS]:
        if not own_component(jid, server):
            log.info("disco item %s is not a service of %s: not asked", jid[:64], server)
            continue
        try:
            info = await iq(
                E("{jabber:client}iq", {"type": "get", "to": jid}, E(f"{{{DISCO_INFO}}}query")),
                timeout,
            )
            if not is_proxy(info):
                continue
            found += proxy_streamhosts(await iq(streamhost_request(jid), timeout), jid)
        except (StanzaError, TimeoutError) as exc:
            log.info("disco item %s is not a usable proxy: %s", jid, exc or type(exc).__name__)
    return found


async def find_proxies(
    iq: IQFn, domain: str, proxy: str | None = None, timeout: float = 10.0
) -> list[StreamHost]:
    """The streamhosts of ``proxy`` when one is named (``[files]
    socks5_proxy``), else of the proxies found on the server ``domain``; at
    most MAX_PROXIES, and none, with the reason logged, when none answers."""
    try:
        if proxy:
            found = proxy_streamhosts(await iq(streamhost_request(proxy), timeout), proxy)
        else:
            found = await discover_proxies(iq, domain, timeout)
    except (StanzalinkError, OSError, TimeoutError) as exc:
        log.info("no SOCKS5 proxy: %s", exc or type(exc).__name__)
        return []
    return found[:MAX_PROXIES]


class S5BPolicy:
    """The device's one SOCKS5 dial policy and proxy cache, shared by
    XEP-0065 (:class:`Bytestreams`) and XEP-0260 (the ``jingle-s5b``
    feature): the agent hands the same instance to both.

    ``proxies`` are the streamhosts of the server's proxies (``None``: not
    looked for on this stream; :meth:`forget` on a new stream).  A peer
    names hosts and ports, and dialling them blindly would let it make the
    device open connections anywhere on its network, so :meth:`dial` allows
    a proxy only when its JID is one the device found itself, at the address
    that proxy's own answer gave, and any other host only with ``[files]
    dial_direct = true``."""

    def __init__(self, *, dial_direct: bool = False, proxy_jid: str | None = None,
                 proxies: Iterable[StreamHost] | None = None) -> None:  # fmt: skip
        self.dial_direct = dial_direct
        self.proxy_jid = proxy_jid  # ``[files] socks5_proxy``: ask this one, not disco
        self.proxies: list[StreamHost] | None = None if proxies is None else list(proxies)
        self._finding = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Any) -> S5BPolicy:
        """From the ``[files]`` section of ``config`` (``dial_direct``,
        ``socks5_proxy``)."""
        files = FILES.of(config)
        return cls(dial_direct=bool(files["dial_direct"]), proxy_jid=files["socks5_proxy"])

    def forget(self) -> None:
        """A new stream: the proxies are looked for again."""
        self.proxies = None

    async def find(self, iq: IQFn, domain: str, timeout: float = 10.0) -> list[StreamHost]:
        """The proxies, looked for (:func:`find_proxies`) when not yet on this
        stream; callers arriving together share one discovery."""
        async with self._finding:
            if self.proxies is None:
                self.proxies = await find_proxies(iq, domain, self.proxy_jid, timeout)
            return self.proxies

    def known(self) -> dict[str, StreamHost]:
        """The proxies found so far, by JID."""
        return {p.jid: p for p in self.proxies or ()}

    def dial(self, jid: str, host: str, port: int, kind: str = "any") -> StreamHost | None:
        """Where to connect for a streamhost the peer named, or None: not
        dialled.  ``kind``: "proxy" (a XEP-0260 proxy candidate), "direct"
        (a XEP-0260 direct, assisted or tunnel candidate) or "any" (a
        XEP-0065 streamhost, which does not say)."""
        if kind != "direct":
            known = self.known().get(jid)
            if known is not None:
                return known
            if kind == "proxy":
                return None
        return StreamHost(jid, host, port) if self.dial_direct else None


@dataclass(frozen=True, slots=True)
class Incoming:
    """An offer the device (target) received, for the listener."""

    offer: Offer
    requester: str
    dst: str  # the DST.ADDR to connect with (the offer's dstaddr if it gave one)
    role: Role


# Connects to one of ``incoming.offer.streamhosts`` with ``incoming.dst`` and
# keeps the stream; returns the streamhost used, or raises StanzaError.
Listener = Callable[[Incoming], Awaitable[StreamHost]]


class Bytestreams(Feature):
    """XEP-0065 target on the device: operators may offer it a bytestream
    when an application listens; the answer waits for the connection.

    The listener gets the offer's dialable streamhosts only
    (:meth:`dialable`, by the :class:`S5BPolicy` shared with ``jingle-s5b``):
    a streamhost whose JID is a proxy of the device's own server (found once
    per stream, by the first offer or Jingle session that needs it), with the
    address from that proxy's own answer; any other only with ``[files]
    dial_direct = true``.  An offer
    with none left is answered ``item-not-found`` and reaches no listener."""

    name = "bytestreams"
    disco_features = (NS,)
    config_sections = (FILES,)
    need = Role.OPERATOR
    max_pending = 4  # offers being connected at once; more get resource-constraint
    connect_timeout = 30.0
    discover_timeout = 10.0

    def __init__(self, ctx: Context, *, policy: S5BPolicy | None = None) -> None:
        super().__init__(ctx)
        self._listener: Listener | None = None
        self._pending = 0
        # the agent passes the policy it shares with jingle-s5b
        self.policy = policy or S5BPolicy.from_config(ctx.config)

    @property
    def dial_direct(self) -> bool:
        return self.policy.dial_direct

    @property
    def proxies(self) -> list[StreamHost] | None:
        return self.policy.proxies

    def on_online(self, resumed: bool) -> None:
        if not resumed:
            self.policy.forget()

    async def known_proxies(self) -> dict[str, StreamHost]:
        """The proxies the device trusts, by JID: found once a stream (by
        whichever of this feature and ``jingle-s5b`` needs them first)."""
        await self.policy.find(self.ctx.iq, self.ctx.jid.domain, self.discover_timeout)
        return self.policy.known()

    async def dialable(self, offer: Offer, requester: str) -> tuple[StreamHost, ...]:
        """The streamhosts of ``offer`` the device may connect to, in its
        order (with dial_direct, nothing is looked up: every one is)."""
        if not self.dial_direct:
            await self.known_proxies()
        out: list[StreamHost] = []
        for sh in offer.streamhosts:
            dial = self.policy.dial(sh.jid, sh.host, sh.port)
            if dial is not None:
                out.append(dial)
            else:
                log.info("bytestream %s from %s: not dialling streamhost %s at %s:%d: not a"
                         " proxy of ours (dial_direct is off)", offer.sid[:64], requester,
                         sh.jid[:64], sh.host[:64], sh.port)  # fmt: skip
        return tuple(out)

    def listen(self, listener: Listener | None) -> None:
        """Accept offers by calling ``listener`` (None: refuse them again)."""
        self._listener = listener

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("set", QUERY, self._offer, self.need)]

    async def _answer(
        self, offer: Offer, requester: str, dst: str, role: Role
    ) -> tuple[Offer, StreamHost]:
        hosts = await self.dialable(offer, requester)
        if not hosts:
            raise StanzaError("item-not-found", "no streamhost the device may dial", "cancel")
        offer = dataclasses.replace(offer, streamhosts=hosts)
        assert self._listener is not None
        return offer, await self._listener(Incoming(offer, requester, dst, role))

    async def _offer(self, iq: Element, role: Role | None) -> ET.Element:
        offer = parse_offer(iq)
        if self._listener is None or role is None:
            raise StanzaError("not-acceptable", "", "modify")
        if self._pending >= self.max_pending:
            raise StanzaError("resource-constraint", "too many bytestreams at once", "wait")
        requester = iq.get("from") or ""
        target = iq.get("to") or str(self.ctx.jid)
        dst = offer.dstaddr or dst_addr(offer.sid, requester, target)
        self._pending += 1
        try:
            # the whole answer within connect_timeout, a first proxy discovery included
            offer, used = await self.ctx.clock.wait_for(
                self._answer(offer, requester, dst, role), self.connect_timeout
            )
        except TimeoutError:
            raise StanzaError("item-not-found", "no streamhost reachable", "cancel") from None
        finally:
            self._pending -= 1
        if used not in offer.streamhosts:
            raise StanzaError("internal-server-error", "", "wait")
        return streamhost_used(iq, offer.sid, used.jid)

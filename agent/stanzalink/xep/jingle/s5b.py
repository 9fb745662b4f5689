"""XEP-0260 Jingle SOCKS5 Bytestreams transport: the ``<transport/>``
elements (``urn:xmpp:jingle:transports:s5b:1``), candidate priorities, the
DST.ADDR rules and the nomination rules of §2.4.  No Jingle session logic
and no sockets: a Jingle transport class combines this with
:mod:`stanzalink.net.socks5` (see ``docs/socks5.md``).

DST.ADDR in XEP-0260 (§2.2): ``SID`` is the *transport's* ``sid`` (the
stream ID, not the Jingle session's sid).  A candidate offered by the
initiator is reached with SHA1(SID + initiator + responder); one offered by
the responder with SHA1(SID + responder + initiator): the party that
offered a candidate plays the XEP-0065 requester for it, and activates it
when it is a proxy.  :func:`candidate_dst` computes that.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from stanzalink.errors import StanzaError
from stanzalink.jid import JID
from stanzalink.xep.bytestreams import (
    MAX_STREAMHOSTS,
    Node,
    StreamHost,
    attrs,
    check_sid,
    dst_addr,
    normalize_jid,
    parse_port,
)
from stanzalink.xml.builder import E, sub

NS = "urn:xmpp:jingle:transports:s5b:1"
TRANSPORT = f"{{{NS}}}transport"
# §2.1 type preferences: priority = 2^16 * type preference + local preference
TYPE_PREFERENCE = {"direct": 126, "assisted": 120, "tunnel": 110, "proxy": 10}
SIGNALS = ("candidate-used", "candidate-error", "activated", "proxy-error")


def priority(ctype: str, local: int = 0) -> int:
    """The §2.1 priority of a candidate of type ``ctype``."""
    if ctype not in TYPE_PREFERENCE or not 0 <= local <= 65535:
        raise ValueError(f"bad candidate type {ctype!r} or local preference {local}")
    return (TYPE_PREFERENCE[ctype] << 16) + local


def new_id() -> str:
    """A fresh cid or transport sid."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Candidate:
    cid: str
    host: str
    port: int
    jid: str
    priority: int
    type: str = "direct"

    @classmethod
    def from_streamhost(cls, sh: StreamHost, ctype: str = "proxy", local: int = 0) -> Candidate:
        return cls(new_id(), sh.host, sh.port, sh.jid, priority(ctype, local), ctype)

    @property
    def streamhost(self) -> StreamHost:
        return StreamHost(self.jid, self.host, self.port)

    def element(self) -> ET.Element:
        return E(
            f"{{{NS}}}candidate",
            {"cid": self.cid, "host": self.host, "jid": self.jid, "port": str(self.port),
             "priority": str(self.priority), "type": self.type},
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TransportElement:
    """A parsed ``<transport/>``: candidates (session-initiate/-accept,
    transport-info with a new candidate) or one signal."""

    sid: str
    candidates: tuple[Candidate, ...] = ()
    dstaddr: str | None = None
    mode: str = "tcp"
    signal: str | None = None  # one of SIGNALS
    cid: str | None = None  # of candidate-used / activated


def transport(
    sid: str,
    candidates: Iterable[Candidate] = (),
    dstaddr: str | None = None,
    mode: str | None = None,
) -> ET.Element:
    """A ``<transport/>`` offering ``candidates`` (``mode`` only from the initiator)."""
    el = E(TRANSPORT, attrs(sid=check_sid(sid), dstaddr=dstaddr, mode=mode))
    el.extend(c.element() for c in sorted(candidates, key=lambda c: -c.priority))
    return el


def _signal(sid: str, name: str, cid: str | None = None) -> ET.Element:
    el = E(TRANSPORT, {"sid": check_sid(sid)})
    sub(el, f"{{{NS}}}{name}", attrs(cid=cid))
    return el


def candidate_used(sid: str, cid: str) -> ET.Element:
    return _signal(sid, "candidate-used", cid)


def candidate_error(sid: str) -> ET.Element:
    return _signal(sid, "candidate-error")


def activated(sid: str, cid: str) -> ET.Element:
    return _signal(sid, "activated", cid)


def proxy_error(sid: str) -> ET.Element:
    return _signal(sid, "proxy-error")


def parse_candidate(el: Node) -> Candidate:
    cid, host, jid, prio = el.get("cid"), el.get("host"), el.get("jid"), el.get("priority")
    ctype = el.get("type") or "direct"
    if (
        not cid
        or not host
        or not jid
        or prio is None
        or not re.fullmatch(r"[0-9]{1,10}", prio)  # ASCII, a positive 32-bit integer
        or not 0 < int(prio) < 2**31
    ):
        raise StanzaError("bad-request", "a candidate needs cid, host, jid and priority", "modify")
    if ctype not in TYPE_PREFERENCE:
        raise StanzaError("bad-request", f"unknown candidate type {ctype!r}", "modify")
    # port is optional in the schema; without it there is nothing to connect to
    port = parse_port(el.get("port"), f"candidate {cid}")
    return Candidate(cid, host, port, normalize_jid(jid), int(prio), ctype)


def parse_transport(el: Node) -> TransportElement:
    """A ``<transport/>`` element (bad-request if it breaks XEP-0260 §9)."""
    if el.tag != TRANSPORT:
        raise StanzaError("bad-request", "not an s5b transport", "modify")
    mode = el.get("mode") or "tcp"
    if mode not in ("tcp", "udp"):
        raise StanzaError("bad-request", f"bad mode {mode!r}", "modify")
    sid = check_sid(el.get("sid"))
    cands: list[Candidate] = []
    signal: str | None = None
    cid: str | None = None
    for child in el:
        name = child.tag.split("}", 1)[-1]
        if not child.tag.startswith(f"{{{NS}}}"):
            continue
        if name == "candidate":
            cands.append(parse_candidate(child))
        elif name in SIGNALS:
            if signal is not None:
                raise StanzaError("bad-request", "more than one transport signal", "modify")
            signal, cid = name, child.get("cid")
            if name in ("candidate-used", "activated") and not cid:
                raise StanzaError("bad-request", f"{name} needs a cid", "modify")
    if signal and cands:
        raise StanzaError("bad-request", "candidates and a signal in one transport", "modify")
    if len(cands) > MAX_STREAMHOSTS:
        raise StanzaError("bad-request", f"more than {MAX_STREAMHOSTS} candidates", "modify")
    if len({c.cid for c in cands}) != len(cands):
        raise StanzaError("bad-request", "duplicate candidate cid", "modify")
    return TransportElement(sid, tuple(cands), el.get("dstaddr"), mode, signal, cid)


def candidate_dst(sid: str, offered_by: str | JID, other: str | JID) -> str:
    """DST.ADDR for a candidate offered by ``offered_by`` (§2.2):
    SHA1(transport sid + offerer JID + other party's JID)."""
    return dst_addr(sid, offered_by, other)


def by_priority(cands: list[Candidate] | tuple[Candidate, ...]) -> list[Candidate]:
    """The order to try candidates in (§4: highest priority first; offer
    order breaks ties)."""
    return sorted(cands, key=lambda c: -c.priority)


@dataclass(frozen=True, slots=True)
class Nominated:
    candidate: Candidate
    ours: bool  # we offered it (so we activate it if it is a proxy)


def nominate(
    ours: list[Candidate] | tuple[Candidate, ...],
    theirs: list[Candidate] | tuple[Candidate, ...],
    we_used: str | None,
    they_used: str | None,
    initiator: bool,
) -> Nominated | None:
    """§2.4: the candidate to use once both sides sent candidate-used (the
    cid) or candidate-error (None).  ``we_used`` is a cid of ``theirs`` (we
    connected to a candidate the peer offered), ``they_used`` one of
    ``ours``.  None: both failed, fall back (transport-replace)."""
    mine = next((c for c in theirs if c.cid == we_used), None) if we_used else None
    peer = next((c for c in ours if c.cid == they_used), None) if they_used else None
    if (we_used and mine is None) or (they_used and peer is None):
        raise StanzaError("item-not-found", "candidate-used names an unknown cid", "cancel")
    if mine is None and peer is None:
        return None
    if peer is None:
        assert mine is not None
        return Nominated(mine, ours=False)
    if mine is None or peer.priority > mine.priority:
        return Nominated(peer, ours=True)
    if mine.priority > peer.priority:
        return Nominated(mine, ours=False)
    # same priority: the initiator's choice (the candidate the initiator used)
    return Nominated(mine, ours=False) if initiator else Nominated(peer, ours=True)

"""XEP-0166 Jingle: the session state machine shared by every Jingle
application (file transfer) and every transport (IBB, SOCKS5).

A session is PENDING from session-initiate, ACTIVE from session-accept,
ENDED from session-terminate (sent or received).  Applications and
transports plug in as features:

- an application feature derives from :class:`Application` too, sets
  ``jingle_application`` to its description namespace and implements its
  methods;
- a transport feature is a :class:`TransportProvider`: its
  ``jingle_transport`` is a :class:`Transport` subclass (see
  ``docs/jingle.md`` for the contract).

The core answers ``unknown-session`` (item-not-found) for every sid it does
not know from that peer, ``out-of-order`` for actions the state machine does
not allow, ``tie-break`` (conflict) for simultaneous session-initiates
(XEP-0166 §7.2.16: the lower sid wins) and transport-replaces (the
initiator wins), ends sessions nobody accepted within ``pending_timeout``,
keeps at most ``max_sessions`` (``[files] max_transfers``; ``max_per_peer``
with one account, ``max_transfers_per_peer``; ``max_contents`` contents
each, names unique), and ends every session with a peer whose
presence goes unavailable (reason ``gone``), releasing its transport.
"""

from __future__ import annotations

import contextlib
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from stanzalink.access import Role
from stanzalink.errors import StanzaError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.base import Feature, IQRoute
from stanzalink.xep.files_config import FILES
from stanzalink.xep.jingle.session import (
    ACTIVE,
    FALLBACK,
    NS,
    NS_ERRORS,
    PENDING,
    STANZAS,
    Application,
    Content,
    JingleSession,
    Transport,
    TransportFailed,
    TransportProvider,
    norm,
    parse_reason,
    reason_element,
    reason_of,
)
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

__all__ = [
    "NS",
    "Application",
    "Jingle",
    "JingleSession",
    "Transport",
    "TransportFailed",
    "jingle_error",
    "parse_reason",
    "reason_element",
]

log = logging.getLogger(__name__)


def jingle_error(
    iq: Element, condition: str, jingle_condition: str | None = None, etype: str = "cancel"
) -> ET.Element:
    """An IQ error with a Jingle condition (XEP-0166 §10)."""
    reply = E(
        "{jabber:client}iq", {"type": "error", "id": iq.get("id") or "", "to": iq.get("from")}
    )
    err = sub(reply, "{jabber:client}error", {"type": etype})
    sub(err, f"{{{STANZAS}}}{condition}")
    if jingle_condition:
        sub(err, f"{{{NS_ERRORS}}}{jingle_condition}")
    return reply


class Jingle(Feature):
    name = "jingle"
    disco_features = (NS,)

    config_sections = (FILES,)
    max_sessions: int  # [files] max_transfers
    max_per_peer: int  # sessions with one account (all its resources)
    max_contents = 4  # per session-initiate (each gets a transport)
    max_replaces = 4  # transport-replaces a peer may send per content; more are rejected
    pending_timeout = 60.0  # a session not accepted by then ends with timeout
    replace_timeout = 30.0
    iq_timeout = 30.0
    terminate_timeout = 10.0

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._sessions: dict[tuple[str, str], JingleSession] = {}
        # the sessions are file transfers (the one Jingle application here)
        cfg = FILES.of(ctx.config)
        self.max_sessions = int(cfg["max_transfers"])
        self.max_per_peer = int(cfg["max_transfers_per_peer"])

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("set", f"{{{NS}}}jingle", self._on_jingle, Role.VIEWER)]

    # ------------------------------------------------------------ plug-ins
    def transport(self, namespace: str) -> type[Transport] | None:
        for cls in self.transports():
            if cls.namespace == namespace:
                return cls
        return None

    def transports(self) -> list[type[Transport]]:
        """Usable transports, best first (in feature order: put S5B before IBB)."""
        out = []
        for feat in self.ctx.features():
            if isinstance(feat, TransportProvider) and feat.jingle_transport is not None:
                out.append(feat.jingle_transport)
        return out

    def application(self, namespace: str) -> Application | None:
        for feat in self.ctx.features():
            if isinstance(feat, Application) and feat.jingle_application == namespace:
                return feat
        return None

    # ------------------------------------------------------------ public
    def sessions(self) -> list[JingleSession]:
        return list(self._sessions.values())

    def new_session(self, peer: str, app: Application, sid: str | None = None) -> JingleSession:
        """A session we initiate: add contents (description, transport), then
        ``await jingle.initiate(session)``."""
        if self._full(norm(peer)):
            raise StanzaError("resource-constraint", "too many Jingle sessions", "wait")
        s = JingleSession(self, sid or os.urandom(8).hex(), norm(peer), True, app)
        self._sessions[(s.peer, s.sid)] = s
        return s

    def add_content(
        self,
        s: JingleSession,
        name: str,
        description: ET.Element,
        senders: str = "initiator",
        transport: type[Transport] | None = None,
    ) -> Content:
        c = Content("initiator", name, senders)
        c.description = description
        available = [t for t in self.transports() if t.usable(self)]
        cls = transport or (available[0] if available else None)
        if cls is None:
            raise StanzaError("feature-not-implemented", "no Jingle transport")
        c.transport = cls(s, name, None)
        s.contents[name] = c
        return c

    async def initiate(self, s: JingleSession) -> None:
        """Send session-initiate; return once the peer acknowledged it (its
        session-accept completes ``s.accepted``)."""
        j = s.element("session-initiate")
        for c in s.contents.values():
            assert c.transport is not None
            j.append(s.content_element(c, c.transport.offer(), True))
        try:
            await s.send(j)
        except StanzaError as exc:
            s._end("tie-break" if _is_tie(exc) else "failed-application", by_peer=True)
            raise
        except Exception as exc:
            s._end(reason_of(exc), by_peer=False)
            raise

    # ------------------------------------------------------------ incoming
    def _on_jingle(self, iq: Element, role: Role | None) -> ET.Element | None:
        j = iq.find(f"{{{NS}}}jingle")
        assert j is not None
        action, sid, peer = j.get("action") or "", j.get("sid") or "", norm(iq.get("from"))
        if not sid or not peer or not action:
            raise StanzaError("bad-request", etype="modify")
        if action == "session-initiate":
            return self._on_initiate(iq, j, peer, sid, role)
        s = self._sessions.get((peer, sid))
        if s is None:
            return jingle_error(iq, "item-not-found", "unknown-session")
        handler = _ACTIONS.get(action)
        if handler is None:
            if action in _KNOWN_UNSUPPORTED:
                raise StanzaError("feature-not-implemented")
            raise StanzaError("bad-request", f"unknown action {action!r}", "modify")
        reply: ET.Element | None = handler(self, s, iq, j)
        return reply

    def _on_initiate(
        self, iq: Element, j: Element, peer: str, sid: str, role: Role | None
    ) -> ET.Element | None:
        if (peer, sid) in self._sessions:
            return jingle_error(iq, "unexpected-request", "out-of-order")
        contents = j.findall(f"{{{NS}}}content")
        if not contents:
            raise StanzaError("bad-request", "no content", "modify")
        if len(contents) > self.max_contents:
            raise StanzaError("not-acceptable", f"at most {self.max_contents} contents", "modify")
        if len({c.get("name") or "" for c in contents}) != len(contents):
            raise StanzaError("bad-request", "two contents with one name", "modify")
        app_ns = ""
        for child in contents[0]:
            if child.tag.endswith("}description"):
                app_ns = child.tag[1:].split("}", 1)[0]
        app = self.application(app_ns) if app_ns else None
        # §7.2.16: simultaneous equivalent initiates, the lower sid wins
        for ours in self._sessions.values():
            if (
                ours.peer == peer
                and ours.we_initiated
                and ours.state == PENDING
                and ours.app is app
                and app is not None
                and app.jingle_equivalent(ours, j)
            ):
                mine, theirs = ours.sid.encode(), sid.encode()
                if theirs > mine or (theirs == mine and peer > str(self.ctx.jid)):
                    return jingle_error(iq, "conflict", "tie-break")
        if self._full(peer):
            raise StanzaError("resource-constraint", "too many sessions", "wait")
        if app is None:
            app = _NULL_APP
        s = JingleSession(self, sid, peer, False, app)
        problem = "" if app is not _NULL_APP else "unsupported-applications"
        try:
            for cel in contents:
                c = Content(cel.get("creator") or "initiator", cel.get("name") or "",
                            cel.get("senders") or "both")  # fmt: skip
                c.peer_description = next((x for x in cel if x.tag.endswith("}description")), None)
                tel = next((x for x in cel if x.tag.endswith("}transport")), None)
                cls = self.transport(tel.tag[1:].split("}", 1)[0]) if tel is not None else None
                if cls is None:
                    problem = problem or "unsupported-transports"
                elif not problem:
                    assert tel is not None
                    try:
                        c.transport = cls(s, c.name, tel)
                    except TransportFailed:
                        problem = "unsupported-transports"
                s.contents[c.name] = c
        except BaseException:
            # refused (a malformed transport: bad-request): no session is left
            # behind, its pending timer would terminate it later
            s._timer.cancel()
            for c in s.contents.values():
                if c.transport is not None:
                    c.transport.abort()
            raise
        self._sessions[(peer, sid)] = s
        if problem == "unsupported-transports" and self.transport(FALLBACK) is not None:
            # none of the offered transports is known here: propose IBB with a
            # transport-replace before accepting (allowed while PENDING, §6.2)
            self.ctx.spawn(self._incoming(app, s, role, replace=True), name="jingle-replace")
        elif problem:
            self.ctx.spawn(s.terminate(problem), name="jingle-refuse")
        else:
            self.ctx.spawn(self._incoming(app, s, role), name="jingle-incoming")
        return None

    async def _incoming(
        self, app: Application, s: JingleSession, role: Role | None, replace: bool = False
    ) -> None:
        try:
            for c in s.contents.values():
                if replace and c.transport is None:
                    await s.replace_transport(c, FALLBACK)
        except TransportFailed:
            await s.terminate("unsupported-transports")
            return
        try:
            app.jingle_incoming(s, role)
        except Exception:
            log.exception("jingle application failed on %s", s.sid)
            await s.terminate("failed-application")

    def _on_accept(self, s: JingleSession, iq: Element, j: Element) -> ET.Element | None:
        if not s.we_initiated or s.state != PENDING:
            return jingle_error(iq, "unexpected-request", "out-of-order")
        for cel in j.findall(f"{{{NS}}}content"):
            c = s.contents.get(cel.get("name") or "")
            if c is None:
                continue
            c.peer_description = next((x for x in cel if x.tag.endswith("}description")), None)
            tel = next((x for x in cel if x.tag.endswith("}transport")), None)
            if tel is not None and c.transport is not None:
                if tel.tag != f"{{{c.transport.namespace}}}transport":
                    return jingle_error(iq, "bad-request")
                c.transport.accepted(tel)
        s.state = ACTIVE
        s._timer.cancel()
        if not s.accepted.done():
            s.accepted.set_result(None)
        return None

    def _on_terminate(self, s: JingleSession, iq: Element, j: Element) -> None:
        reason, _text = parse_reason(j)
        s._end(reason, by_peer=True)

    def _on_info(self, s: JingleSession, iq: Element, j: Element) -> ET.Element | None:
        payload = next(iter(j), None)
        if payload is None:
            return None  # a ping
        if s.app.jingle_info(s, payload):
            return None
        return jingle_error(iq, "feature-not-implemented", "unsupported-info")

    def _content_of(self, s: JingleSession, j: Element) -> tuple[Content | None, Element | None]:
        cel = j.find(f"{{{NS}}}content")
        if cel is None:
            return None, None
        c = s.contents.get(cel.get("name") or "")
        tel = next((x for x in cel if x.tag.endswith("}transport")), None) if c else None
        return c, tel

    def _on_transport_info(self, s: JingleSession, iq: Element, j: Element) -> None:
        c, tel = self._content_of(s, j)
        if c is None or tel is None or c.transport is None:
            raise StanzaError("bad-request", etype="modify")
        if tel.tag != f"{{{c.transport.namespace}}}transport":
            raise StanzaError("bad-request", "not the current transport", "modify")
        c.transport.info(tel)

    def _on_replace(self, s: JingleSession, iq: Element, j: Element) -> ET.Element | None:
        c, tel = self._content_of(s, j)
        if c is None or tel is None:
            raise StanzaError("bad-request", etype="modify")
        if c.replacing is not None and s.we_initiated:
            return jingle_error(iq, "conflict", "tie-break")  # the initiator's wins
        cls = self.transport(tel.tag[1:].split("}", 1)[0])
        c.replaced += 1
        if cls is None or c.replaced > self.max_replaces:
            # an unknown transport, or one replace too many (each new transport
            # opens connections or streams): the current one stays
            if cls is not None:
                log.info("%s: transport-replace #%d for %s refused", s.peer, c.replaced, c.name)
            self.ctx.spawn(self._reject_replace(s, c, tel), name="jingle-transport-reject")
            return None
        new = cls(s, c.name, tel)
        self.ctx.spawn(self._accept_replace(s, c, new), name="jingle-transport-accept")
        return None

    async def _accept_replace(self, s: JingleSession, c: Content, new: Transport) -> None:
        j = s.element("transport-accept")
        j.append(s.content_element(c, new.answer(), False))
        if c.replacing is not None and not c.replacing.done():
            c.replacing.set_exception(TransportFailed("the initiator replaced it"))
        s._set_transport(c, new)
        try:
            await s.send(j)
        except Exception as exc:
            await s.terminate("failed-transport", f"transport-accept failed: {exc}")

    async def _reject_replace(self, s: JingleSession, c: Content, tel: Element) -> None:
        j = s.element("transport-reject")
        j.append(E(f"{{{NS}}}content", {"creator": c.creator, "name": c.name}, tel.to_etree()))
        with contextlib.suppress(Exception):
            await s.send(j)

    def _on_transport_answer(self, s: JingleSession, iq: Element, j: Element) -> ET.Element | None:
        c, tel = self._content_of(s, j)
        if c is None or c.replacing is None or c.replacing.done():
            return jingle_error(iq, "unexpected-request", "out-of-order")
        if j.get("action") == "transport-accept" and tel is not None:
            c.replacing.set_result(tel)
        else:
            c.replacing.set_exception(TransportFailed("transport-reject"))
        return None

    def _on_content_remove(self, s: JingleSession, iq: Element, j: Element) -> None:
        for cel in j.findall(f"{{{NS}}}content"):
            c = s.contents.pop(cel.get("name") or "", None)
            if c is not None and c.transport is not None:
                c.transport.abort()
        if not s.contents:  # XEP-0166 §7.2.6: removing every content ends the session
            s._end(parse_reason(j)[0], by_peer=True)

    # ------------------------------------------------------------ upkeep
    def _full(self, peer: str) -> bool:
        bare = peer.split("/", 1)[0]
        mine = sum(1 for s in self._sessions.values() if s.peer.split("/", 1)[0] == bare)
        return len(self._sessions) >= self.max_sessions or mine >= self.max_per_peer

    def _forget(self, s: JingleSession) -> None:
        if self._sessions.get((s.peer, s.sid)) is s:
            del self._sessions[(s.peer, s.sid)]

    def end_peer(self, peer: str, reason: str = "gone") -> None:
        """End every session with ``peer`` locally (full JID; a bare JID ends
        those with each of its resources)."""
        p = norm(peer)
        try:
            bare = JID.parse(p).resource is None
        except InvalidJID:
            return
        for s in list(self._sessions.values()):
            if s.peer == p or (bare and s.peer.split("/", 1)[0] == p):
                s._end(reason, by_peer=True)

    def on_online(self, resumed: bool) -> None:
        # a new stream (not resumed): IQs in flight are lost, peers may have
        # given up; end what was going on rather than leave it hanging
        if not resumed:
            for s in list(self._sessions.values()):
                s._end("connectivity-error", by_peer=False)

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        if pres.get("type") == "unavailable" and self._sessions:
            self.end_peer(pres.get("from") or "")
        return False

    async def stop(self) -> None:
        for s in list(self._sessions.values()):
            await s.terminate("gone", wait=False)


def _is_tie(exc: StanzaError) -> bool:
    stanza = exc.stanza
    if isinstance(stanza, Element):
        return stanza.find(f".//{{{NS_ERRORS}}}tie-break") is not None
    return False


class _NullApp(Application):
    pass


_NULL_APP = _NullApp()

_ACTIONS: dict[str, Any] = {
    "session-accept": Jingle._on_accept,
    "session-terminate": Jingle._on_terminate,
    "session-info": Jingle._on_info,
    "transport-info": Jingle._on_transport_info,
    "transport-replace": Jingle._on_replace,
    "transport-accept": Jingle._on_transport_answer,
    "transport-reject": Jingle._on_transport_answer,
    "content-remove": Jingle._on_content_remove,
}
_KNOWN_UNSUPPORTED: Iterable[str] = frozenset(
    [
        "content-accept",
        "content-add",
        "content-modify",
        "content-reject",
        "description-info",
        "security-info",
    ]
)

"""XEP-0166 Jingle sessions: one :class:`JingleSession` with one peer, its
contents, the interfaces a transport (:class:`Transport`) and an
application (:class:`Application`) implement, and the ``<reason/>``
element.  The ``jingle`` feature that routes the peer's actions to its
sessions is :mod:`stanzalink.xep.jingle.core`.

A session is PENDING from session-initiate, ACTIVE from session-accept,
ENDED from session-terminate (sent or received); a session not accepted
within the feature's ``pending_timeout`` ends with ``timeout``, and a
transport that fails falls back to IBB (XEP-0260 §3: the initiator
replaces it, the responder waits for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from stanzalink.access import Role
from stanzalink.errors import StanzaError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

if TYPE_CHECKING:
    from stanzalink.xep.jingle.core import Jingle

log = logging.getLogger(__name__)

NS = "urn:xmpp:jingle:1"
NS_ERRORS = "urn:xmpp:jingle:errors:1"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
FALLBACK = "urn:xmpp:jingle:transports:ibb:1"  # the transport of last resort (XEP-0260 §3)

REASONS = frozenset(
    {
        "alternative-session",
        "busy",
        "cancel",
        "connectivity-error",
        "decline",
        "expired",
        "failed-application",
        "failed-transport",
        "general-error",
        "gone",
        "incompatible-parameters",
        "media-error",
        "security-error",
        "success",
        "timeout",
        "unsupported-applications",
        "unsupported-transports",
    }
)
PENDING, ACTIVE, ENDED = "pending", "active", "ended"


class TransportFailed(Exception):
    """A transport could not be established or broke (try a fallback)."""


def norm(jid: str | None) -> str:
    try:
        return str(JID.parse(jid or ""))
    except InvalidJID:
        return ""


class Transport:
    """A Jingle transport method (see docs/jingle.md).  One instance per
    content and negotiation: built with the peer's ``<transport/>`` when the
    peer offered it (``offer`` not None), or with None when we offer."""

    namespace: ClassVar[str] = ""

    def __init__(self, session: JingleSession, content: str, offer: Element | None) -> None:
        self.session = session
        self.content = content

    @classmethod
    def usable(cls, jingle: Jingle) -> bool:
        """Worth offering now (SOCKS5: a proxy or a direct candidate is known)."""
        return True

    def offer(self) -> ET.Element:
        """Our ``<transport/>`` for session-initiate or transport-replace."""
        raise NotImplementedError

    def answer(self) -> ET.Element:
        """Our ``<transport/>`` for session-accept or transport-accept (for an
        instance built from the peer's offer); start listening here."""
        raise NotImplementedError

    def accepted(self, answer: Element) -> None:
        """The peer's ``<transport/>`` from its session-accept or
        transport-accept, answering our offer."""

    def info(self, payload: Element) -> None:
        """A transport-info payload from the peer; raise StanzaError to refuse."""
        raise StanzaError("feature-not-implemented")

    async def open(self) -> None:
        """Establish the bytestream (after acceptance); TransportFailed when
        it cannot be (the session then falls back, XEP-0260 §3)."""
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def recv(self) -> bytes:
        """The next bytes; b"" when the peer finished sending."""
        raise NotImplementedError

    async def close(self) -> None:
        """Finish sending and release the stream."""

    def abort(self) -> None:
        """Release everything now, without waiting for the peer."""


@runtime_checkable
class TransportProvider(Protocol):
    """A feature that offers a Jingle transport: the Jingle feature finds
    the transports among the running features by this type."""

    @property
    def jingle_transport(self) -> type[Transport] | None:
        """The :class:`Transport` class (None while it cannot be used)."""


class Application:
    """What an application feature implements (mixed into its Feature: the
    Jingle feature finds the applications among the running features by
    this type and their ``jingle_application`` namespace)."""

    jingle_application: ClassVar[str] = ""

    def jingle_incoming(self, session: JingleSession, role: Role | None) -> None:
        """A session-initiate for this application, already acknowledged: call
        ``session.accept()`` or ``session.terminate(...)`` (soon: it times out)."""

    def jingle_info(self, session: JingleSession, payload: Element) -> bool:
        """A session-info payload; False answers unsupported-info."""
        return False

    def jingle_ended(self, session: JingleSession, reason: str, by_peer: bool) -> None:
        """The session ended (either side, or locally); release its resources."""

    def jingle_equivalent(self, ours: JingleSession, theirs: Element) -> bool:
        """For tie-breaking: is the peer's session-initiate ``<jingle/>`` the
        same request as our pending ``ours``?"""
        return True


class Content:
    def __init__(self, creator: str, name: str, senders: str) -> None:
        self.creator = creator
        self.name = name
        self.senders = senders
        self.description: ET.Element | None = None  # ours
        self.peer_description: Element | None = None  # theirs
        self.transport: Transport | None = None
        self.changed = asyncio.Event()  # the transport was replaced
        self.replacing: asyncio.Future[Element] | None = None
        self.replaced = 0  # transport-replaces the peer sent for it


class JingleSession:
    """One Jingle session with one peer."""

    def __init__(
        self, jingle: Jingle, sid: str, peer: str, we_initiated: bool, app: Application
    ) -> None:
        self.jingle = jingle
        self.sid = sid
        self.peer = peer
        self.we_initiated = we_initiated
        self.app = app
        own = str(jingle.ctx.jid)
        self.initiator = own if we_initiated else peer
        self.responder = peer if we_initiated else own
        self.state = PENDING
        self.reason: str | None = None
        self.contents: dict[str, Content] = {}
        self.accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended = asyncio.Event()
        self.data: dict[str, Any] = {}  # for the application
        self._timer = jingle.ctx.clock.call_later(jingle.pending_timeout, self._pending_expired)

    def __repr__(self) -> str:
        return f"<JingleSession {self.sid} with {self.peer} {self.state}>"

    @property
    def content(self) -> Content:
        return next(iter(self.contents.values()))

    # ------------------------------------------------------------ actions
    def element(self, action: str) -> ET.Element:
        """A ``<jingle/>`` for ``action`` in this session."""
        j = E(f"{{{NS}}}jingle", {"action": action, "sid": self.sid})
        if action == "session-initiate":
            j.set("initiator", self.initiator)
        elif action == "session-accept":
            j.set("responder", self.responder)
        return j

    def content_element(self, c: Content, transport: ET.Element | None, desc: bool) -> ET.Element:
        el = E(f"{{{NS}}}content", {"creator": c.creator, "name": c.name, "senders": c.senders})
        if desc and c.description is not None:
            el.append(c.description)
        if transport is not None:
            el.append(transport)
        return el

    async def send(self, jingle: ET.Element, timeout: float | None = None) -> Element:
        iq = E("{jabber:client}iq", {"type": "set", "to": self.peer}, jingle)
        return await self.jingle.ctx.iq(iq, timeout=timeout or self.jingle.iq_timeout)

    async def transport_info(self, content: str, transport: ET.Element) -> Element:
        """Send a transport-info with our ``<transport/>`` for ``content``
        (a transport's candidate-used, candidate-error, activated...)."""
        j = self.element("transport-info")
        j.append(self.content_element(self.contents[content], transport, False))
        return await self.send(j)

    async def accept(self) -> None:
        """Responder: send session-accept (each content's ``description`` as
        set by the application and its transport's answer)."""
        if self.state != PENDING or self.we_initiated:
            raise StanzaError("unexpected-request", "not a pending incoming session")
        j = self.element("session-accept")
        for c in self.contents.values():
            assert c.transport is not None
            j.append(self.content_element(c, c.transport.answer(), True))
        self.state = ACTIVE
        self._timer.cancel()
        try:
            await self.send(j)
        except Exception as exc:
            self._end(reason_of(exc), by_peer=False)
            raise

    async def terminate(
        self, reason: str, text: str = "", extra: ET.Element | None = None, wait: bool = True
    ) -> None:
        """Send session-terminate (the session is ENDED at once, XEP-0166 §6.7);
        ``wait``: for the acknowledgement (else just send it)."""
        if self.state == ENDED:
            return
        j = self.element("session-terminate")
        j.append(reason_element(reason, text, extra))
        self._end(reason, by_peer=False)
        if not wait:
            iq = E("{jabber:client}iq", {"type": "set", "to": self.peer, "id": os.urandom(6).hex()})
            iq.append(j)
            with contextlib.suppress(Exception):
                self.jingle.ctx.send(iq)
            return
        with contextlib.suppress(Exception):
            await self.send(j, timeout=self.jingle.terminate_timeout)

    async def info(self, payload: ET.Element | None = None) -> None:
        j = self.element("session-info")
        if payload is not None:
            j.append(payload)
        await self.send(j)

    async def connect(self, name: str | None = None) -> Transport:
        """Open the content's transport; on failure fall back (XEP-0260 §3):
        the initiator replaces it by IBB, the responder waits for that."""
        c = self.contents[name] if name else self.content
        while True:
            if self.state == ENDED:
                raise TransportFailed(f"session ended ({self.reason})")
            t = c.transport
            assert t is not None
            c.changed.clear()
            try:
                await t.open()
                return t
            except TransportFailed as exc:
                log.info("transport %s of %s failed: %s", t.namespace, self.sid, exc)
                if c.transport is not t:
                    continue  # the peer replaced it meanwhile
                if (
                    self.we_initiated
                    and t.namespace != FALLBACK
                    and self.jingle.transport(FALLBACK)
                ):
                    try:
                        await self.replace_transport(c, FALLBACK)
                        continue
                    except TransportFailed:
                        pass
                elif not self.we_initiated and t.namespace != FALLBACK:
                    with contextlib.suppress(TimeoutError):
                        await self.jingle.ctx.clock.wait_for(
                            c.changed.wait(), self.jingle.replace_timeout
                        )
                    if c.transport is not t:
                        continue
                await self.terminate("failed-transport", str(exc))
                raise

    async def replace_transport(self, c: Content, namespace: str) -> None:
        """Send transport-replace with ``namespace`` and wait for the accept
        (the initiator's fallback; the responder's when it knows none of
        the offered transports)."""
        cls = self.jingle.transport(namespace)
        if cls is None:
            raise TransportFailed(f"no transport {namespace}")
        new = cls(self, c.name, None)
        j = self.element("transport-replace")
        j.append(self.content_element(c, new.offer(), False))
        loop = asyncio.get_running_loop()
        c.replacing = loop.create_future()
        try:
            await self.send(j)
            answer = await self.jingle.ctx.clock.wait_for(c.replacing, self.jingle.replace_timeout)
        except Exception as exc:
            new.abort()
            raise TransportFailed(f"transport-replace failed: {exc!r}") from None
        finally:
            c.replacing = None
        new.accepted(answer)
        self._set_transport(c, new)

    def _set_transport(self, c: Content, new: Transport) -> None:
        old, c.transport = c.transport, new
        if old is not None and old is not new:
            old.abort()
        c.changed.set()

    # ------------------------------------------------------------ ending
    def _pending_expired(self) -> None:
        if self.state == PENDING:
            log.info("jingle session %s with %s not accepted in time", self.sid, self.peer)
            self.jingle.ctx.spawn(self.terminate("timeout"), name="jingle-timeout")

    def _end(self, reason: str, by_peer: bool) -> None:
        if self.state == ENDED:
            return
        self.state = ENDED
        self.reason = reason
        self._timer.cancel()
        for c in self.contents.values():
            if c.transport is not None:
                c.transport.abort()
            if c.replacing is not None and not c.replacing.done():
                c.replacing.set_exception(TransportFailed(f"session ended: {reason}"))
            c.changed.set()
        if not self.accepted.done():
            self.accepted.set_exception(TransportFailed(f"session ended: {reason}"))
            self.accepted.exception()  # retrieved: nobody may be waiting
        self.jingle._forget(self)
        self.ended.set()
        try:
            self.app.jingle_ended(self, reason, by_peer)
        except Exception:
            log.exception("jingle_ended of %s failed", self.sid)


def reason_element(reason: str, text: str = "", extra: ET.Element | None = None) -> ET.Element:
    el = E(f"{{{NS}}}reason")
    sub(el, f"{{{NS}}}{reason if reason in REASONS else 'general-error'}")
    if text:
        sub(el, f"{{{NS}}}text", text=text)
    if extra is not None:
        el.append(extra)
    return el


def parse_reason(jingle: Element) -> tuple[str, str]:
    r = jingle.find(f"{{{NS}}}reason")
    if r is None:
        return "success", ""
    cond = "general-error"
    for child in r:
        local = child.tag.split("}", 1)[-1]
        if child.tag.startswith(f"{{{NS}}}") and local in REASONS:
            cond = local
    return cond, r.findtext(f"{{{NS}}}text") or ""


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "connectivity-error"

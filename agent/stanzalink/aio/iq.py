"""IQs for the client: the requests it waits on (:class:`IQWaiters`) and
the requests it serves (:class:`IQServer`), with the replies built by
:mod:`stanzalink.stanza`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from stanzalink.errors import LocalProtocolError, StanzaError
from stanzalink.jid import JID, InvalidJID
from stanzalink.ratelog import RateLimitedLog
from stanzalink.session.sm import QueueFull
from stanzalink.xml import Element
from stanzalink.xml.plain import PlainElement

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.xml.plain import Built

__all__ = ["IQError", "IQHandler", "IQServer", "IQWaiters", "PasswordChangeRefused", "loggable"]

log = logging.getLogger("stanzalink.aio.client")  # the client's log lines keep one name

IQHandler: TypeAlias = "Callable[[Element], Awaitable[Built | None] | Built | None]"


class IQError(StanzaError):
    """An IQ came back with type='error' (or a handler raises it to answer
    with one)."""

    def __init__(
        self, condition: str, text: str = "", stanza: Element | None = None, etype: str = "cancel"
    ) -> None:
        super().__init__(condition, text, etype, stanza)


class PasswordChangeRefused(IQError):
    """The server refused a password change (``condition``: not-authorized,
    not-allowed, bad-request...); the old password stays in use."""


def _built(result: object) -> ET.Element | PlainElement | None:
    """``result`` when it is an element built with ElementTree or a plain
    one.  If nobody has imported ElementTree, nothing can have been built
    with it, and it is not loaded here just to say so."""
    if isinstance(result, PlainElement):
        return result
    element = getattr(sys.modules.get("xml.etree.ElementTree"), "Element", None)
    # (None also while another thread is still importing it)
    return result if element is not None and isinstance(result, element) else None


def loggable(value: str | None, limit: int = 120) -> str:
    """A peer-supplied value for a log line: cut, with control characters
    escaped (a line break in a JID must not forge a log line)."""
    if value is None:
        return "(none)"
    from stanzalink.logsafe import escape_controls  # loaded for the first such line

    text = escape_controls(value[:limit])
    return text + ("..." if len(value) > limit else "")


def answer_from(sender: str | None, expected: JID | None, own: JID) -> bool:
    """Whether an IQ answer from ``sender`` may answer a request sent to
    ``expected`` (None: our server) by ``own`` (our full JID once bound):
    a request to our server or our own account is answered by it (no
    ``from``, our bare JID, our domain, or our full JID as the server
    stamps it), any other by the JID it went to."""
    if expected is None or expected == own.bare:
        if sender is None:
            return True
        try:
            j = JID.parse(sender)
        except InvalidJID:
            return False
        return j in (own.bare, JID(None, own.domain), own)
    if sender is None:
        return False
    try:
        return JID.parse(sender) == expected
    except InvalidJID:
        return False


class IQWaiters:
    """The client's IQ requests waiting for their answers, by id."""

    def __init__(self, limited: RateLimitedLog) -> None:
        self._waiting: dict[str, tuple[asyncio.Future[Element], JID | None]] = {}
        self._limited = limited

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, iq_id: str, expected: JID | None) -> asyncio.Future[Element]:
        if iq_id in self._waiting:
            raise LocalProtocolError(f"an IQ with id {iq_id!r} is already pending")
        fut: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        self._waiting[iq_id] = (fut, expected)
        return fut

    def remove(self, iq_id: str) -> None:
        self._waiting.pop(iq_id, None)

    def answer(self, iq: Element, own: JID) -> None:
        """An IQ result or error: the answer its waiter gets, if it comes
        from where the request went."""
        kind = iq.get("type")
        iq_id = iq.get("id") or ""
        waiter = self._waiting.get(iq_id)
        if waiter is None:
            log.debug("IQ %s with unknown id %r ignored", kind, iq_id)
            return
        fut, expected = waiter
        if not answer_from(iq.get("from"), expected, own):
            self._limited.log(
                ("iq-sender", iq.get("from")),
                logging.WARNING,
                "IQ %s id %r from %r ignored: the request went to %s",
                kind,
                iq_id,
                iq.get("from"),
                expected or "the server",
            )
            return
        if not fut.done():
            fut.set_result(iq)

    def fail_all(self, exc: BaseException) -> None:
        for fut, _ in self._waiting.values():
            if not fut.done():
                fut.set_exception(exc)


class IQServer:
    """The IQ get/set requests the client serves: a handler per (type,
    payload tag), run as a task; its result (a payload, a whole IQ or None)
    or its error (:class:`~stanzalink.errors.StanzaError`) becomes the
    reply, and an IQ nobody serves gets ``service-unavailable``."""

    def __init__(
        self,
        send: Callable[[Built], None],
        queued: Callable[[], int],
        max_queued: int,
        spawn: Callable[[Awaitable[Any]], object],
        limited: RateLimitedLog,
    ) -> None:
        self.handlers: dict[tuple[str, str], IQHandler] = {}
        self._send = send
        self._queued = queued
        self._max_queued = max_queued
        self._spawn = spawn
        self._limited = limited

    def serve(self, payload_tag: str, handler: IQHandler, types: tuple[str, ...]) -> None:
        """The one table of who serves which IQ: a payload served twice is a
        local mistake, refused here."""
        for t in types:
            if (t, payload_tag) in self.handlers:
                raise ValueError(f"two handlers serve {t} {payload_tag}")
        for t in types:
            self.handlers[(t, payload_tag)] = handler

    def request(self, iq: Element) -> None:
        """An IQ get or set addressed to us."""
        payload = next(iter(iq), None)
        kind = iq.get("type") or ""
        handler = self.handlers.get((kind, payload.tag)) if payload is not None else None
        if handler is None:
            self.reply_error(iq, "cancel", "service-unavailable")
            return
        self._spawn(self._run(handler, iq))

    async def _run(self, handler: IQHandler, iq: Element) -> None:
        try:
            result = handler(iq)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
        except StanzaError as exc:
            self.reply_error(iq, exc.etype, exc.condition, exc.text)
            return
        except QueueFull:
            self.queue_full("IQ result", iq)
            return
        except Exception as exc:
            self._limited.log(
                ("iq-handler", type(exc)),
                logging.ERROR,
                "IQ handler for %s failed",
                loggable(iq.get("from")),
                exc_info=exc,
            )
            self.reply_error(iq, "wait", "internal-server-error")
            return
        built = _built(result)
        if built is not None and built.tag == "{jabber:client}iq":
            reply = built
        else:
            from stanzalink.stanza import result_reply  # loaded for the first answer

            reply = result_reply(iq, built)
        try:
            self._send(reply)
        except QueueFull:
            self.queue_full("IQ result", iq)
        except Exception as exc:
            # a result that cannot be serialized must still get an answer
            self._limited.log(
                ("iq-answer", type(exc)),
                logging.ERROR,
                "the answer to %s's IQ could not be sent",
                loggable(iq.get("from")),
                exc_info=exc,
            )
            self.reply_error(iq, "wait", "internal-server-error")

    def reply_error(self, iq: Element, etype: str, condition: str, text: str = "") -> None:
        """Answer an IQ with an error.  Errors may fill only half of the
        outbound queue: under a flood (from anyone: a stranger's IQs all get
        errors) they are dropped first, and the rest of the queue stays for
        what controllers asked.  Never raises."""
        if self._queued() >= self._max_queued // 2:
            self.queue_full("error reply", iq)
            return
        try:
            from stanzalink.stanza import error_reply

            self._send(error_reply(iq, condition, etype, text))
        except QueueFull:
            self.queue_full("error reply", iq)
        except Exception as exc:
            self._limited.log(
                ("error-reply", type(exc)), logging.ERROR, "an error reply failed", exc_info=exc
            )

    def queue_full(self, what: str, stanza: Element) -> None:
        self._limited.log(
            ("queue-full", what),
            logging.WARNING,
            "outbound queue full (%d of %d stanzas wait to be sent or acknowledged): "
            "dropping a %s to %s",
            self._queued(),
            self._max_queued,
            what,
            loggable(stanza.get("from")),
        )

"""The client: the application's API (send, IQs, handlers, events) on top
of :class:`~stanzalink.aio.connection.Connection`, which keeps the sans-IO
:class:`~stanzalink.session.core.Session` connected.

The rest of the adapter, one job a module: :mod:`.config` (ClientConfig),
:mod:`.reconnect` (backoff and targets), :mod:`.tls`, :mod:`.transport` (the
protocol whose receive buffer is the ring), :mod:`.iq` (IQ requests waited
on and served), :mod:`.account` (in-band registration and the password
change); replies are built by :mod:`stanzalink.stanza`.

>>> async def main():
...     client = Client(ClientConfig(jid=JID.parse("device1@example.net"), password="secret"))
...     client.on_message(lambda msg: print(msg.findtext("{jabber:client}body")))
...     await client.start()              # connects, logs in, stays connected
...     await client.wait_online()
...     reply = await client.iq(E("{jabber:client}iq", {"type": "get", "to": "example.net"},
...                               E("{urn:xmpp:ping}ping")))
...     await client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from stanzalink.aio.config import RECONNECT_MAX, ClientConfig
from stanzalink.aio.connection import Connection
from stanzalink.aio.reconnect import backoff_delay, parse_redirect, uniform
from stanzalink.aio.tls import server_end_point, tls_info
from stanzalink.errors import LocalProtocolError, StanzalinkError
from stanzalink.jid import JID, InvalidJID
from stanzalink.session.core import State
from stanzalink.session.events import (
    Authenticated,
    Closed,
    Online,
    Retry,
    ScramKeysUpdated,
    StanzaReceived,
    StartTLS,
)
from stanzalink.xml import Element

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.aio.dns import Resolver
    from stanzalink.aio.iq import (
        IQError,
        IQHandler,
        IQServer,
        IQWaiters,
        PasswordChangeRefused,
    )
    from stanzalink.xml.plain import PlainElement

__all__ = [
    "RECONNECT_MAX",
    "Client",
    "ClientConfig",
    "ConnectionFailed",
    "Handler",
    "IQError",  # (these three from __getattr__ below)
    "IQHandler",
    "PasswordChangeRefused",
    "backoff_delay",
    "parse_redirect",
    "server_end_point",
    "stanza_error",  # noqa: F822 (from __getattr__ below)
    "stanza_error_type",  # noqa: F822
    "tls_info",
    "uniform",
]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> object:
    """``stanza_error`` and ``stanza_error_type``, kept here for callers that
    import them from this module; :mod:`stanzalink.stanza` loads when one is
    first asked for (a client that gets no error never needs it).  So do
    ``IQError``, ``IQHandler`` and ``PasswordChangeRefused`` of
    :mod:`.iq`, which loads with the first IQ sent, served or answered."""
    if name in ("stanza_error", "stanza_error_type"):
        from stanzalink import stanza

        return getattr(stanza, name)
    if name in ("IQError", "IQHandler", "PasswordChangeRefused"):
        from stanzalink.aio import iq

        return getattr(iq, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Handler = Callable[[Element], Awaitable[None] | None]


class ConnectionFailed(StanzalinkError):
    """The client gave up (the server refused it for good, or close() was called)."""


class Client(Connection):
    """An XMPP client connection that stays up: the device agent's and a
    controller program's way onto XMPP."""

    def __init__(self, config: ClientConfig, *, resolver: Resolver | None = None) -> None:
        super().__init__(config, resolver)
        self._pw_waiter: asyncio.Future[None] | None = None
        self._message_handlers: list[Handler] = []
        self._presence_handlers: list[Handler] = []
        self._event_handlers: list[Callable[[object], None]] = []
        # the IQs waited on and served: made (and :mod:`.iq` loaded) with
        # the first IQ sent, served or answered
        self._iq_waiting: IQWaiters | None = None
        self._iq_serving: IQServer | None = None

    @property
    def _iq_waiters(self) -> IQWaiters:
        waiters = self._iq_waiting
        if waiters is None:
            from stanzalink.aio.iq import IQWaiters

            waiters = self._iq_waiting = IQWaiters(self._limited)
        return waiters

    @property
    def _iq_server(self) -> IQServer:
        server = self._iq_serving
        if server is None:
            from stanzalink.aio.iq import IQServer

            server = self._iq_serving = IQServer(
                self.send,
                lambda: self.session.queued,
                self.config.max_unacked,
                self._spawn,
                self._limited,
            )
        return server

    # ---------------------------------------------------------------- public API
    def on_message(self, handler: Handler) -> None:
        self._message_handlers.append(handler)

    def on_presence(self, handler: Handler) -> None:
        self._presence_handlers.append(handler)

    def on_iq(
        self, payload_tag: str, handler: IQHandler, types: tuple[str, ...] = ("get", "set")
    ) -> None:
        """Serve IQs of ``types`` whose payload is ``payload_tag`` ({ns}local).
        The handler returns the result payload (or None for an empty result)
        or raises :class:`IQError` / returns an error via ``iq_error()``."""
        self._iq_server.serve(payload_tag, handler, types)

    def on_event(self, handler: Callable[[object], None]) -> None:
        """Session events (Online, Closed, Registered...) for the application."""
        self._event_handlers.append(handler)

    @property
    def jid(self) -> JID | None:
        """The JID the session is bound to (None before the first bind)."""
        return self.session.jid

    @jid.setter
    def jid(self, jid: JID | None) -> None:  # a test harness with no server
        self.session.jid = jid

    @property
    def online(self) -> bool:
        return self.session.state is State.ONLINE

    async def wait_online(self, timeout: float | None = None) -> JID:
        """Wait until the session is online; raise ConnectionFailed if it gave up."""
        online = asyncio.ensure_future(self._online.wait())
        closed = asyncio.ensure_future(self._closed_event.wait())
        try:
            await asyncio.wait(
                {online, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            online.cancel()
            closed.cancel()
        if self._online.is_set() and self.jid is not None:
            return self.jid
        if self._closed_event.is_set():
            raise ConnectionFailed(self._final_error or "the client stopped")
        raise TimeoutError(f"not online after {timeout} s")

    def send(self, stanza: ET.Element | PlainElement) -> None:
        """Queue a stanza (see Session.send: bounded, kept until acknowledged).

        It is written when the event loop next runs callbacks: stanzas sent
        in one go (a burst, or replies to what one read brought) share one
        TLS record and one system call."""
        self.session.send(stanza, self._now())
        if self._flush_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop running: write at once
                self._flush()
                return
            self._flush_soon = loop.call_soon(self._deferred_flush)

    async def iq(self, stanza: ET.Element | PlainElement, timeout: float | None = None) -> Element:
        """Send an IQ get/set and wait for its result.  The answer must carry
        the same id, come from the JID it was sent to (or from our server
        when sent to none) and be of type result or error; IQError for an
        error."""
        if stanza.get("type") not in ("get", "set"):
            raise LocalProtocolError("iq() sends type get or set")
        iq_id = stanza.get("id") or "c" + os.urandom(6).hex()
        stanza.set("id", iq_id)
        to = stanza.get("to")
        try:
            expected = JID.parse(to) if to else None
        except InvalidJID as exc:
            raise LocalProtocolError(f"bad 'to' {to!r}: {exc}") from None
        fut = self._iq_waiters.add(iq_id, expected)
        try:
            self.send(stanza)
            reply = await asyncio.wait_for(fut, timeout or self.config.iq_timeout)
        finally:
            self._iq_waiters.remove(iq_id)
        if reply.get("type") == "error":
            from stanzalink.aio.iq import IQError
            from stanzalink.stanza import stanza_error, stanza_error_type

            cond, text = stanza_error(reply)
            raise IQError(cond, text, reply, stanza_error_type(reply))
        return reply

    async def change_password(self, new: str, timeout: float | None = None) -> None:
        """Change the account's password in-band (XEP-0077 §3.3), filling in
        the server's password-change form when it asks for one.  On success
        the config holds ``new``, so reconnects use it; saving it for the
        next start is the caller's job (it knows where the password lives).
        Raises :class:`PasswordChangeRefused` when the server says no, and
        TimeoutError when it does not answer (the outcome is then unknown)."""
        from stanzalink.aio import account  # loaded only to change the password

        await account.change(self, new, timeout)

    async def close(self) -> None:
        """Close the stream cleanly and stop reconnecting."""
        self._stopping = True
        if self._proto is not None and self.session.state is not State.DISCONNECTED:
            self.session.close(self._now())
            self._flush()
            self._drain_events()
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._wait_disconnected(), self.config.close_timeout)
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._cancel_timer()
        if self._iq_waiting is not None:
            self._iq_waiting.fail_all(ConnectionFailed("the client was closed"))
        if self._pw_waiter is not None and not self._pw_waiter.done():
            self._pw_waiter.set_exception(ConnectionFailed("the client was closed"))
        for t in list(self._tasks):
            t.cancel()
        self._closed_event.set()

    # ---------------------------------------------------------------- events
    def _handle_event(self, ev: object) -> None:
        if isinstance(ev, StanzaReceived):
            self._dispatch(ev.stanza)
            return
        if isinstance(ev, StartTLS):
            self._tls_task = self._spawn(self._start_tls())
        elif isinstance(ev, Online):
            self.connected_at = self._now()
            self._last_failure = None
            self._online.set()
            log.info("online as %s%s", ev.jid, " (resumed)" if ev.resumed else "")
        elif isinstance(ev, Closed):
            self._last_close = ev
            if ev.retry is Retry.NEVER or not self.config.reconnect:
                self._final_error = self._tls_error or ev.text
            self._tls_error = None
            level = logging.INFO if ev.retry is Retry.NEVER else logging.WARNING
            log.log(level, "disconnected: %s", ev.text)
            self._fail_waiters(ev)
            proto = self._proto
            if proto is not None and proto.transport is not None:
                self._flush()
                if self.session.state is not State.CLOSING:
                    proto.transport.close()
                # else: our </stream:stream> is out; close() waits for the server's
            self._finish_connection(ev)
        elif isinstance(ev, Authenticated):
            log.info("authenticated with %s", ev.mechanism)
        elif isinstance(ev, ScramKeysUpdated):
            self._save_keys(ev)
        elif type(ev).__module__ == "stanzalink.session.account_events":
            from stanzalink.aio import account  # loaded with a registration or password change

            account.on_event(self._pw_waiter, ev, ConnectionFailed)
        for h in self._event_handlers:
            try:
                h(ev)
            except Exception as exc:
                self._limited.log(
                    ("event-handler", type(exc)),
                    logging.ERROR,
                    "an event handler failed on %s",
                    type(ev).__name__,
                    exc_info=exc,
                )

    def _save_keys(self, ev: ScramKeysUpdated) -> None:
        path = self.config.scram_keys_file
        if not path:
            return
        try:
            from stanzalink.session import keystore

            keystore.save(path, str(self.config.jid.bare), ev.keys)
        except OSError as exc:
            log.error("cannot save the SCRAM keys to %s: %s", path, exc)
            return
        log.info("SCRAM keys saved to %s (%s)", path, ", ".join(sorted(ev.keys)) or "none")

    def _fail_waiters(self, ev: Closed) -> None:
        if self.session.sm.resumable:
            return  # answers may still arrive after resumption
        if self._iq_waiting is not None:
            self._iq_waiting.fail_all(ConnectionFailed(ev.text))

    def _dispatch(self, stanza: Element) -> None:
        tag = stanza.tag
        if tag == "{jabber:client}iq":
            self._dispatch_iq(stanza)
            return
        handlers = (
            self._message_handlers if tag == "{jabber:client}message" else self._presence_handlers
        )
        for h in handlers:
            try:
                result = h(stanza)
            except Exception as exc:
                from stanzalink.aio.iq import loggable

                self._limited.log(
                    ("handler", tag, type(exc)),
                    logging.ERROR,
                    "a %s handler failed on a stanza from %s",
                    tag.split("}")[-1],
                    loggable(stanza.get("from")),
                    exc_info=exc,
                )
                continue
            if asyncio.iscoroutine(result):
                self._spawn(result)

    def _dispatch_iq(self, iq: Element) -> None:
        kind = iq.get("type")
        if kind in ("result", "error"):
            self._iq_waiters.answer(iq, self.jid or self.config.jid)
        elif kind in ("get", "set"):
            self._iq_server.request(iq)

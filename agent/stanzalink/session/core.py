"""The XMPP client session (RFC 6120, 6121 §1-2, XEP-0077, 0198, 0199, 0352)
as a sans-IO state machine.

Input is bytes (:meth:`Session.receive_data`), transport happenings
(:meth:`connection_made`, :meth:`tls_started`, :meth:`connection_lost`) and
time (every call takes ``now``, a monotonic clock in seconds; call
:meth:`tick` when :meth:`next_deadline` is reached).  Output is bytes
(:meth:`data_to_send`) and events (:meth:`events`).  No sockets, no TLS, no
asyncio here: every path is testable with bytes alone.

This module is the :class:`Session` itself: its lifecycle, outputs, the
send path, timers, and the input loop that hands each element to its
handler (``_HANDLERS``, after ``machine.ACCEPTS`` let it in).  The rest
of the package, by job:

- :mod:`.machine`: the states and the two tables, ``STEPS`` (every legal
  transition; :meth:`Session._advance` is the only thing that changes
  ``state``) and ``ACCEPTS`` (what each state takes from the server);
- :mod:`.negotiation`: the server's header and features, STARTTLS, bind,
  the legacy session, XEP-0198 enable and resume, going online;
- :mod:`.login`: the SASL exchange (the mechanisms are :mod:`.sasl`);
- :mod:`.register`: XEP-0077 in-band registration;
- :mod:`.sm_driver`: XEP-0198 counting and acks on the wire (the
  bookkeeping is :mod:`.sm`);
- :mod:`.stream_errors`: how a stream ends, input a state does not expect,
  and stanzas the parser skipped (loaded when one first happens);
- :mod:`.fail`: the session's own ways to stop (a stream error of ours, a
  reason of our own);
- :mod:`.online`: stanzas once online (answers to our own IQs, the
  server's ping answered; loaded with the first stanza);
- :mod:`.password`: the XEP-0077 §3.3 password change (loaded when one
  begins);
- :mod:`.wire`: every byte string and IQ the session writes;
- :mod:`.settings`: :class:`SessionConfig` and :class:`TLSInfo`;
- :mod:`.events`, :mod:`.keystore`.

``Session``, ``SessionConfig``, ``TLSInfo``, ``State``, ``STANZA_TAGS``
and ``TRANSIENT_CONDITIONS`` are importable from here as before.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stanzalink import ns
from stanzalink.errors import LocalProtocolError
from stanzalink.jid import JID
from stanzalink.ratelog import RateLimitedLog
from stanzalink.session import fail, login, negotiation, sm_driver, wire
from stanzalink.session.events import Closed, Retry
from stanzalink.session.machine import (
    ACCEPTS,
    NEGOTIATING,
    STANZA_STATES,
    STANZA_TAGS,
    State,
    advance,
)
from stanzalink.session.settings import SessionConfig, TLSInfo
from stanzalink.session.sm import QueueFull, StreamManagement
from stanzalink.xml import (
    Element,
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
    StreamParser,
)

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.session import password
    from stanzalink.xml.plain import PlainElement

__all__ = [
    "STANZA_TAGS",
    "TRANSIENT_CONDITIONS",  # noqa: F822 (module __getattr__, below)
    "Session",
    "SessionConfig",
    "State",
    "TLSInfo",
]

log = logging.getLogger(__name__)


def _first_tostring(elem: Any, *, default_ns: str) -> bytes:
    """The serializer, loaded by the first stanza sent, then called directly
    (a session that logs in writes its own bytes and never needs it)."""
    global _tostring
    from stanzalink.xml.serializer import tostring

    _tostring = tostring
    return tostring(elem, default_ns=default_ns)


_tostring: Callable[..., bytes] = _first_tostring


_Q = ns.q
_STREAM_ERROR = _Q(ns.STREAM, "error")


class Session:
    """One device's XMPP client session, across reconnects."""

    def __init__(self, config: SessionConfig, parser_backend: str | None = None) -> None:
        self.config = config
        self._backend = parser_backend
        self.state = State.DISCONNECTED  # from here on only _advance() moves it
        self.sm = StreamManagement(max_unacked=config.max_unacked)
        self.jid: JID | None = None
        self.stream_id: str | None = None
        self.server_features: Element | None = None
        self._out: list[bytes] = []
        self._events: list[Any] = []
        self._ids = itertools.count(1)
        self._pending_iq: dict[str, str] = {}  # id -> purpose, for our own IQs
        self._pending_out: list[bytes] = []  # app stanzas waiting for ONLINE
        self._pw_change: password.PasswordChange | None = None
        self._skip_log = RateLimitedLog(log)  # one line per sender per minute
        self.skipped = 0  # stanzas the parser skipped (over its limits), all connections
        self._reset_connection_state(0.0)

    # ------------------------------------------------------- lifecycle
    def _reset_connection_state(self, now: float) -> None:
        self._parser = StreamParser(self._backend, **self.config.parser_limits)
        self.tls: TLSInfo | None = None
        self.authenticated = False
        self._sasl: Any = None
        self._sasl_tried: set[str] = set()
        self._registered_once = False
        self._bind_retried = False
        self._last_rx = now
        self._last_tx = now
        self._probe_sent: float | None = None
        self._deadline_close: float | None = None
        self._negotiation_deadline: float | None = None
        self._ack_due: float | None = None
        self._offered_mechs: list[str] = []
        self._offered_cb: list[str] | None = None
        self._register_offered = False
        self._csi_offered = False
        self._sm_offered = False
        self._legacy_session = False

    def connection_made(self, now: float, tls: TLSInfo | None = None) -> None:
        """The transport is connected (``tls`` set for direct TLS, XEP-0368)."""
        if self.state is not State.DISCONNECTED:
            raise LocalProtocolError(f"connection_made() in state {self.state.name}")
        self._reset_connection_state(now)
        self.tls = tls
        self._negotiation_deadline = now + self.config.negotiation_timeout
        self._advance("connect")
        self._open_stream(now)

    def tls_started(self, tls: TLSInfo, now: float) -> None:
        """The adapter finished the TLS handshake after <proceed/>."""
        if self.state is not State.TLS_HANDSHAKE:
            raise LocalProtocolError(f"tls_started() in state {self.state.name}")
        self.tls = tls
        self._advance("tls")
        self._restart_stream(now)

    def connection_lost(self, now: float) -> None:
        """The transport closed (or failed) under us."""
        if self.state is State.DISCONNECTED:
            return
        closing = self.state is State.CLOSING
        self._to_disconnected()
        if closing:
            return
        self._emit(
            Closed(
                "connection-lost",
                "the connection to the server was lost",
                Retry.BACKOFF,
                by_peer=True,
                resume_location=self.sm.location if self.sm.resumable else None,
            )
        )

    def close(self, now: float) -> None:
        """Close on purpose: </stream:stream>, no resumption, no reconnect."""
        if self.state in (State.DISCONNECTED, State.CLOSING):
            return
        if self.state is State.ONLINE and self.sm.enabled:
            self._write(wire.sm_a(self.sm.h_in))
        self.sm.forget()
        self._advance("close")
        self._write(wire.CLOSE)
        self._deadline_close = now + self.config.close_timeout
        self._emit(Closed(None, "closed by the application", Retry.NEVER, by_peer=False))

    def _in(self, *states: State) -> bool:
        """Is the state one of these?  (A call, so type checkers do not assume
        the state cannot have changed in the handlers called before.)"""
        return self.state in states

    # --------------------------------------------------------- outputs
    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Any]:
        ev, self._events = self._events, []
        return ev

    def next_deadline(self) -> float | None:
        """The time at which :meth:`tick` must be called (None: no timer)."""
        if self.state is State.DISCONNECTED:
            return None
        c = self.config
        times = [self._deadline_close, self._negotiation_deadline, self._ack_due]
        if self.state is State.ONLINE:
            if self._probe_sent is None:
                times.append(self._last_rx + c.keepalive)
            else:
                times.append(self._probe_sent + c.probe_timeout)
            if c.whitespace_keepalive:
                times.append(self._last_tx + c.whitespace_keepalive)
        return min((t for t in times if t is not None), default=None)

    def _emit(self, event: object) -> None:
        self._events.append(event)

    def _write(self, data: bytes) -> None:
        self._out.append(data)

    def _now_write(self, data: bytes, now: float) -> None:
        self._out.append(data)
        self._last_tx = now

    # --------------------------------------------------------- sending
    @property
    def queued(self) -> int:
        """Stanzas waiting to be sent or acknowledged (at most ``max_unacked``)."""
        return len(self._pending_out) + len(self.sm.unacked)

    @property
    def can_send(self) -> bool:
        """False while the bounded outbound queue is full (backpressure)."""
        return self.queued < self.config.max_unacked

    def send(self, stanza: ET.Element | PlainElement | Element, now: float) -> None:
        """Send a message, presence or IQ.  Before the session is online the
        stanza waits (bounded); with stream management it is kept until
        the server acknowledges it, and re-sent after a reconnect."""
        if stanza.tag not in STANZA_TAGS:
            raise LocalProtocolError(f"only message, presence and iq can be sent, not {stanza.tag}")
        if not self.can_send:
            raise QueueFull(
                f"{self.config.max_unacked} stanzas are waiting to be sent or acknowledged"
            )
        # a message's XEP-0359 origin-id from here on: stream management re-sends these bytes
        from stanzalink.stanza import serialized_with_origin_id  # (loaded by the first send)

        data = serialized_with_origin_id(stanza, _tostring, default_ns=ns.CLIENT)
        if self.state is State.ONLINE:
            sm_driver.send_bytes(self, data, now)
        else:
            self._pending_out.append(data)

    def send_raw_iq(self, iq: wire.IQ, purpose: str, now: float) -> str:
        """Send an IQ of the session's own (bind, register...: ``iq`` writes
        it for a given id) and remember its id."""
        iq_id = f"sl{next(self._ids)}"
        self._pending_iq[iq_id] = purpose
        self._now_write(iq(iq_id), now)
        return iq_id

    def change_password(self, new: str, now: float) -> None:
        """Ask the server to change the account's password to ``new``.  The
        answer comes as a :class:`PasswordChanged` event (the config then
        holds ``new``) or :class:`PasswordChangeFailed`.  The request is an
        ordinary stanza: with stream management it survives a reconnect."""
        from stanzalink.session import password  # loaded only to change the password

        password.start(self, new, now)

    def cancel_password_change(self) -> None:
        """Forget a password change whose answer never came (the adapter's
        timeout); a late answer is then ignored."""
        self._pw_change = None

    # ---------------------------------------------------------- timers
    def tick(self, now: float) -> None:
        """Run whatever timers are due at ``now``."""
        if self.state is State.DISCONNECTED:
            return
        c = self.config
        if self._deadline_close is not None and now >= self._deadline_close:
            self._to_disconnected()
            return
        if self._negotiation_deadline is not None and now >= self._negotiation_deadline:
            fail.fail_local(
                self,
                "connection-timeout",
                f"the server did not complete the login within {c.negotiation_timeout:g} s",
                now,
            )
            return
        if self.state is not State.ONLINE:
            return
        if self._ack_due is not None and now >= self._ack_due:
            sm_driver.request_ack(self, now)
        timeout = c.probe_timeout
        if self._probe_sent is not None:
            if now >= self._probe_sent + timeout:
                self._to_disconnected()
                self._emit(
                    Closed(
                        "connection-timeout",
                        f"the server did not answer for {now - self._last_rx:.0f} s",
                        Retry.BACKOFF,
                        by_peer=True,
                        resume_location=self.sm.location if self.sm.resumable else None,
                    )
                )
                return
        elif now >= self._last_rx + c.keepalive:
            self._probe(now)
        if c.whitespace_keepalive and now >= self._last_tx + c.whitespace_keepalive:
            self._now_write(wire.WHITESPACE, now)

    def _probe(self, now: float) -> None:
        """Ask the server for a sign of life: an SM ack request, else a ping."""
        if self.sm.enabled:
            sm_driver.request_ack(self, now)
        else:
            self.send_raw_iq(wire.ping_request(self.config.jid.domain), "ping", now)
        self._probe_sent = now

    # ----------------------------------------------------------- input
    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        if self.state is State.DISCONNECTED:
            raise LocalProtocolError("receive_data() while disconnected")
        if self.state is State.TLS_HANDSHAKE:
            fail.fail_remote(self, "not-authorized", "data after <proceed/> before TLS", now)
            return
        self._last_rx = now
        self._probe_sent = None
        view = memoryview(data)
        while len(view) and not self._in(State.DISCONNECTED):
            limit = 1 if self.state in NEGOTIATING else 0
            try:
                events, used = self._parser.feed_some(view, limit)
            except StreamError as err:
                for ev in err.events:
                    self._dispatch(ev, now)
                    if self._in(State.DISCONNECTED):
                        return
                fail.fail_remote(self, err.condition, str(err), now)
                return
            view = view[used:]
            for ev in events:
                self._dispatch(ev, now)
                if self._in(State.DISCONNECTED, State.TLS_HANDSHAKE):
                    break
            if self._in(State.TLS_HANDSHAKE):
                if len(view):
                    fail.fail_remote(
                        self, "not-authorized", "data after <proceed/> before TLS", now
                    )
                return
            if used == 0 and not events:
                break

    def _dispatch(self, ev: object, now: float) -> None:
        if isinstance(ev, StreamOpen):
            key = "open"
        elif isinstance(ev, StreamClose):
            from stanzalink.session import stream_errors  # (loaded when first needed)

            stream_errors.on_stream_close(self, now)
            return
        elif isinstance(ev, StanzaSkipped):
            from stanzalink.session import stream_errors  # (loaded when first needed)

            stream_errors.on_skipped(self, ev, now)
            return
        else:
            assert isinstance(ev, Element)
            key = ev.tag
            if key == _STREAM_ERROR:
                from stanzalink.session import stream_errors  # (loaded when first needed)

                stream_errors.on_stream_error(self, ev, now)
                return
            if key in STANZA_TAGS and self.state in STANZA_STATES:
                key = "stanza"
        if key not in ACCEPTS[self.state]:
            from stanzalink.session import stream_errors  # (loaded when first needed)

            stream_errors.unexpected(self, key, now)
            return
        _HANDLERS[key](self, ev, now)

    # ----------------------------------------- shared with the handlers
    def _advance(self, step: str) -> None:
        """The one place the state changes: to where ``machine.STEPS`` says
        ``step`` leads from here (a step it has no row for is a local bug)."""
        self.state = advance(self.state, step)

    def _open_stream(self, now: float) -> None:
        sender = str(self.config.jid.bare) if self.tls is not None else None
        self._now_write(wire.stream_header(self.config.jid.domain, self.config.lang, sender), now)

    def _restart_stream(self, now: float) -> None:
        """After TLS or SASL: a new stream on the same connection."""
        self._parser.reset()
        self._open_stream(now)

    def _own_iq(self, el: Element, purpose: str, now: float) -> bool:
        """Is this the answer to our IQ ``purpose``?  Fails the stream if not."""
        iq_id = el.get("id")
        if (
            iq_id is None
            or self._pending_iq.get(iq_id) != purpose
            or el.get("type") not in ("result", "error")
        ):
            fail.fail_remote(
                self, "unsupported-stanza-type", f"unexpected IQ while waiting for {purpose}", now
            )
            return False
        del self._pending_iq[iq_id]
        return True

    def _to_disconnected(self) -> None:
        self._advance("end")
        self._deadline_close = None
        self._negotiation_deadline = None
        self._ack_due = None
        self._pending_iq.clear()
        if not self.sm.resumable:
            # not resumable: unacknowledged stanzas go out again on the next session
            self._pending_out[:0] = self.sm.take_unacked()
            self.sm.forget()
            if self._pw_change is not None:  # (else nothing to say: password not needed)
                from stanzalink.session import password

                password.lost(self)


def _on_iq(s: Session, el: Element, now: float) -> None:
    """An IQ while negotiating: the answer to the session's own request."""
    if s.state is State.BIND:
        return negotiation.on_bind(s, el, now)
    if s.state is State.LEGACY_SESSION:
        return negotiation.on_legacy_session(s, el, now)
    from stanzalink.session import register  # the XEP-0077 states: loaded when it began

    if register.on_iq(s, el, now):  # the account exists now: log in afresh
        login.start_sasl(s, now)


def _first_stanza(s: Session, el: Element, now: float) -> None:
    """The first stanza: :mod:`.online` loads, and handles it and every
    stanza after it (a session that logs in and stays idle never loads it)."""
    from stanzalink.session import online

    _HANDLERS["stanza"] = online.on_stanza
    online.on_stanza(s, el, now)


# what handles each input ``machine.ACCEPTS`` lets in
_HANDLERS: dict[str, Callable[[Session, Any, float], None]] = {
    "open": negotiation.on_open,
    _Q(ns.STREAM, "features"): negotiation.on_features,
    _Q(ns.TLS, "proceed"): negotiation.on_proceed,
    _Q(ns.TLS, "failure"): negotiation.on_tls_failure,
    _Q(ns.SASL, "challenge"): login.on_challenge,
    _Q(ns.SASL, "success"): login.on_success,
    _Q(ns.SASL, "failure"): login.on_failure,
    _Q(ns.CLIENT, "iq"): _on_iq,
    _Q(ns.SM, "resumed"): negotiation.on_sm_resumed,
    _Q(ns.SM, "failed"): negotiation.on_sm_failed,
    _Q(ns.SM, "enabled"): negotiation.on_sm_enabled,
    _Q(ns.SM, "r"): sm_driver.on_r,
    _Q(ns.SM, "a"): sm_driver.on_a,
    "stanza": _first_stanza,
}


def __getattr__(name: str) -> Any:
    # importable from here as before; its module loads when first needed
    if name == "TRANSIENT_CONDITIONS":
        from stanzalink.session.stream_errors import TRANSIENT_CONDITIONS

        return TRANSIENT_CONDITIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

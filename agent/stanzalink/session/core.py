"""The XMPP client session (RFC 6120, 6121 §1-2, XEP-0077, 0198, 0199, 0352)
as a sans-IO state machine.

Input is bytes (:meth:`Session.receive_data`), transport happenings
(:meth:`connection_made`, :meth:`tls_started`, :meth:`connection_lost`) and
time (every call takes ``now``, a monotonic clock in seconds; call
:meth:`tick` when :meth:`next_deadline` is reached).  Output is bytes
(:meth:`data_to_send`) and events (:meth:`events`).  No sockets, no TLS, no
asyncio here: every path is testable with bytes alone.

The whole stream lifecycle is the table ``TRANSITIONS`` below: which element
each state accepts and which states may follow.  An element a state does not
expect is the peer's fault and ends the stream with the matching RFC 6120
condition.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import xml.etree.ElementTree as ET
from enum import Enum, auto
from typing import Any

from stanzalink import ns
from stanzalink._value import Record, Value, _set
from stanzalink.errors import LocalProtocolError, RemoteProtocolError
from stanzalink.jid import JID, InvalidJID
from stanzalink.logsafe import escape_controls
from stanzalink.ratelog import RateLimitedLog
from stanzalink.session import KEEPALIVE
from stanzalink.session import password as pwchange
from stanzalink.session.events import (
    Authenticated,
    Closed,
    Online,
    PasswordChanged,
    PasswordChangeFailed,
    Registered,
    Retry,
    ScramKeysUpdated,
    StanzaReceived,
    StartTLS,
)
from stanzalink.session.sasl import Scram, ScramKeys
from stanzalink.session.sm import StreamManagement
from stanzalink.xml import (
    Element,
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
    StreamParser,
    tostring,
)
from stanzalink.xml.builder import E, sub

log = logging.getLogger(__name__)

_Q = ns.q
_STREAM_ERROR = _Q(ns.STREAM, "error")
STANZA_TAGS = frozenset(_Q(ns.CLIENT, t) for t in ("message", "presence", "iq"))
TRANSIENT_CONDITIONS = frozenset(
    {
        "connection-timeout",
        "internal-server-error",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "undefined-condition",
        "not-well-formed",
        "policy-violation",
    }
)


class State(Enum):
    DISCONNECTED = auto()
    STREAM_START = auto()  # our header sent, waiting for theirs
    FEATURES = auto()  # waiting for <stream:features>
    STARTTLS = auto()  # <starttls/> sent
    TLS_HANDSHAKE = auto()  # <proceed/> received; the adapter runs the handshake
    SASL = auto()  # <auth/> sent
    REGISTER_FORM = auto()  # XEP-0077 get sent
    REGISTER_SUBMIT = auto()  # XEP-0077 set sent
    BIND = auto()
    LEGACY_SESSION = auto()
    SM_RESUME = auto()
    SM_ENABLE = auto()
    ONLINE = auto()
    CLOSING = auto()  # our </stream:stream> sent, waiting for theirs


# (state, what arrives) -> the states that may follow.  "open" is the peer's
# stream header, "close" its </stream:stream>; element names are {ns}local.
TRANSITIONS: dict[tuple[State, str], frozenset[State]] = {
    (State.STREAM_START, "open"): frozenset({State.FEATURES}),
    (State.FEATURES, _Q(ns.STREAM, "features")): frozenset(
        {State.STARTTLS, State.SASL, State.BIND, State.SM_RESUME, State.DISCONNECTED}
    ),
    (State.STARTTLS, _Q(ns.TLS, "proceed")): frozenset({State.TLS_HANDSHAKE}),
    (State.STARTTLS, _Q(ns.TLS, "failure")): frozenset({State.DISCONNECTED}),
    (State.SASL, _Q(ns.SASL, "challenge")): frozenset({State.SASL}),
    (State.SASL, _Q(ns.SASL, "success")): frozenset({State.STREAM_START}),
    (State.SASL, _Q(ns.SASL, "failure")): frozenset(
        {State.SASL, State.REGISTER_FORM, State.DISCONNECTED}
    ),
    (State.REGISTER_FORM, _Q(ns.CLIENT, "iq")): frozenset(
        {State.REGISTER_SUBMIT, State.DISCONNECTED}
    ),
    (State.REGISTER_SUBMIT, _Q(ns.CLIENT, "iq")): frozenset({State.SASL, State.DISCONNECTED}),
    (State.BIND, _Q(ns.CLIENT, "iq")): frozenset(
        {State.BIND, State.LEGACY_SESSION, State.SM_ENABLE, State.ONLINE, State.DISCONNECTED}
    ),
    (State.LEGACY_SESSION, _Q(ns.CLIENT, "iq")): frozenset(
        {State.SM_ENABLE, State.ONLINE, State.DISCONNECTED}
    ),
    (State.SM_RESUME, _Q(ns.SM, "resumed")): frozenset({State.ONLINE}),
    (State.SM_RESUME, _Q(ns.SM, "failed")): frozenset({State.BIND}),
    (State.SM_ENABLE, _Q(ns.SM, "enabled")): frozenset({State.ONLINE}),
    (State.SM_ENABLE, _Q(ns.SM, "failed")): frozenset({State.ONLINE}),
    # stanzas may arrive between <enable/> and <enabled/>
    (State.SM_ENABLE, "stanza"): frozenset({State.SM_ENABLE}),
    (State.ONLINE, "stanza"): frozenset({State.ONLINE}),
    (State.ONLINE, _Q(ns.SM, "r")): frozenset({State.ONLINE}),
    (State.ONLINE, _Q(ns.SM, "a")): frozenset({State.ONLINE}),
    (State.SM_ENABLE, _Q(ns.SM, "r")): frozenset({State.SM_ENABLE}),
    (State.CLOSING, "stanza"): frozenset({State.CLOSING}),
    (State.CLOSING, _Q(ns.SM, "a")): frozenset({State.CLOSING}),
    (State.CLOSING, _Q(ns.SM, "r")): frozenset({State.CLOSING}),
}

# states in which the stream may restart (TLS, SASL): feed one event at a time
_NEGOTIATING = frozenset(
    {
        State.STREAM_START,
        State.FEATURES,
        State.STARTTLS,
        State.SASL,
        State.REGISTER_FORM,
        State.REGISTER_SUBMIT,
    }
)


class TLSInfo(Value):
    """What the adapter knows about an established TLS layer."""

    __slots__ = ("channel_bindings", "client_certificate", "version")

    version: str  # "TLSv1.2", "TLSv1.3"
    channel_bindings: dict[str, bytes]
    client_certificate: bool

    def __init__(
        self,
        version: str,
        channel_bindings: dict[str, bytes] | None = None,
        client_certificate: bool = False,
    ) -> None:
        _set(self, "version", version)
        _set(self, "channel_bindings", {} if channel_bindings is None else channel_bindings)
        _set(self, "client_certificate", client_certificate)


class SessionConfig(Record):
    """The session's settings (``scram_keys``: SCRAM keys by hash, used when
    the server's salt and iteration count match; learned at each login, see
    session.keystore)."""

    def __init__(
        self,
        jid: JID,
        password: str | None = None,
        resource: str | None = None,
        register: bool = False,
        require_tls: bool = True,
        stream_management: bool = True,
        resume_max: int | None = 600,  # seconds we ask the server to keep the session
        csi_inactive: bool = True,
        keepalive: float = KEEPALIVE,  # seconds without inbound data before we probe
        keepalive_timeout: float | None = None,  # default: equal to keepalive
        whitespace_keepalive: float | None = None,  # seconds of outbound silence; None: off
        ack_every: int = 8,  # ask for an ack after this many unacknowledged stanzas
        ack_delay: float = 2.0,  # ... or this long after the first one
        max_unacked: int = 1000,
        close_timeout: float = 10.0,
        negotiation_timeout: float = 60.0,
        sasl_mechanisms: frozenset[str] | None = None,  # allowed; None: all we support
        scram_keys: dict[str, ScramKeys] | None = None,
        lang: str = "en",
        parser_limits: dict[str, int] | None = None,
    ) -> None:
        self.jid = jid
        self.password = password
        self.resource = resource
        self.register = register
        self.require_tls = require_tls
        self.stream_management = stream_management
        self.resume_max = resume_max
        self.csi_inactive = csi_inactive
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self.whitespace_keepalive = whitespace_keepalive
        self.ack_every = ack_every
        self.ack_delay = ack_delay
        self.max_unacked = max_unacked
        self.close_timeout = close_timeout
        self.negotiation_timeout = negotiation_timeout
        self.sasl_mechanisms = sasl_mechanisms
        self.scram_keys: dict[str, ScramKeys] = {} if scram_keys is None else scram_keys
        self.lang = lang
        self.parser_limits: dict[str, int] = {} if parser_limits is None else parser_limits
        if self.keepalive <= 0:
            raise LocalProtocolError("keepalive must be a positive number of seconds")


class Session:
    """One device's XMPP client session, across reconnects."""

    def __init__(self, config: SessionConfig, parser_backend: str | None = None) -> None:
        self.config = config
        self._backend = parser_backend
        self.state = State.DISCONNECTED
        self.sm = StreamManagement(max_unacked=config.max_unacked)
        self.jid: JID | None = None
        self.stream_id: str | None = None
        self.server_features: Element | None = None
        self._out: list[bytes] = []
        self._events: list[Any] = []
        self._ids = itertools.count(1)
        self._pending_iq: dict[str, str] = {}  # id -> purpose, for our own IQs
        self._pending_out: list[bytes] = []  # app stanzas waiting for ONLINE
        self._pw_change: _PasswordChange | None = None
        self._skip_log = RateLimitedLog(log)  # one line per sender per minute
        self.skipped = 0  # stanzas the parser skipped (over its limits), all connections
        self._reset_connection_state(0.0)

    # ---------------------------------------------------------------- lifecycle
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
        self._csi_offered = False
        self._legacy_session = False

    def connection_made(self, now: float, tls: TLSInfo | None = None) -> None:
        """The transport is connected (``tls`` set for direct TLS, XEP-0368)."""
        if self.state is not State.DISCONNECTED:
            raise LocalProtocolError(f"connection_made() in state {self.state.name}")
        self._reset_connection_state(now)
        self.tls = tls
        self._negotiation_deadline = now + self.config.negotiation_timeout
        self._open_stream(now)

    def tls_started(self, tls: TLSInfo, now: float) -> None:
        """The adapter finished the TLS handshake after <proceed/>."""
        if self.state is not State.TLS_HANDSHAKE:
            raise LocalProtocolError(f"tls_started() in state {self.state.name}")
        self.tls = tls
        self._parser.reset()
        self._open_stream(now)

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
            self._write(b"<a xmlns='urn:xmpp:sm:3' h='%d'/>" % self.sm.h_in)
        self.sm.forget()
        self._write(b"</stream:stream>")
        self.state = State.CLOSING
        self._deadline_close = now + self.config.close_timeout
        self._emit(Closed(None, "closed by the application", Retry.NEVER, by_peer=False))

    def _in(self, *states: State) -> bool:
        """Is the state one of these?  (A call, so type checkers do not assume
        the state cannot have changed in the handlers called before.)"""
        return self.state in states

    # ---------------------------------------------------------------- outputs
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
                times.append(self._probe_sent + (c.keepalive_timeout or c.keepalive))
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

    # ---------------------------------------------------------------- sending
    @property
    def queued(self) -> int:
        """Stanzas waiting to be sent or acknowledged (at most ``max_unacked``)."""
        return len(self._pending_out) + len(self.sm.unacked)

    @property
    def can_send(self) -> bool:
        """False while the bounded outbound queue is full (backpressure)."""
        return self.queued < self.config.max_unacked

    def send(self, stanza: ET.Element | Element, now: float) -> None:
        """Send a message, presence or IQ.  Before the session is online the
        stanza waits (bounded); with stream management it is kept until
        the server acknowledges it, and re-sent after a reconnect."""
        if stanza.tag not in STANZA_TAGS:
            raise LocalProtocolError(f"only message, presence and iq can be sent, not {stanza.tag}")
        if not self.can_send:
            from stanzalink.session.sm import QueueFull

            raise QueueFull(
                f"{self.config.max_unacked} stanzas are waiting to be sent or acknowledged"
            )
        data = tostring(stanza, default_ns=ns.CLIENT)
        if self.state is State.ONLINE:
            self._send_bytes(data, now)
        else:
            self._pending_out.append(data)

    def _send_bytes(self, data: bytes, now: float) -> None:
        self._now_write(data, now)
        if self.sm.enabled:
            self.sm.sent(data)
            unrequested = (self.sm.h_out - self.sm.requested_at) % 2**32
            if unrequested >= self.config.ack_every:
                self._request_ack(now)
            elif self._ack_due is None:
                self._ack_due = now + self.config.ack_delay

    def _request_ack(self, now: float) -> None:
        self._now_write(b"<r xmlns='urn:xmpp:sm:3'/>", now)
        self.sm.requested_at = self.sm.h_out
        self._ack_due = None

    def send_raw_iq(self, iq: ET.Element, purpose: str, now: float) -> str:
        """Send an IQ of the session's own (bind, register...) and remember its id."""
        iq_id = f"sl{next(self._ids)}"
        iq.set("id", iq_id)
        self._pending_iq[iq_id] = purpose
        self._now_write(tostring(iq, default_ns=ns.CLIENT), now)
        return iq_id

    # ---------------------------------------------------------------- XEP-0077 §3.3
    def change_password(self, new: str, now: float) -> None:
        """Ask the server to change the account's password to ``new``.  The
        answer comes as a :class:`PasswordChanged` event (the config then
        holds ``new``) or :class:`PasswordChangeFailed`.  The request is an
        ordinary stanza: with stream management it survives a reconnect."""
        from stanzalink.session.sasl import saslprep

        if self.state is not State.ONLINE:
            raise LocalProtocolError("the password can be changed only while online")
        if self._pw_change is not None:
            raise LocalProtocolError("a password change is already under way")
        if not saslprep(new):
            raise LocalProtocolError("the new password is empty")
        change = _PasswordChange(f"slpw{next(self._ids)}", new, self.config.password)
        iq = pwchange.request(self.config.jid.domain, self.config.jid.local or "", new)
        change.data = self._send_own(iq, change.iq_id, now)
        self._pw_change = change

    def cancel_password_change(self) -> None:
        """Forget a password change whose answer never came (the adapter's
        timeout); a late answer is then ignored."""
        self._pw_change = None

    def _send_own(self, iq: ET.Element, iq_id: str, now: float) -> bytes:
        """An IQ of ours while online: counted by stream management."""
        iq.set("id", iq_id)
        if not self.can_send:
            from stanzalink.session.sm import QueueFull

            raise QueueFull(
                f"{self.config.max_unacked} stanzas are waiting to be sent or acknowledged"
            )
        data = tostring(iq, default_ns=ns.CLIENT)
        self._send_bytes(data, now)
        return data

    def _on_password_answer(self, el: Element, now: float) -> None:
        change = self._pw_change
        assert change is not None
        result = pwchange.outcome(
            el,
            domain=self.config.jid.domain,
            username=self.config.jid.local or "",
            old=change.old,
            new=change.new,
            form_sent=change.form_sent,
        )
        if result.form is not None:
            change.iq_id = f"slpw{next(self._ids)}"
            change.form_sent = True
            change.data = self._send_own(result.form, change.iq_id, now)
            return
        self._pw_change = None
        if result.done:
            self.config.password = change.new
            if self.config.scram_keys:
                self.config.scram_keys.clear()  # derived from the old password
                self._emit(ScramKeysUpdated({}))
            self._emit(PasswordChanged())
            return
        log.warning("password change refused: %s", result.text)
        self._emit(PasswordChangeFailed(result.condition, result.text))

    # ---------------------------------------------------------------- timers
    def tick(self, now: float) -> None:
        """Run whatever timers are due at ``now``."""
        if self.state is State.DISCONNECTED:
            return
        c = self.config
        if self._deadline_close is not None and now >= self._deadline_close:
            self._to_disconnected()
            return
        if self._negotiation_deadline is not None and now >= self._negotiation_deadline:
            self._fail_local(
                "connection-timeout",
                f"the server did not complete the login within {c.negotiation_timeout:g} s",
                now,
            )
            return
        if self.state is not State.ONLINE:
            return
        if self._ack_due is not None and now >= self._ack_due:
            self._request_ack(now)
        timeout = c.keepalive_timeout or c.keepalive
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
            self._now_write(b" ", now)

    def _probe(self, now: float) -> None:
        """Ask the server for a sign of life: an SM ack request, else a ping."""
        if self.sm.enabled:
            self._request_ack(now)
        else:
            iq = E(_Q(ns.CLIENT, "iq"), {"type": "get", "to": self.config.jid.domain})
            sub(iq, _Q(ns.PING, "ping"))
            self.send_raw_iq(iq, "ping", now)
        self._probe_sent = now

    # ---------------------------------------------------------------- input
    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        if self.state is State.DISCONNECTED:
            raise LocalProtocolError("receive_data() while disconnected")
        if self.state is State.TLS_HANDSHAKE:
            self._fail_remote("not-authorized", "data after <proceed/> before TLS", now)
            return
        self._last_rx = now
        self._probe_sent = None
        view = memoryview(data)
        while len(view) and not self._in(State.DISCONNECTED):
            limit = 1 if self.state in _NEGOTIATING else 0
            try:
                events, used = self._parser.feed_some(view, limit)
            except StreamError as err:
                for ev in err.events:
                    self._dispatch(ev, now)
                    if self._in(State.DISCONNECTED):
                        return
                self._fail_remote(err.condition, str(err), now)
                return
            view = view[used:]
            for ev in events:
                self._dispatch(ev, now)
                if self._in(State.DISCONNECTED, State.TLS_HANDSHAKE):
                    break
            if self._in(State.TLS_HANDSHAKE):
                if len(view):
                    self._fail_remote("not-authorized", "data after <proceed/> before TLS", now)
                return
            if used == 0 and not events:
                break

    def _dispatch(self, ev: object, now: float) -> None:
        if isinstance(ev, StreamOpen):
            key = "open"
        elif isinstance(ev, StreamClose):
            self._on_stream_close(now)
            return
        elif isinstance(ev, StanzaSkipped):
            self._on_skipped(ev, now)
            return
        else:
            assert isinstance(ev, Element)
            key = ev.tag
            if key == _STREAM_ERROR:
                self._on_stream_error(ev, now)
                return
            if key in STANZA_TAGS and self.state in (State.ONLINE, State.SM_ENABLE, State.CLOSING):
                key = "stanza"
        allowed = TRANSITIONS.get((self.state, key))
        if allowed is None:
            self._unexpected(key, now)
            return
        before = self.state
        handler = _HANDLERS[key if key in _HANDLERS else "stanza"]
        handler(self, ev, now)
        after = self.state
        if after is not before and after is not State.DISCONNECTED and after not in allowed:
            raise AssertionError(f"{before.name} --{key}--> {after.name} is not in the table")

    def _on_skipped(self, ev: StanzaSkipped, now: float) -> None:
        """The parser dropped a stanza over its limits (depth, attributes,
        name length, bytes) and read on.  Anyone can send one (any account,
        through the server; stored offline, it comes again at every login),
        so it must never cost the connection: it counts for XEP-0198 like
        any stanza handled, an IQ request gets an error, and it is logged
        once a minute per sender.  Over-limit elements while negotiating, or
        nonzas, can only come from the server itself: a stream error."""
        what = _SKIP_REASONS.get(ev.limit, ev.limit + " {}").format(ev.value)
        if not self._in(State.ONLINE, State.SM_ENABLE, State.CLOSING) or (
            ev.tag and ev.tag not in STANZA_TAGS
        ):
            self._fail_remote(
                "policy-violation", f"the server sent {ev.tag or 'an element'}: {what}", now
            )
            return
        if self.sm.enabled:
            self.sm.received()
        self.skipped += 1
        sender = ev.attrib.get("from")
        try:
            key = str(JID.parse(sender).bare) if sender else "(server)"
        except InvalidJID:
            key = sender[:256] if sender else "(server)"
        kind = (ev.tag or "{}stanza").split("}", 1)[1]
        self._skip_log.log(
            key,
            logging.WARNING,
            "skipped a %s from %s: %s (bytes %d-%d of the stream)",
            kind,
            escape_controls((sender or "the server")[:256]),
            what,
            ev.offset,
            ev.end,
            now=now,
        )
        if ev.tag == _Q(ns.CLIENT, "iq") and ev.attrib.get("type") in ("get", "set"):
            reply = E(_Q(ns.CLIENT, "iq"), {"type": "error", "id": ev.attrib.get("id") or ""})
            if sender:
                reply.set("to", sender)
            err = sub(reply, _Q(ns.CLIENT, "error"), {"type": "modify"})
            sub(err, _Q(ns.STANZAS_ERR, "policy-violation"))
            sub(err, _Q(ns.STANZAS_ERR, "text"), text=f"over the device's limits: {what}")
            if self.queued < self.config.max_unacked // 2:  # errors never fill the queue
                self.send(reply, now)

    def _unexpected(self, key: str, now: float) -> None:
        if self.state in (State.ONLINE, State.SM_ENABLE) and key.startswith("{jabber:client}"):
            cond = "unsupported-stanza-type"
        elif key == "open":
            cond = "not-well-formed"
        else:
            cond = "unsupported-stanza-type"
        self._fail_remote(cond, f"unexpected {key} in state {self.state.name}", now)

    # ---------------------------------------------------------------- stream
    def _open_stream(self, now: float) -> None:
        attrs = {
            "to": self.config.jid.domain,
            "version": "1.0",
            "xml:lang": self.config.lang,
        }
        if self.tls is not None:
            attrs["from"] = str(self.config.jid.bare)  # RFC 6120 §4.7.1
        head = "".join(f" {k}='{_attr(v)}'" for k, v in attrs.items())
        self._now_write(
            (
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                f"xmlns:stream='http://etherx.jabber.org/streams'{head}>"
            ).encode(),
            now,
        )
        self.state = State.STREAM_START

    def _on_open(self, ev: StreamOpen, now: float) -> None:
        if ev.nsmap.get("") != ns.CLIENT:
            self._fail_remote(
                "invalid-namespace",
                f"the server's content namespace is {ev.nsmap.get('')!r}, not jabber:client",
                now,
            )
            return
        version = ev.get("version") or "0.9"
        major = _digits(version.split(".")[0], 4)
        if major is None or major < 1:
            self._fail_remote("unsupported-version", f"server stream version {version}", now)
            return
        sender = ev.get("from")
        if sender is not None:
            try:
                ok = JID.parse(sender) == JID(None, self.config.jid.domain)
            except InvalidJID:
                ok = False
            if not ok:
                self._fail_remote(
                    "host-unknown",
                    f"the server answers as {sender!r}, not {self.config.jid.domain}",
                    now,
                )
                return
        self.stream_id = ev.get("id")
        self.state = State.FEATURES

    def _on_stream_close(self, now: float) -> None:
        if self.state is State.CLOSING:
            self._to_disconnected()
            return
        self._write(b"</stream:stream>")
        self._to_disconnected()
        self._emit(
            Closed(
                "reset",
                "the server closed the stream",
                Retry.BACKOFF,
                by_peer=True,
                resume_location=self.sm.location if self.sm.resumable else None,
            )
        )

    def _on_stream_error(self, el: Element, now: float) -> None:
        """The server ended the stream.  No condition ends the client for good:
        before TLS anyone on the path can write one (no certificate proves who
        sent it), so every one is transient there, a redirect is ignored and
        the stream-management session is kept; after TLS a refusal
        (``conflict``, ``not-authorized``...) retries slowly."""
        condition = "undefined-condition"
        text = ""
        redirect = None
        for child in el:
            if child.tag == _Q(ns.STREAMS_ERR, "text"):
                text = (child.text or "")[:200]
            elif child.tag.startswith("{" + ns.STREAMS_ERR + "}"):
                condition = child.tag.split("}", 1)[1][:64]
                if condition == "see-other-host":
                    redirect = (child.text or "").strip()[:300] or None
        trusted = self.tls is not None
        if not trusted:
            retry = Retry.BACKOFF
            redirect = None
        elif condition in ("system-shutdown", "see-other-host"):
            retry = Retry.NOW
        elif condition in TRANSIENT_CONDITIONS:
            retry = Retry.BACKOFF
        else:
            retry = Retry.SLOW
        if trusted and condition in ("conflict", "not-authorized", "see-other-host"):
            self.sm.forget()
        self._write(b"</stream:stream>")
        self._to_disconnected()
        message = f"the server ended the stream: {condition}" + (f" ({text})" if text else "")
        if not trusted:
            message += " (before TLS: not trusted, retrying)"
        elif condition == "conflict":
            resource = self.jid.resource if self.jid is not None else self.config.resource
            message = (
                f"another client took resource {resource or '(server-assigned)'} of "
                f"{self.config.jid.bare}" + (f" ({text})" if text else "")
            )
            log.error("%s: retrying slowly", message)
        self._emit(
            Closed(
                condition,
                message,
                retry,
                by_peer=True,
                redirect=redirect,
                resume_location=self.sm.location if self.sm.resumable else None,
            )
        )

    def _fail_remote(self, condition: str, text: str, now: float) -> None:
        """The server broke the protocol: send a stream error and close."""
        log.warning("stream error %s: %s", condition, text)
        self._write(
            b"<stream:error><"
            + condition.encode()
            + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
        )
        self._to_disconnected()
        self._emit(Closed(condition, text, Retry.BACKOFF, by_peer=True))

    def _fail_local(
        self, condition: str, text: str, now: float, retry: Retry = Retry.BACKOFF
    ) -> None:
        """We cannot go on (policy, credentials): close without blaming the server."""
        log.warning("%s: %s", condition, text)
        self._write(b"</stream:stream>")
        self._to_disconnected()
        self._emit(Closed(condition, text, retry, by_peer=False))

    def _to_disconnected(self) -> None:
        self.state = State.DISCONNECTED
        self._deadline_close = None
        self._negotiation_deadline = None
        self._ack_due = None
        self._pending_iq.clear()
        if not self.sm.resumable:
            # not resumable: unacknowledged stanzas go out again on the next session
            self._pending_out[:0] = self.sm.take_unacked()
            self.sm.forget()
            change = self._pw_change
            if change is not None and change.data not in self._pending_out:
                # the request went out and will not be repeated: no answer will come
                self._pw_change = None
                self._emit(
                    PasswordChangeFailed(
                        "connection-lost",
                        "the connection was lost before the server answered the password "
                        "change: it may or may not have changed (the old password stays "
                        "configured)",
                    )
                )

    # ---------------------------------------------------------------- features
    def _on_features(self, el: Element, now: float) -> None:
        self.server_features = el
        tls_offer = el.find(_Q(ns.TLS, "starttls"))
        mechs = el.find(_Q(ns.SASL, "mechanisms"))
        if self.tls is None:
            if tls_offer is not None:
                self._now_write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", now)
                self.state = State.STARTTLS
                return
            if self.config.require_tls:
                self._fail_local(
                    "policy-violation",
                    "the server does not offer STARTTLS and TLS is required "
                    "(set server.require_tls = false only on a trusted network)",
                    now,
                    # before TLS anyone on the path can strip the offer: no
                    # more than a transient fault (as every pre-TLS stream error)
                    Retry.BACKOFF,
                )
                return
        if not self.authenticated:
            if mechs is None:
                self._fail_local(
                    "policy-violation", "the server offers no SASL mechanism", now, Retry.SLOW
                )
                return
            self._offered_mechs = [m.text or "" for m in mechs.findall(_Q(ns.SASL, "mechanism"))]
            cb = el.find(_Q(ns.SASL_CB, "sasl-channel-binding"))
            self._offered_cb = (
                [c.get("type") or "" for c in cb.findall(_Q(ns.SASL_CB, "channel-binding"))]
                if cb is not None
                else None
            )
            self._register_offered = el.find(_Q(ns.REGISTER_FEATURE, "register")) is not None
            self._start_sasl(now)
            return
        # authenticated: resume or bind
        self._csi_offered = el.find(_Q(ns.CSI, "csi")) is not None
        sm_offered = el.find(_Q(ns.SM, "sm")) is not None
        sess = el.find(_Q(ns.SESSION, "session"))
        self._legacy_session = sess is not None and sess.find(_Q(ns.SESSION, "optional")) is None
        self._sm_offered = sm_offered and self.config.stream_management
        if self._sm_offered and self.sm.resumable and self.sm.id:
            previd = _attr(self.sm.id)
            self._now_write(
                f"<resume xmlns='urn:xmpp:sm:3' h='{self.sm.h_in}' previd='{previd}'/>".encode(),
                now,
            )
            self.state = State.SM_RESUME
            return
        if self.sm.resumable:
            self._requeue_after_lost_session()
        self._bind(now)

    def _on_proceed(self, el: Element, now: float) -> None:
        self.state = State.TLS_HANDSHAKE
        self._emit(StartTLS())

    # ---------------------------------------------------------------- SASL
    def _start_sasl(self, now: float) -> None:
        from stanzalink.session import sasl

        tls = self.tls
        try:
            mech = sasl.select_mechanism(
                [m for m in self._offered_mechs if m not in self._sasl_tried],
                tls=tls is not None,
                tls_version=tls.version if tls else None,
                cb_types=tls.channel_bindings if tls else {},
                server_cb_types=self._offered_cb,
                have_client_cert=bool(tls and tls.client_certificate),
                allowed=self.config.sasl_mechanisms,
                username=self.config.jid.local or "",
                password=self.config.password,
                keys=self.config.scram_keys,
                all_offered=self._offered_mechs,
            )
        except LocalProtocolError as exc:
            text = str(exc)
            if not text.startswith("cannot log in"):
                text = f"cannot log in: {text}"
            self._fail_local("policy-violation", text, now, Retry.SLOW)
            return
        except RemoteProtocolError as exc:
            self._fail_local("policy-violation", f"login refused: {exc}", now, Retry.SLOW)
            return
        self._sasl = mech
        self._sasl_tried.add(mech.name)
        initial = mech.initial_response()
        payload = "=" if initial == b"" else (base64.b64encode(initial).decode() if initial else "")
        self._now_write(
            f"<auth xmlns='{ns.SASL}' mechanism='{mech.name}'>{payload}</auth>".encode(),
            now,
        )
        self.state = State.SASL

    def _sasl_data(self, el: Element, now: float) -> bytes | None:
        text = (el.text or "").strip()
        if text in ("", "="):
            return b""
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self._fail_remote("bad-format", "SASL data is not base64", now)
            return None

    def _on_sasl_challenge(self, el: Element, now: float) -> None:
        data = self._sasl_data(el, now)
        if data is None:
            return
        try:
            response = self._sasl.challenge(data)
        except RemoteProtocolError as exc:
            self._abort_sasl(str(exc), now)
            return
        except LocalProtocolError as exc:  # stored keys that no longer fit, no password
            self._write(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            self._fail_local("not-authorized", f"cannot log in: {exc}", now, Retry.SLOW)
            return
        payload = base64.b64encode(response).decode() if response else ""
        self._now_write(
            f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{payload}</response>".encode(), now
        )

    def _abort_sasl(self, why: str, now: float) -> None:
        self._write(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self._fail_local("not-authorized", f"login aborted: {why}", now, Retry.SLOW)

    def _on_sasl_success(self, el: Element, now: float) -> None:
        data = self._sasl_data(el, now)
        if data is None:
            return
        try:
            self._sasl.success(data)
        except RemoteProtocolError as exc:
            # a server that cannot prove it knows the password is not our server
            self._fail_local(
                "not-authorized", f"the server's SASL proof is wrong: {exc}", now, Retry.SLOW
            )
            return
        self.authenticated = True
        self._emit(Authenticated(self._sasl.name, self._sasl.gs2_flag))
        mech = self._sasl
        if getattr(mech, "downgrade_protected", False):
            log.info("XEP-0474: the server's mechanism and channel-binding lists were verified")
        if isinstance(mech, Scram) and mech.keys is not None:
            base = mech.keys.mechanism
            if self.config.scram_keys.get(base) != mech.keys:
                self.config.scram_keys[base] = mech.keys
                self._emit(ScramKeysUpdated(dict(self.config.scram_keys)))
        self._parser.reset()
        self._open_stream(now)

    def _on_sasl_failure(self, el: Element, now: float) -> None:
        condition = "not-authorized"
        text = ""
        for child in el:
            if child.tag == _Q(ns.SASL, "text"):
                text = child.text or ""
            elif child.tag.startswith("{" + ns.SASL + "}"):
                condition = child.tag.split("}", 1)[1]
        mech = self._sasl
        if (
            condition == "not-authorized"
            and isinstance(mech, Scram)
            and mech.used_stored_keys
            and mech.keys is not None
            and self.config.password is not None
        ):
            # the stored keys no longer work (same salt, new password?):
            # forget them and try once more with the password
            log.warning("the stored %s keys were refused; trying the password", mech.keys.mechanism)
            self.config.scram_keys.pop(mech.keys.mechanism, None)
            self._emit(ScramKeysUpdated(dict(self.config.scram_keys)))
            self._sasl_tried.discard(mech.name)
            self._start_sasl(now)
            return
        if (
            condition == "not-authorized"
            and self.config.register
            and not self._registered_once
            and getattr(self, "_register_offered", False)
        ):
            # perhaps the account does not exist yet: register it (XEP-0077)
            self._registered_once = True
            iq = E(_Q(ns.CLIENT, "iq"), {"type": "get"})
            sub(iq, _Q(ns.REGISTER, "query"))
            self.send_raw_iq(iq, "register-form", now)
            self.state = State.REGISTER_FORM
            return
        detail = f" ({text})" if text else ""
        self._fail_local(
            condition,
            f"the server refused the login as {self.config.jid.bare}: {condition}{detail}",
            now,
            Retry.SLOW,
        )

    # ---------------------------------------------------------------- XEP-0077
    def _own_iq(self, el: Element, purpose: str, now: float) -> bool:
        """Is this the answer to our IQ ``purpose``?  Fails the stream if not."""
        iq_id = el.get("id")
        if (
            iq_id is None
            or self._pending_iq.get(iq_id) != purpose
            or el.get("type")
            not in (
                "result",
                "error",
            )
        ):
            self._fail_remote(
                "unsupported-stanza-type", f"unexpected IQ while waiting for {purpose}", now
            )
            return False
        del self._pending_iq[iq_id]
        return True

    def _on_register_form(self, el: Element, now: float) -> None:
        if not self._own_iq(el, "register-form", now):
            return
        query = el.find(_Q(ns.REGISTER, "query"))
        if el.get("type") == "error" or query is None:
            self._fail_local(
                "not-authorized",
                "the login was refused and the server does not allow in-band registration",
                now,
                Retry.SLOW,
            )
            return
        if query.find(_Q(ns.REGISTER, "registered")) is not None:
            self._fail_local(
                "not-authorized", "the account exists but the password was refused", now, Retry.SLOW
            )
            return
        form = query.find(_Q(ns.DATA_FORMS, "x"))
        iq = E(_Q(ns.CLIENT, "iq"), {"type": "set"})
        q = sub(iq, _Q(ns.REGISTER, "query"))
        username = self.config.jid.local or ""
        password = self.config.password or ""
        if form is not None:
            values = {"username": username, "password": password, "FORM_TYPE": ns.REGISTER}
            missing = [
                f.get("var")
                for f in form.findall(_Q(ns.DATA_FORMS, "field"))
                if f.find(_Q(ns.DATA_FORMS, "required")) is not None and f.get("var") not in values
            ]
            if missing:
                self._fail_local(
                    "not-authorized",
                    "in-band registration needs fields the device cannot fill: "
                    + ", ".join(str(m) for m in missing),
                    now,
                    Retry.SLOW,
                )
                return
            x = sub(q, _Q(ns.DATA_FORMS, "x"), {"type": "submit"})
            for var, value in values.items():
                f = sub(x, _Q(ns.DATA_FORMS, "field"), {"var": var})
                sub(f, _Q(ns.DATA_FORMS, "value"), text=value)
        else:
            sub(q, _Q(ns.REGISTER, "username"), text=username)
            sub(q, _Q(ns.REGISTER, "password"), text=password)
        self.send_raw_iq(iq, "register-submit", now)
        self.state = State.REGISTER_SUBMIT

    def _on_register_submit(self, el: Element, now: float) -> None:
        if not self._own_iq(el, "register-submit", now):
            return
        if el.get("type") == "error":
            err = el.find(_Q(ns.CLIENT, "error"))
            cond = "undefined-condition"
            if err is not None:
                for child in err:
                    if child.tag.startswith("{" + ns.STANZAS_ERR + "}") and not child.tag.endswith(
                        "}text"
                    ):
                        cond = child.tag.split("}", 1)[1]
            why = {
                "conflict": "the account exists already and the password was refused",
                "not-acceptable": "the server refused the username or password (not acceptable)",
                "not-allowed": "the server does not allow in-band registration",
                "resource-constraint": "the server limits registrations; try again later",
            }.get(cond, f"registration failed: {cond}")
            self._fail_local("not-authorized", why, now, Retry.SLOW)
            return
        self._emit(Registered(self.config.jid.local or ""))
        self._sasl_tried.clear()
        self._start_sasl(now)

    # ---------------------------------------------------------------- bind
    def _bind(self, now: float, resource: str | None = None) -> None:
        iq = E(_Q(ns.CLIENT, "iq"), {"type": "set"})
        b = sub(iq, _Q(ns.BIND, "bind"))
        res = resource if resource is not None else self.config.resource
        if res:
            sub(b, _Q(ns.BIND, "resource"), text=res)
        self.send_raw_iq(iq, "bind", now)
        self.state = State.BIND

    def _on_bind(self, el: Element, now: float) -> None:
        if not self._own_iq(el, "bind", now):
            return
        if el.get("type") == "error":
            if not self._bind_retried and self.config.resource:
                self._bind_retried = True
                log.warning("resource %r refused; asking the server for one", self.config.resource)
                self._bind(now, resource="")
                return
            self._fail_local(
                "not-authorized", "the server refused to bind a resource", now, Retry.SLOW
            )
            return
        jid_text = el.findtext(f"{{{ns.BIND}}}bind/{{{ns.BIND}}}jid")
        try:
            jid = JID.parse(jid_text or "")
        except InvalidJID:
            self._fail_remote("bad-format", f"bind result {jid_text!r} is not a JID", now)
            return
        if jid.bare != self.config.jid.bare or jid.resource is None:
            self._fail_remote(
                "bad-format",
                f"the server bound {jid}, not a resource of {self.config.jid.bare}",
                now,
            )
            return
        self.jid = jid
        if self._legacy_session:
            iq = E(_Q(ns.CLIENT, "iq"), {"type": "set"})
            sub(iq, _Q(ns.SESSION, "session"))
            self.send_raw_iq(iq, "session", now)
            self.state = State.LEGACY_SESSION
            return
        self._after_bind(now)

    def _on_legacy_session(self, el: Element, now: float) -> None:
        if not self._own_iq(el, "session", now):
            return
        if el.get("type") == "error":
            self._fail_local("not-authorized", "the server refused the session", now, Retry.SLOW)
            return
        self._after_bind(now)

    def _after_bind(self, now: float) -> None:
        if self._sm_offered:
            resume = " resume='true'"
            if self.config.resume_max:
                resume += f" max='{self.config.resume_max}'"
            self._now_write(f"<enable xmlns='urn:xmpp:sm:3'{resume}/>".encode(), now)
            self.state = State.SM_ENABLE
            return
        self._go_online(now, resumed=False)

    # ---------------------------------------------------------------- XEP-0198
    def _requeue_after_lost_session(self) -> None:
        self._pending_out[:0] = self.sm.take_unacked()
        self.sm.forget()

    def _on_sm_enabled(self, el: Element, now: float) -> None:
        max_s = el.get("max")
        self.sm.start(
            el.get("id"),
            el.get("resume") in ("true", "1"),
            el.get("location"),
            _digits(max_s),
        )
        self._go_online(now, resumed=False)

    def _on_sm_failed(self, el: Element, now: float) -> None:
        if self.state is State.SM_RESUME:
            h = el.get("h")
            if h is not None:
                self._apply_ack(h, now)
                if self._in(State.DISCONNECTED):
                    return
            self._requeue_after_lost_session()
            self._bind(now)
            return
        # <enable/> refused: go on without stream management
        self.sm.forget()
        self._go_online(now, resumed=False)

    def _on_sm_resumed(self, el: Element, now: float) -> None:
        self._apply_ack(el.get("h") or "", now)
        if self.state is State.DISCONNECTED:
            return
        self.state = State.ONLINE
        self._negotiation_deadline = None
        if self._csi_offered and self.config.csi_inactive:
            # XEP-0352 (0.2.1): the CSI state does not survive resumption;
            # without this the server would hold what it should deliver
            self._now_write(b"<inactive xmlns='urn:xmpp:csi:0'/>", now)
        for data in list(self.sm.unacked):
            self._now_write(data, now)  # already counted in h_out
        if self.sm.unacked:
            self._request_ack(now)
        self._emit(Online(self.jid or self.config.jid, resumed=True, stream_management=True))
        self._flush_pending(now)

    def _apply_ack(self, h_text: str, now: float) -> None:
        h = _digits(h_text)
        if h is None:
            self._fail_remote("bad-format", f"stream management h={h_text!r}", now)
            return
        try:
            self.sm.ack(h)
        except RemoteProtocolError as exc:
            self._fail_remote(exc.condition, exc.message, now)

    def _on_sm_r(self, el: Element, now: float) -> None:
        if self.sm.enabled:
            self._now_write(b"<a xmlns='urn:xmpp:sm:3' h='%d'/>" % self.sm.h_in, now)

    def _on_sm_a(self, el: Element, now: float) -> None:
        self._apply_ack(el.get("h") or "", now)

    def _go_online(self, now: float, resumed: bool) -> None:
        self.state = State.ONLINE
        self._negotiation_deadline = None
        if self._csi_offered and self.config.csi_inactive:
            self._now_write(b"<inactive xmlns='urn:xmpp:csi:0'/>", now)
        assert self.jid is not None
        self._emit(Online(self.jid, resumed=resumed, stream_management=self.sm.enabled))
        self._flush_pending(now)

    def _flush_pending(self, now: float) -> None:
        pending, self._pending_out = self._pending_out, []
        for data in pending:
            self._send_bytes(data, now)

    # ---------------------------------------------------------------- stanzas
    def _on_stanza(self, el: Element, now: float) -> None:
        if self.sm.enabled:
            self.sm.received()
        if el.tag == _Q(ns.CLIENT, "iq"):
            iq_id = el.get("id")
            change = self._pw_change
            if (
                change is not None
                and iq_id == change.iq_id
                and el.get("type") in ("result", "error")
                and self._from_server(el)
            ):
                self._on_password_answer(el, now)
                return
            if (
                iq_id is not None
                and iq_id in self._pending_iq
                and el.get("type") in ("result", "error")
                and self._from_server(el)
            ):
                del self._pending_iq[iq_id]  # our keepalive ping's answer
                return
            if (
                el.get("type") == "get"
                and el.find(_Q(ns.PING, "ping")) is not None
                and self._from_server(el)
            ):
                reply = E(
                    _Q(ns.CLIENT, "iq"),
                    {"type": "result", "id": el.get("id"), "to": el.get("from")},
                )
                self._send_bytes(tostring(reply, default_ns=ns.CLIENT), now)
                return
        self._emit(StanzaReceived(el))

    def _from_server(self, el: Element) -> bool:
        """Sent by our own server (no from, our domain, or our bare JID)?"""
        sender = el.get("from")
        if sender is None:
            return True
        try:
            j = JID.parse(sender)
        except InvalidJID:
            return False
        return j == JID(None, self.config.jid.domain) or j == self.config.jid.bare


_SKIP_REASONS = {
    "max_stanza_bytes": "larger than {} bytes",
    "max_depth": "elements nested deeper than {}",
    "max_attrs": "more than {} attributes on an element",
    "max_name_len": "a name longer than {} bytes",
}


class _PasswordChange:
    def __init__(self, iq_id: str, new: str, old: str | None) -> None:
        self.iq_id = iq_id
        self.new = new
        self.old = old
        self.form_sent = False
        self.data = b""  # the request as sent (to know whether it will be sent again)


def _digits(text: str | None, limit: int = 10) -> int | None:
    """A decimal of ASCII digits only, at most ``limit`` of them (an
    xs:unsignedInt has 10), or None: ``int()`` alone would take "²" to a
    ValueError, " 7", "+7" and "7_0" to numbers, and 5,000 digits to an error."""
    if text and len(text) <= limit and text.isascii() and text.isdigit():
        return int(text)
    return None


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def _h_open(s: Session, ev: Any, now: float) -> None:
    s._on_open(ev, now)


def _h_iq(s: Session, ev: Any, now: float) -> None:
    {
        State.REGISTER_FORM: s._on_register_form,
        State.REGISTER_SUBMIT: s._on_register_submit,
        State.BIND: s._on_bind,
        State.LEGACY_SESSION: s._on_legacy_session,
    }[s.state](ev, now)


_HANDLERS: dict[str, Any] = {
    "open": _h_open,
    _Q(ns.STREAM, "features"): Session._on_features,
    _Q(ns.TLS, "proceed"): Session._on_proceed,
    _Q(ns.TLS, "failure"): lambda s, ev, now: s._fail_local(
        "policy-violation", "the server could not start TLS", now
    ),
    _Q(ns.SASL, "challenge"): Session._on_sasl_challenge,
    _Q(ns.SASL, "success"): Session._on_sasl_success,
    _Q(ns.SASL, "failure"): Session._on_sasl_failure,
    _Q(ns.CLIENT, "iq"): _h_iq,
    _Q(ns.SM, "resumed"): Session._on_sm_resumed,
    _Q(ns.SM, "failed"): Session._on_sm_failed,
    _Q(ns.SM, "enabled"): Session._on_sm_enabled,
    _Q(ns.SM, "r"): Session._on_sm_r,
    _Q(ns.SM, "a"): Session._on_sm_a,
    "stanza": Session._on_stanza,
}

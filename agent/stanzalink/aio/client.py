"""The asyncio adapter: sockets, TLS, timers and reconnects around the
sans-IO :class:`~stanzalink.session.core.Session`, plus the public client API.

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
import hashlib
import logging
import os
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any

from stanzalink import ns
from stanzalink.aio.dns import Resolver, Target, xmpp_targets
from stanzalink.errors import LocalProtocolError, StanzaError, StanzalinkError
from stanzalink.jid import JID, InvalidJID
from stanzalink.logsafe import escape_controls
from stanzalink.ratelog import RateLimitedLog
from stanzalink.session.core import Session, SessionConfig, State, TLSInfo
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
from stanzalink.session.sasl import ScramKeys
from stanzalink.session.sm import QueueFull
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub
from stanzalink.xml.ring import receive_buffer

log = logging.getLogger(__name__)

Handler = Callable[[Element], Awaitable[None] | None]
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 0)  # Linux
IQHandler = Callable[[Element], Awaitable[ET.Element | None] | ET.Element | None]


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


class ConnectionFailed(StanzalinkError):
    """The client gave up (the server refused it for good, or close() was called)."""


class ClientConfig(SessionConfig):
    """The session's settings (see SessionConfig) and the connection's."""

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
        keepalive: float = 300.0,  # seconds without inbound data before we probe
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
        host: str | None = None,  # None: SRV lookup on the JID's domain
        port: int = 5222,
        direct_tls: bool = False,
        ca_file: str | None = None,
        verify_tls: bool = True,  # False only with a loud warning, for lab use
        tls_max_version: str | None = None,  # "TLSv1.2" caps TLS (tls-unique); None: no cap
        client_cert: str | None = None,
        client_key: str | None = None,
        scram_keys_file: str | None = None,  # keep SCRAM keys here (session.keystore)
        connect_timeout: float = 20.0,
        reconnect: bool = True,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,  # [connection] reconnect_max
        slow_base: float = 60.0,  # the first wait after a refusal (login, conflict)
        slow_cap: float | None = None,  # None: backoff_cap
        stable_after: float = 60.0,  # online this long: the backoff starts again from 0
        max_redirects: int = 3,  # consecutive see-other-host redirects followed
        tcp_keepalive: bool = True,
        read_buffer: int = 65536,
        nameservers: list[tuple[str, int]] | None = None,
        iq_timeout: float = 60.0,
        parser_backend: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            jid,
            password,
            resource,
            register,
            require_tls,
            stream_management,
            resume_max,
            csi_inactive,
            keepalive,
            keepalive_timeout,
            whitespace_keepalive,
            ack_every,
            ack_delay,
            max_unacked,
            close_timeout,
            negotiation_timeout,
            sasl_mechanisms,
            scram_keys,
            lang,
            parser_limits,
        )
        self.host = host
        self.port = port
        self.direct_tls = direct_tls
        self.ca_file = ca_file
        self.verify_tls = verify_tls
        self.tls_max_version = tls_max_version
        self.client_cert = client_cert
        self.client_key = client_key
        self.scram_keys_file = scram_keys_file
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.slow_base = slow_base
        self.slow_cap = backoff_cap if slow_cap is None else slow_cap
        self.stable_after = stable_after
        self.max_redirects = max_redirects
        self.tcp_keepalive = tcp_keepalive
        self.read_buffer = read_buffer
        self.nameservers = nameservers
        self.iq_timeout = iq_timeout
        self.parser_backend = parser_backend
        self.extra: dict[str, Any] = {} if extra is None else extra


def uniform(low: float, high: float) -> float:
    """A uniformly random float in [low, high] from the OS (no random module
    to import on a small device)."""
    return low + (high - low) * int.from_bytes(os.urandom(7), "big") / (2**56 - 1)


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[float, float], float] = uniform
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base*2^n)]."""
    return rand(0, min(cap, base * (2 ** min(attempt, 30))))


def parse_redirect(text: str, default_port: int) -> tuple[str, int] | None:
    """A see-other-host target (RFC 6120 §4.9.3.19: a domain name, an IPv4
    address or a bracketed IPv6 address, each with an optional port) as
    (host, port), or None when it is not one."""
    import ipaddress

    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        if text.count(":") == 1:
            host, _, port_text = text.partition(":")
        elif ":" in text:
            return None
        labels = host.rstrip(".").split(".")
        if not host or len(host) > 253:
            return None
        for label in labels:
            if not 0 < len(label) <= 63 or label.startswith("-") or label.endswith("-"):
                return None
            try:
                ascii_label = label.encode("idna").decode("ascii")
            except UnicodeError:
                return None
            if not all(ch.isalnum() or ch == "-" for ch in ascii_label):
                return None
    port = default_port
    if port_text or text.endswith(":"):
        if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
            return None
        port = int(port_text)
    if not 0 < port < 65536:
        return None
    return host, port


def tls_info(ssl_object: ssl.SSLObject | ssl.SSLSocket, client_cert: bool) -> TLSInfo:
    """Channel bindings the session may use (RFC 5929, RFC 9266)."""
    version = ssl_object.version() or ""
    bindings: dict[str, bytes] = {}
    if version in ("TLSv1", "TLSv1.1", "TLSv1.2"):
        unique = ssl_object.get_channel_binding("tls-unique")
        if unique:
            bindings["tls-unique"] = unique
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        bindings["tls-server-end-point"] = server_end_point(der)
    return TLSInfo(version=version, channel_bindings=bindings, client_certificate=client_cert)


def server_end_point(der: bytes) -> bytes:
    """RFC 5929 §4.1: the certificate hashed with its signature's hash
    (SHA-256 when that is MD5 or SHA-1)."""
    try:
        from stanzalink.session.sasl import tls_server_end_point

        result: bytes = tls_server_end_point(der)
        return result
    except ImportError:  # pragma: no cover - sasl module always present
        return hashlib.sha256(der).digest()


class _Protocol(asyncio.BufferedProtocol):
    def __init__(self, client: Client, size: int) -> None:
        self.client = client
        # the bytes land in the receive ring (C memory when the native module
        # is built) and the tokenizer reads them there; drained on every read
        self.ring = receive_buffer(size)
        self.transport: asyncio.Transport | None = None
        self.quickack: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if _TCP_QUICKACK and sock is not None:
            self.quickack = sock

    def get_buffer(self, sizehint: int) -> memoryview:
        # never empty: every buffer_updated drains the ring (asyncio treats an
        # empty buffer as a fatal error, and a full ring may not grow)
        return self.ring.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self.quickack is not None:
            # acknowledge at once: a server that does not set TCP_NODELAY
            # would otherwise hold its next stanza ~40 ms for our delayed ACK
            with contextlib.suppress(OSError):
                self.quickack.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        self.ring.commit(nbytes)
        self.client._on_data(self)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._on_lost(self, exc)


class Client:
    """An XMPP client connection that stays up: the device agent's and a
    controller program's way onto XMPP."""

    def __init__(self, config: ClientConfig, *, resolver: Resolver | None = None) -> None:
        self.config = config
        if config.scram_keys_file and not config.scram_keys:
            from stanzalink.session import keystore  # only with a keys file: tempfile is heavy

            config.scram_keys.update(keystore.load(config.scram_keys_file, str(config.jid.bare)))
        self.session = Session(config, parser_backend=config.parser_backend)
        self._resolver = resolver
        self._proto: _Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._online = asyncio.Event()
        self._closed_event: asyncio.Event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._final_error: str | None = None
        self._tls_error: str | None = None
        self._tls_task: asyncio.Future[Any] | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._flush_soon: asyncio.Handle | None = None
        self._iq_waiters: dict[str, tuple[asyncio.Future[Element], JID | None]] = {}
        self._pw_waiter: asyncio.Future[None] | None = None
        self._message_handlers: list[Handler] = []
        self._presence_handlers: list[Handler] = []
        self._iq_handlers: dict[tuple[str, str], IQHandler] = {}
        self._event_handlers: list[Callable[[object], None]] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._attempt = 0
        self._redirects = 0  # consecutive redirects followed
        self._targets_from = ""  # where the last targets came from, for the log
        self._last_close: Closed | None = None
        self._last_failure: str | None = None
        self._limited = RateLimitedLog(log)
        self.crashed: BaseException | None = None  # what ended the connection loop, if not close()
        self.jid: JID | None = None
        self.connected_at: float | None = None

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
        for t in types:
            self._iq_handlers[(t, payload_tag)] = handler

    def on_event(self, handler: Callable[[object], None]) -> None:
        """Session events (Online, Closed, Registered...) for the application."""
        self._event_handlers.append(handler)

    @property
    def online(self) -> bool:
        return self.session.state is State.ONLINE

    async def start(self) -> None:
        """Connect in the background and keep connected until close()."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="stanzalink-connection"
            )

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

    def send(self, stanza: ET.Element) -> None:
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

    def _deferred_flush(self) -> None:
        self._flush_soon = None
        self._flush()

    async def iq(self, stanza: ET.Element, timeout: float | None = None) -> Element:
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
        fut: asyncio.Future[Element] = asyncio.get_running_loop().create_future()
        if iq_id in self._iq_waiters:
            raise LocalProtocolError(f"an IQ with id {iq_id!r} is already pending")
        self._iq_waiters[iq_id] = (fut, expected)
        try:
            self.send(stanza)
            reply = await asyncio.wait_for(fut, timeout or self.config.iq_timeout)
        finally:
            self._iq_waiters.pop(iq_id, None)
        if reply.get("type") == "error":
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
        if self._pw_waiter is not None:
            raise LocalProtocolError("a password change is already under way")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.session.change_password(new, self._now())
        self._pw_waiter = fut
        self._flush()
        try:
            await asyncio.wait_for(fut, timeout or self.config.iq_timeout)
        except TimeoutError:
            self.session.cancel_password_change()
            raise TimeoutError("the server did not answer the password change") from None
        finally:
            self._pw_waiter = None

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
        for fut, _ in self._iq_waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionFailed("the client was closed"))
        if self._pw_waiter is not None and not self._pw_waiter.done():
            self._pw_waiter.set_exception(ConnectionFailed("the client was closed"))
        for t in list(self._tasks):
            t.cancel()
        self._closed_event.set()

    # ---------------------------------------------------------------- connection loop
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _run(self) -> None:
        """The connection loop: it ends only by close() (or, for a client made
        with ``reconnect=False``, after the first connection).  An exception
        in it is a bug: logged with its traceback, it ends the loop with
        ``crashed`` set, so the application can exit non-zero and its
        service manager restart it, instead of living on offline."""
        try:
            await self._reconnect_loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.crashed = exc
            self._final_error = f"the connection loop failed: {exc!r}"
            log.critical("the connection loop failed: %r", exc, exc_info=True)
        finally:
            self._closed_event.set()

    async def _reconnect_loop(self) -> None:
        while not self._stopping:
            try:
                closed = await self._connect_and_wait()
            except Exception as exc:
                # whatever failed in this attempt (a bad CA file, a bad name in
                # a DNS answer, a bug): said once, then tried again, never fatal
                self._abort_attempt()
                self._note_failure(f"connection attempt failed: {exc!r}", exc)
                closed = None
            if self._tls_error:  # the handshake failed: that is the reason, not the closed socket
                self._final_error = self._tls_error
                self._tls_error = None
            if self._stopping or not self.config.reconnect:
                break
            retry = closed.retry if closed else Retry.BACKOFF
            if retry is Retry.NEVER:  # only close(): nothing the server sends means this
                self._final_error = closed.text if closed else "closed"
                break
            delay = self._next_delay(retry)
            log.info(
                "reconnecting in %.1f s (%s)",
                delay,
                closed.text if closed else self._last_failure or "connect failed",
            )
            await asyncio.sleep(delay)

    def _next_delay(self, retry: Retry) -> float:
        """The wait before the next attempt: capped exponential backoff with
        full jitter.  The count of attempts starts again only after a session
        stayed online ``stable_after`` seconds, so a stanza or a server that
        ends every session at once cannot make a hot loop."""
        now = self._now()
        online_since = self.connected_at
        if online_since is not None and now - online_since >= self.config.stable_after:
            self._attempt = 0
            self._redirects = 0
        self.connected_at = None
        c = self.config
        if retry is Retry.SLOW:
            delay = backoff_delay(self._attempt, c.slow_base, c.slow_cap)
            delay = max(delay, min(c.slow_base, c.slow_cap) / 2)
        else:  # BACKOFF, and NOW (a restart or a redirect): from under a second up
            delay = backoff_delay(self._attempt, c.backoff_base, c.backoff_cap)
        self._attempt += 1
        return delay

    def _note_failure(self, text: str, exc: BaseException | None = None) -> None:
        """Log why an attempt failed: once while the cause stays the same."""
        self._final_error = text
        if text == self._last_failure:
            log.debug("%s", text)
            return
        self._last_failure = text
        unexpected = exc is not None and not isinstance(exc, OSError | ssl.SSLError)
        log.error("%s", text, exc_info=exc if unexpected else None)

    def _abort_attempt(self) -> None:
        """Clean up after an attempt that raised: no transport left open, the
        session disconnected (keeping what stream management may resume)."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            with contextlib.suppress(Exception):
                proto.transport.abort()
        if self.session.state is not State.DISCONNECTED:
            with contextlib.suppress(Exception):
                self.session.connection_lost(self._now())
            self.session.events()  # already said: the failure is logged by the caller
        self._online.clear()
        self._cancel_timer()

    async def _targets(self) -> list[Target]:
        c = self.config
        redirect = self._last_close.redirect if self._last_close else None
        if redirect:
            where = parse_redirect(redirect, c.port)
            if where is None:
                log.warning("ignoring the server's redirect to %r: not a host[:port]", redirect)
            elif self._redirects >= c.max_redirects:
                log.warning(
                    "ignoring the server's redirect to %r: %d redirects in a row",
                    redirect,
                    self._redirects,
                )
                self._redirects = 0
            else:
                self._redirects += 1
                log.info("following the server's redirect to %s:%d", *where)
                self._targets_from = "the server's redirect"
                return [Target(where[0], where[1], c.direct_tls)]
        if c.host:
            self._targets_from = "[server] host"
            return [Target(c.host, c.port, c.direct_tls)]
        resolver = self._resolver or Resolver(c.nameservers)
        targets = await xmpp_targets(c.jid.domain, resolver)
        if targets == [Target(c.jid.domain, 5222, False)]:
            self._targets_from = (
                f"no SRV record for _xmpp-client._tcp.{c.jid.domain}, so the JID's domain; "
                "set [server] host to the server's address if it is elsewhere"
            )
        else:
            self._targets_from = f"the SRV records of {c.jid.domain}"
        return targets

    def _ssl_context(self) -> ssl.SSLContext:
        c = self.config
        ctx = ssl.create_default_context(cafile=c.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if c.tls_max_version:
            ctx.maximum_version = {
                "TLSv1.2": ssl.TLSVersion.TLSv1_2,
                "TLSv1.3": ssl.TLSVersion.TLSv1_3,
            }[c.tls_max_version]
        if not c.verify_tls:
            log.warning(
                "TLS CERTIFICATE VERIFICATION IS OFF (server.verify_tls = false): "
                "anyone on the path can impersonate the server and read the password"
            )
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if c.client_cert:
            ctx.load_cert_chain(c.client_cert, c.client_key)
        return ctx

    async def _connect_and_wait(self) -> Closed | None:
        loop = asyncio.get_running_loop()
        try:
            targets = await self._targets()
        except Exception as exc:  # DNS trouble: retry later
            self._note_failure(f"cannot find the server for {self.config.jid.domain}: {exc}")
            return None
        if not targets:
            self._note_failure(f"{self.config.jid.domain} publishes no XMPP client service")
            return Closed(
                "host-unknown", "no XMPP service for the domain", Retry.SLOW, by_peer=True
            )
        self._last_close = None
        for target in targets:
            if self._stopping:
                return None
            proto = _Protocol(self, self.config.read_buffer)
            # one context per attempt, for direct TLS or for STARTTLS later
            # (loading the CA file is the costly part)
            try:
                ctx = self._tls_context = self._ssl_context()
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._note_failure(
                    f"cannot set up TLS from server.ca_file / client_cert / client_key: {exc}"
                )
                return None
            try:
                # certificates are always checked against the JID's domain
                # (also after a see-other-host redirect), never the target host
                _, _ = await asyncio.wait_for(
                    loop.create_connection(
                        lambda proto=proto: proto,
                        target.host,
                        target.port,
                        ssl=ctx if target.direct_tls else None,
                        server_hostname=self.config.jid.domain if target.direct_tls else None,
                    ),
                    self.config.connect_timeout,
                )
            except Exception as exc:  # refused, unreachable, TLS, or a bad name or port
                self._note_failure(
                    f"cannot connect to {target.host}:{target.port} ({self._targets_from}): "
                    f"{exc or type(exc).__name__}"
                )
                continue
            self._proto = proto
            self._set_socket_options(proto)
            done = loop.create_future()
            self._connection_done = done
            tls = None
            if target.direct_tls and proto.transport is not None:
                sslobj = proto.transport.get_extra_info("ssl_object")
                tls = tls_info(sslobj, bool(self.config.client_cert))
            log.info("connected to %s:%d%s", target.host, target.port, " (TLS)" if tls else "")
            self.session.connection_made(self._now(), tls)
            self._flush()
            result: Closed | None = await done
            tls_task = self._tls_task
            if tls_task is not None and not tls_task.done():
                # a failed handshake closes the socket first; let it say why
                await asyncio.wait([tls_task], timeout=2)
            return result
        return None

    def _set_socket_options(self, proto: _Protocol) -> None:
        if not self.config.tcp_keepalive or proto.transport is None:
            return
        sock = proto.transport.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            idle = max(60, int(self.config.keepalive))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)

    async def _wait_disconnected(self) -> None:
        while self.session.state is not State.DISCONNECTED:
            await asyncio.sleep(0.02)

    # ---------------------------------------------------------------- I/O callbacks
    def _on_data(self, proto: _Protocol) -> None:
        ring = proto.ring
        if proto is not self._proto or self.session.state is State.DISCONNECTED:
            ring.clear()
            return
        try:
            # the session reads the ring where the transport wrote it; what
            # it does not take (after a stream error or <proceed/>) is dropped
            while ring.readable and not self._disconnected():
                view = ring.peek()
                self.session.receive_data(view, self._now())
                ring.consume(len(view))
        except Exception as exc:
            # a bug in the session: its state cannot be trusted, so this
            # connection ends (and the loop reconnects); never out of here,
            # where asyncio would drop the connection without a word
            self._limited.log(
                ("session", type(exc)), logging.ERROR, "session failed on input", exc_info=exc
            )
            self._flush()
            self._drain_events()
            self._abort_connection(proto)
            return
        finally:
            ring.clear()
        self._flush()
        self._drain_events()

    def _disconnected(self) -> bool:
        return self.session.state is State.DISCONNECTED

    def _abort_connection(self, proto: _Protocol) -> None:
        if proto.transport is not None:
            proto.transport.abort()  # connection_lost follows

    def _on_lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is not self._proto:
            return
        if exc is not None:
            log.info("connection lost: %s", exc)
        self.session.connection_lost(self._now())
        self._drain_events()
        self._finish_connection(None)

    def _finish_connection(self, closed: Closed | None) -> None:
        self._online.clear()
        self._cancel_timer()
        done = getattr(self, "_connection_done", None)
        if done is not None and not done.done():
            done.set_result(closed or self._last_close)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        proto = self._proto
        if (
            data
            and proto is not None
            and proto.transport is not None
            and not proto.transport.is_closing()
        ):
            proto.transport.write(data)
        self._schedule_timer()

    def _schedule_timer(self) -> None:
        deadline = self.session.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-3:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.session.tick(self._now())
        except Exception as exc:
            self._limited.log(
                ("tick", type(exc)), logging.ERROR, "session timer failed", exc_info=exc
            )
            if self._proto is not None:
                self._abort_connection(self._proto)
        self._flush()
        self._drain_events()

    # ---------------------------------------------------------------- events
    def _drain_events(self) -> None:
        for ev in self.session.events():
            try:
                self._handle_event(ev)
            except Exception as exc:
                # one stanza or handler must not cost the others read with it,
                # nor the connection
                self._limited.log(
                    ("event", type(ev).__name__, type(exc)),
                    logging.ERROR,
                    "handling %s failed",
                    type(ev).__name__,
                    exc_info=exc,
                )

    def _handle_event(self, ev: object) -> None:
        if isinstance(ev, StanzaReceived):
            self._dispatch(ev.stanza)
            return
        if isinstance(ev, StartTLS):
            self._tls_task = self._spawn(self._start_tls())
        elif isinstance(ev, Online):
            self.jid = ev.jid
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
        elif isinstance(ev, Registered):
            log.info("registered account %s in-band", ev.username)
        elif isinstance(ev, ScramKeysUpdated):
            self._save_keys(ev)
        elif isinstance(ev, PasswordChanged | PasswordChangeFailed):
            waiter = self._pw_waiter
            if isinstance(ev, PasswordChanged):
                log.info("password changed in-band")
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif waiter is not None and not waiter.done():
                waiter.set_exception(
                    ConnectionFailed(ev.text)
                    if ev.condition == "connection-lost"
                    else PasswordChangeRefused(ev.condition, ev.text)
                )
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
        for fut, _ in self._iq_waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionFailed(ev.text))

    async def _start_tls(self) -> None:
        loop = asyncio.get_running_loop()
        proto = self._proto
        assert proto is not None and proto.transport is not None
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(
                    proto.transport,
                    proto,
                    self._tls_context or self._ssl_context(),
                    server_hostname=self.config.jid.domain,
                ),
                self.config.connect_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.error("TLS with %s failed: %s", self.config.jid.domain, exc or type(exc).__name__)
            self._tls_error = (
                f"TLS with {self.config.jid.domain} failed: {exc or type(exc).__name__}"
            )
            if proto.transport is not None:
                proto.transport.abort()
            # a handshake that failed (or timed out) leaves the transport with
            # asyncio's TLS protocol, which does not tell ours it was lost:
            # without this the loop would wait for this connection forever
            self._on_lost(proto, None)
            return
        if transport is None:
            return
        proto.transport = transport
        sslobj = transport.get_extra_info("ssl_object")
        self.session.tls_started(tls_info(sslobj, bool(self.config.client_cert)), self._now())
        self._flush()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handler failed", exc_info=task.exception())

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
                self._limited.log(
                    ("handler", tag, type(exc)),
                    logging.ERROR,
                    "a %s handler failed on a stanza from %s",
                    tag.split("}")[-1],
                    _loggable(stanza.get("from")),
                    exc_info=exc,
                )
                continue
            if asyncio.iscoroutine(result):
                self._spawn(result)

    def _dispatch_iq(self, iq: Element) -> None:
        kind = iq.get("type")
        iq_id = iq.get("id") or ""
        if kind in ("result", "error"):
            waiter = self._iq_waiters.get(iq_id)
            if waiter is None:
                log.debug("IQ %s with unknown id %r ignored", kind, iq_id)
                return
            fut, expected = waiter
            if not self._sender_matches(iq.get("from"), expected):
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
            return
        if kind not in ("get", "set"):
            return
        payload = next(iter(iq), None)
        handler = self._iq_handlers.get((kind, payload.tag)) if payload is not None else None
        if handler is None:
            self._reply_error(iq, "cancel", "service-unavailable")
            return
        self._spawn(self._run_iq_handler(handler, iq))

    async def _run_iq_handler(self, handler: IQHandler, iq: Element) -> None:
        try:
            result = handler(iq)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
        except StanzaError as exc:
            self._reply_error(iq, exc.etype, exc.condition, exc.text)
            return
        except QueueFull:
            self._queue_full("IQ result", iq)
            return
        except Exception as exc:
            self._limited.log(
                ("iq-handler", type(exc)),
                logging.ERROR,
                "IQ handler for %s failed",
                _loggable(iq.get("from")),
                exc_info=exc,
            )
            self._reply_error(iq, "wait", "internal-server-error")
            return
        reply = E(
            "{jabber:client}iq", {"type": "result", "id": iq.get("id") or "", "to": iq.get("from")}
        )
        if isinstance(result, ET.Element):
            if result.tag == "{jabber:client}iq":
                reply = result
            else:
                reply.append(result)
        try:
            self.send(reply)
        except QueueFull:
            self._queue_full("IQ result", iq)
        except Exception as exc:
            # a result that cannot be serialized must still get an answer
            self._limited.log(
                ("iq-answer", type(exc)),
                logging.ERROR,
                "the answer to %s's IQ could not be sent",
                _loggable(iq.get("from")),
                exc_info=exc,
            )
            self._reply_error(iq, "wait", "internal-server-error")

    def _reply_error(self, iq: Element, etype: str, condition: str, text: str = "") -> None:
        """Answer an IQ with an error.  Errors may fill only half of the
        outbound queue: under a flood (from anyone: a stranger's IQs all get
        errors) they are dropped first, and the rest of the queue stays for
        what controllers asked.  Never raises."""
        if self.session.queued >= self.config.max_unacked // 2:
            self._queue_full("error reply", iq)
            return
        reply = E(
            "{jabber:client}iq", {"type": "error", "id": iq.get("id") or "", "to": iq.get("from")}
        )
        err = sub(reply, "{jabber:client}error", {"type": etype})
        sub(err, f"{{{ns.STANZAS_ERR}}}{condition}")
        if text:
            sub(err, f"{{{ns.STANZAS_ERR}}}text", text=text)
        try:
            self.send(reply)
        except QueueFull:
            self._queue_full("error reply", iq)
        except Exception as exc:
            self._limited.log(
                ("error-reply", type(exc)), logging.ERROR, "an error reply failed", exc_info=exc
            )

    def _queue_full(self, what: str, stanza: Element) -> None:
        self._limited.log(
            ("queue-full", what),
            logging.WARNING,
            "outbound queue full (%d of %d stanzas wait to be sent or acknowledged): "
            "dropping a %s to %s",
            self.session.queued,
            self.config.max_unacked,
            what,
            _loggable(stanza.get("from")),
        )

    def _sender_matches(self, sender: str | None, expected: JID | None) -> bool:
        own = self.jid or self.config.jid
        if expected is None or expected == own.bare:
            # sent to our server or our own account: the answer comes from it
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


def _loggable(value: str | None, limit: int = 120) -> str:
    """A peer-supplied value for a log line: cut, with control characters
    escaped (a line break in a JID must not forge a log line)."""
    if value is None:
        return "(none)"
    text = escape_controls(value[:limit])
    return text + ("..." if len(value) > limit else "")


def stanza_error(stanza: Element) -> tuple[str, str]:
    """(condition, text) of a stanza's <error/>."""
    err = stanza.find("{jabber:client}error")
    if err is None:
        return "undefined-condition", ""
    cond = "undefined-condition"
    text = ""
    for child in err:
        if child.tag == f"{{{ns.STANZAS_ERR}}}text":
            text = child.text or ""
        elif child.tag.startswith(f"{{{ns.STANZAS_ERR}}}"):
            cond = child.tag.split("}", 1)[1]
    return cond, text


def stanza_error_type(stanza: Element) -> str:
    err = stanza.find("{jabber:client}error")
    return (err.get("type") if err is not None else None) or "cancel"

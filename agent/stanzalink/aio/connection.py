"""Keeping the session connected: the connection loop (targets, connect,
direct TLS or STARTTLS, reconnect with backoff), the socket's callbacks
into the sans-IO :class:`~stanzalink.session.core.Session`, its output and
its timers.  :class:`~stanzalink.aio.client.Client` is this plus the
application's API; the events the session emits go to its
``_handle_event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from stanzalink.aio import tcp
from stanzalink.aio.config import ClientConfig
from stanzalink.aio.reconnect import Reconnect
from stanzalink.aio.targets import Target
from stanzalink.aio.tls import ending_in_words, server_name, ssl_context, tls_info
from stanzalink.aio.transport import Receiver, ack_tls_reads, shrink_tls_buffer
from stanzalink.ratelog import RateLimitedLog
from stanzalink.session.core import Session, State
from stanzalink.session.events import Closed, Retry

if TYPE_CHECKING:
    from stanzalink.aio.dns import Resolver

__all__ = ["Connection", "keepalive_options"]

log = logging.getLogger("stanzalink.aio.client")  # the client's log lines keep one name

MAX_FAILURES_SAID = 32  # distinct causes remembered as said (then said again)


def keepalive_options(c: ClientConfig) -> list[tuple[int, int, int]]:
    """The socket options of the kernel's TCP keepalive (see aio.config):
    whole seconds, as the kernel counts them (at least 1, at most its
    32767), and a user timeout as long as the keepalive's whole bound so
    that data the server never acknowledges is given up as soon."""
    idle = min(32767, max(1, math.ceil(c.tcp_keepalive_idle)))
    interval = min(32767, max(1, math.ceil(c.tcp_keepalive_interval)))
    count = min(127, max(1, int(c.tcp_keepalive_count)))
    opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", (idle + interval * count) * 1000),
    ):
        option = getattr(socket, name, None)  # Linux has them all
        if option is not None:
            opts.append((socket.IPPROTO_TCP, option, value))
    return opts


class Connection:
    """The I/O half of the client (see the module's docstring)."""

    def __init__(self, config: ClientConfig, resolver: Resolver | None = None) -> None:
        self.config = config
        if config.scram_keys_file and not config.scram_keys:
            from stanzalink.session import keystore  # only with a keys file: tempfile is heavy

            config.scram_keys.update(keystore.load(config.scram_keys_file, str(config.jid.bare)))
        self.session = Session(config, parser_backend=config.parser_backend)
        self._proto: Receiver | None = None
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
        self._connection_done: asyncio.Future[Closed | None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reconnect = Reconnect(config, resolver)
        self._last_close: Closed | None = None
        self._target: Target | None = None  # the candidate connected to
        self._last_failure: str | None = None
        self._failures_said: set[str] = set()  # since the last session online
        self._limited = RateLimitedLog(log)
        self.crashed: BaseException | None = None  # what ended the connection loop, if not close()
        self.connected_at: float | None = None
        # called after every read, timer and flush of this connection: what
        # else must happen on a wake-up rides it (the service manager's
        # watchdog ping) instead of waking the process on its own
        self.on_wake: Callable[[], None] | None = None

    def _handle_event(self, ev: object) -> None:
        """One event from the session (the client's business)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Connect in the background and keep connected until close()."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="stanzalink-connection"
            )

    def _deferred_flush(self) -> None:
        self._flush_soon = None
        self._flush()

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
        if self.connected_at is not None:  # that one came online: say failures again
            self._failures_said.clear()
        delay = self._reconnect.next_delay(retry, self._now(), self.connected_at)
        self.connected_at = None
        return delay

    def _note_failure(
        self, text: str, exc: BaseException | None = None, cause: str | None = None
    ) -> None:
        """Log why an attempt failed: each cause (``cause``, else ``text``)
        once until a session comes online, however often it is tried and
        whichever failover candidate it alternates with."""
        self._final_error = text
        self._last_failure = text
        cause = text if cause is None else cause
        if cause in self._failures_said:
            log.debug("%s", text)
            return
        if len(self._failures_said) >= MAX_FAILURES_SAID:
            self._failures_said.clear()
        self._failures_said.add(cause)
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

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl_context(self.config)

    async def _connect_and_wait(self) -> Closed | None:
        loop = asyncio.get_running_loop()
        try:
            targets = await self._reconnect.targets(self._last_close)
        except Exception as exc:  # DNS trouble: retry later
            self._note_failure(f"cannot find the server for {self.config.jid.domain}: {exc}")
            return None
        if not targets:
            self._note_failure(f"{self.config.jid.domain} publishes no XMPP client service")
            return Closed(
                "host-unknown", "no XMPP service for the domain", Retry.SLOW, by_peer=True
            )
        self._last_close = None
        for n, target in enumerate(targets, 1):
            if self._stopping:
                return None
            proto = Receiver(self.config.read_buffer, self._on_data, self._on_lost)
            # one context per attempt, for direct TLS or for STARTTLS later
            # (loading the CA file is the costly part)
            try:
                ctx = self._tls_context = self._ssl_context()
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._note_failure(
                    f"cannot set up TLS from server.ca_file / client_cert / client_key: {exc}"
                )
                return None
            # ssl takes the name as bytes too (see server_name); typeshed says str
            sni = cast(str, server_name(self.config.jid.domain))
            try:
                # certificates are always checked against the JID's domain
                # (also after a see-other-host redirect), never the target host
                await asyncio.wait_for(
                    self._open(proto, target, ctx if target.direct_tls else None, sni),
                    self.config.connect_timeout,
                )
            except Exception as exc:  # refused, unreachable, TLS, or a bad name or port
                where = self._reconnect.targets_from
                if len(targets) > 1:
                    where = f"{where}, {n} of {len(targets)}"
                self._reconnect.failed(target)
                why = str(exc) or type(exc).__name__  # a timeout says nothing itself
                self._note_failure(
                    f"cannot connect to {target} ({where}): {why}",
                    cause=f"{target}: {why}",
                )
                continue
            self._proto = proto
            self._target = target
            self._set_socket_options(proto)
            done = loop.create_future()
            self._connection_done = done
            tls = None
            if target.direct_tls and proto.transport is not None:
                shrink_tls_buffer(proto.transport)
                ack_tls_reads(proto.transport, proto)
                sslobj = proto.transport.get_extra_info("ssl_object")
                tls = tls_info(sslobj, bool(self.config.client_cert))
            log.info("connected to %s%s", target, " (TLS)" if tls else "")
            self.session.connection_made(self._now(), tls)
            self._flush()
            result: Closed | None = await done
            tls_task = self._tls_task
            if tls_task is not None and not tls_task.done():
                # a failed handshake closes the socket first; let it say why
                await asyncio.wait([tls_task], timeout=2)
            if not self._stopping:
                # whatever ended it (TLS, a stream error, a timeout, a dead
                # link), the next attempt starts with the next candidate
                self._reconnect.failed(target)
                if len(targets) > 1:
                    log.info(
                        "%s (%s, %d of %d) ended: %s",
                        target,
                        self._reconnect.targets_from,
                        n,
                        len(targets),
                        self._tls_error or (result.text if result else "connection lost"),
                    )
            return result
        return None

    async def _open(
        self, proto: Receiver, target: Target, ctx: ssl.SSLContext | None, sni: str
    ) -> None:
        """The TCP connection to ``target`` (the name looked up in a thread
        that ends with it, see aio.tcp), then its transport, direct TLS
        handshake included when ``ctx`` is given; cancelled (the connect
        timeout), nothing is left open."""
        sock = await tcp.connect(target.host, target.port)
        handed = False

        def factory() -> Receiver:
            nonlocal handed
            handed = True  # asyncio asks just before a transport takes the socket
            return proto

        try:
            await asyncio.get_running_loop().create_connection(
                factory, sock=sock, ssl=ctx, server_hostname=sni if ctx else None
            )
        except BaseException:
            # a transport that took the socket closes it (not twice: its file
            # descriptor may be another socket's by then)
            if not handed:
                sock.close()
            raise

    def _set_socket_options(self, proto: Receiver) -> None:
        if not self.config.tcp_keepalive or proto.transport is None:
            return
        sock = proto.transport.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            for level, option, value in keepalive_options(self.config):
                sock.setsockopt(level, option, value)

    async def _wait_disconnected(self) -> None:
        while self.session.state is not State.DISCONNECTED:
            await asyncio.sleep(0.02)

    # ---------------------------------------------------------------- I/O callbacks
    def _on_data(self, proto: Receiver) -> None:
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

    def _abort_connection(self, proto: Receiver) -> None:
        if proto.transport is not None:
            proto.transport.abort()  # connection_lost follows

    def _on_lost(self, proto: Receiver, exc: Exception | None) -> None:
        if proto is not self._proto:
            return
        if exc is not None:
            words, noise = ending_in_words(exc)
            log.log(logging.DEBUG if noise else logging.INFO, "connection lost: %s", words)
        self.session.connection_lost(self._now())
        self._drain_events()
        self._finish_connection(None)

    def _finish_connection(self, closed: Closed | None) -> None:
        self._online.clear()
        self._cancel_timer()
        done = self._connection_done
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
        if self.on_wake is not None:
            self.on_wake()

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
                    server_hostname=cast(str, server_name(self.config.jid.domain)),
                ),
                self.config.connect_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            at = f" at {self._target}" if self._target is not None else ""
            self._tls_error = (
                f"TLS with {self.config.jid.domain}{at} failed: {str(exc) or type(exc).__name__}"
            )
            log.error("%s", self._tls_error)
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
        shrink_tls_buffer(transport)
        # what the TLS layer reads from now on is acknowledged at once; what
        # it read since the handshake ended (session tickets) is, here
        ack_tls_reads(transport, proto)
        proto.ack_now()
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

"""The service manager's notify protocol (``sd_notify(3)``), spoken directly.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` in its
environment: a datagram Unix socket (a path, or an abstract name written
with a leading ``@``).  The service sends newline-separated ``KEY=VALUE``
lines to it: ``READY=1`` once it is up, ``STATUS=...`` for
``systemctl status``, ``STOPPING=1`` when it begins a requested stop, and,
when the unit sets ``WatchdogSec=``, ``WATCHDOG=1`` at least every
``WATCHDOG_USEC`` microseconds, or systemd kills and restarts it.

The agent sends ``WATCHDOG=1`` from its own event loop: a loop that is
wedged (a callback that never returns, a blocking call) stops the pings, and
systemd restarts the agent.  The pings ride the connection's own wake-ups
(a read, the keepalive timer, a flush: :meth:`Notifier.alive`), at most one
every ``WATCHDOG_USEC / 64``, so that an idle device wakes no more often
than its keepalive asks.  A timer of its own is the fallback, due
``WATCHDOG_USEC / 2`` after the last ping (what ``sd_watchdog_enabled(3)``
advises) while the agent is offline or its keepalive is too long for the
watchdog; while online with a keepalive that fits
(``keepalive + WATCHDOG_USEC / 64 < 7/8 WATCHDOG_USEC``) it is due at 7/8 of
the timeout instead, after the keepalive's wake-up, which pings and pushes
it back: an idle agent then has no wake-up of the watchdog's own.  The cost
is the detection time: a wedged agent is restarted ``WatchdogSec`` after
its last ping, and the unit sets that just above the keepalive interval
(packaging/stanzalink.service).

Only ``stanzalink run`` notifies (one agent, one process).  A
:class:`Notifier` is an object, not module state: ``stanzalink simulate``
runs many agents in one process, and none of them speaks for the process.
Without ``NOTIFY_SOCKET`` there is no notifier at all, and no timer.

A failed send is logged once and never raised: the agent keeps serving its
users whatever the service manager does with the socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
STATUS_MAX = 200  # characters of a STATUS= line


def _address(name: str) -> str | None:
    """The socket address for a ``NOTIFY_SOCKET`` value, or None when it is
    not one this module speaks (systemd also knows ``vsock:`` addresses)."""
    if name.startswith("/"):
        return name
    if name.startswith("@") and len(name) > 1:
        return "\0" + name[1:]  # the abstract namespace
    return None


def watchdog_usec(environ: MutableMapping[str, str], pid: int) -> int | None:
    """``WATCHDOG_USEC`` when the watchdog is on and meant for process
    ``pid`` (``WATCHDOG_PID``, when set, names the process it is for)."""
    usec = _number(environ.get("WATCHDOG_USEC", ""))
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and _number(owner) != pid:
        return None
    return usec


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


class Notifier:
    """One notify socket.  ``address``: the ``NOTIFY_SOCKET`` value;
    ``watchdog_usec``: the watchdog timeout, None when it is off."""

    def __init__(self, address: str, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._target = _address(address)
        self._sock: socket.socket | None = None
        self._failed = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_ping = 0.0
        self._keepalive: float | None = None  # the online connection's, else None

    @classmethod
    def from_environ(
        cls,
        environ: MutableMapping[str, str] | None = None,
        *,
        unset: bool = False,
        pid: int | None = None,
    ) -> Notifier | None:
        """The notifier the service manager asked for, or None.  With
        ``unset``, the variables leave ``environ`` so that the processes the
        agent starts (console commands) do not speak for it."""
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        usec = watchdog_usec(env, os.getpid() if pid is None else pid)
        if unset:
            for key in ENV_KEYS:
                env.pop(key, None)
        return cls(name, usec) if name else None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two ``WATCHDOG=1``: half the timeout, as
        ``sd_watchdog_enabled(3)`` advises."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def send(self, *lines: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; False when it could not
        be sent (said once in the log, not raised)."""
        if self._target is None:
            self._fail(f"NOTIFY_SOCKET {self.address!r} is not a Unix socket address")
            return False
        data = "\n".join(line.replace("\n", " ") for line in lines).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # not inherited
                # a manager that does not read must not block the event loop
                self._sock.setblocking(False)
            self._sock.sendto(data, self._target)
        except OSError as exc:
            self._fail(f"cannot notify the service manager at {self.address}: {exc}")
            return False
        return True

    def _fail(self, text: str) -> None:
        if not self._failed:
            self._failed = True
            log.warning("%s (not said again)", text)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        # one line of `systemctl status`; the text may come from a peer
        # (a stream error's text): bounded
        self.send(f"STATUS={text[:STATUS_MAX]}")

    def stopping(self, status: str | None = None) -> None:
        self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    # ------------------------------------------------------------ watchdog
    @property
    def min_gap(self) -> float | None:
        """Seconds at least between two pings that ride wake-ups."""
        return self.watchdog_usec / 64e6 if self.watchdog_usec else None

    @property
    def riding(self) -> bool:
        """Whether an idle connection's keepalive wake-ups ping often enough
        that the fallback timer never fires (see the module's docstring)."""
        if not self.watchdog_usec or self._keepalive is None:
            return False
        timeout = self.watchdog_usec / 1e6
        return self._keepalive + timeout / 64 < timeout * 7 / 8

    def fallback_delay(self) -> float | None:
        """Seconds from the last ping to the fallback timer's."""
        if not self.watchdog_usec:
            return None
        return self.watchdog_usec / 1e6 * (7 / 8 if self.riding else 1 / 2)

    def start_watchdog(self) -> None:
        """Ping now, then on the connection's wake-ups (:meth:`alive`) and
        from the fallback timer; nothing when the watchdog is off."""
        if self.watchdog_interval is None or self._timer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._ping()

    def _ping(self) -> None:
        assert self._loop is not None
        self.send("WATCHDOG=1")
        self._last_ping = self._loop.time()
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        delay = self.fallback_delay()
        assert delay is not None
        if self._timer is not None:
            self._timer.cancel()  # a cancelled timer wakes no one
        self._timer = self._loop.call_at(self._last_ping + delay, self._ping)

    def alive(self) -> None:
        """The agent's connection woke (a read, a timer, a flush): ping if
        the last ping is :attr:`min_gap` old, and push the fallback back."""
        if self._timer is None or self._loop is None:
            return
        gap = self.min_gap
        if gap is not None and self._loop.time() - self._last_ping >= gap:
            self._ping()

    def ride(self, keepalive: float | None) -> None:
        """The connection's keepalive interval while it is online, None
        while it is not: decides the fallback timer's delay."""
        if keepalive == self._keepalive:
            return
        self._keepalive = keepalive
        if self._timer is not None:
            self._arm()

    def stop_watchdog(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.stop_watchdog()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

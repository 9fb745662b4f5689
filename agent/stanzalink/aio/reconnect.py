"""When and where the client connects next: capped exponential backoff
with full jitter, see-other-host redirects, [server] hosts, host or SRV."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from stanzalink.aio.config import ClientConfig
from stanzalink.aio.targets import MAX_REMEMBERED, Target
from stanzalink.session.events import Closed, Retry

if TYPE_CHECKING:
    from stanzalink.aio.dns import Resolver

__all__ = ["Reconnect", "backoff_delay", "configured_server", "parse_redirect", "uniform"]

log = logging.getLogger("stanzalink.aio.client")  # the client's log lines keep one name


def uniform(low: float, high: float) -> float:
    """A uniformly random float in [low, high] from the OS (no random module
    to import on a small device)."""
    return low + (high - low) * int.from_bytes(os.urandom(7), "big") / (2**56 - 1)


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[float, float], float] = uniform
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base*2^n)]."""
    return rand(0, min(cap, base * (2 ** min(attempt, 30))))


def configured_server(c: ClientConfig) -> str:
    """Where the configuration says the server is, for the start line."""
    if c.hosts:
        listed = ", ".join(str(Target(host, port, c.direct_tls)) for host, port in c.hosts)
        return f"{listed} ([server] hosts)"
    if c.host:
        return f"{Target(c.host, c.port, c.direct_tls)} ([server] host)"
    return f"found by SRV lookup of {c.jid.domain} (no [server] host)"


def parse_redirect(text: str, default_port: int) -> tuple[str, int] | None:
    """A see-other-host target (RFC 6120 §4.9.3.19: a domain name, an IPv4
    address or a bracketed IPv6 address, each with an optional port) as
    (host, port), or None when it is not one."""
    from stanzalink.aio.hostport import parse_host_port  # loaded only for a redirect

    return parse_host_port(text, default_port)


class Reconnect:
    """The attempt and redirect counts across connections, the wait before
    the next attempt, and the targets to try."""

    def __init__(
        self,
        config: ClientConfig,
        resolver: Resolver | None = None,
        rand: Callable[[float, float], float] = uniform,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.rand = rand  # the random draw of the waits (a test gives its own)
        self.attempt = 0
        self.redirects = 0  # consecutive redirects followed
        self.targets_from = ""  # where the last targets came from, for the log
        # failover: when each candidate last failed (a count of failures, not
        # a time), so the next attempt starts with the one that failed longest
        # ago, or never; a connection's end counts, whatever its stage
        self._failed: dict[Target, int] = {}
        self._failures = 0

    def failed(self, target: Target) -> None:
        """``target`` failed: refused, TLS, a stream error, a timeout, a dead
        link (any end of a connection but the application's close).  The
        next attempt starts with another candidate, if there is one."""
        self._failures += 1
        if len(self._failed) >= MAX_REMEMBERED and target not in self._failed:
            self._failed.clear()
        self._failed[target] = self._failures

    def in_failover_order(self, targets: list[Target]) -> list[Target]:
        """``targets`` in the order to try: those that never failed first, in
        the order given (RFC 2782's, or [server] hosts'), then those that
        failed, the one that failed longest ago first."""
        return sorted(targets, key=lambda t: self._failed.get(t, 0))

    def next_delay(self, retry: Retry, now: float, online_since: float | None) -> float:
        """The wait before the next attempt: capped exponential backoff with
        full jitter; after a lost link that had been established
        (``online_since`` given), at random under ``reconnect_spread`` first.
        The count of attempts starts again only after a session stayed
        online ``stable_after`` seconds, so a stanza or a server that ends
        every session at once cannot make a hot loop."""
        c = self.config
        if online_since is not None and now - online_since >= c.stable_after:
            self.attempt = 0
            self.redirects = 0
        if retry is Retry.SLOW:
            delay = backoff_delay(self.attempt, c.slow_base, c.slow_cap, self.rand)
            delay = max(delay, min(c.slow_base, c.slow_cap) / 2)
        elif online_since is not None:
            # a lost link that had been established: its server's other
            # devices lost theirs too, maybe (a node died or shut down), so
            # the first attempt is spread over reconnect_spread, and the
            # later ones never under it (reconnect_max caps them all)
            ceiling = min(c.backoff_cap, c.backoff_base * 2 ** min(self.attempt, 30))
            spread = min(c.reconnect_spread, c.backoff_cap)
            delay = self.rand(0, spread if self.attempt == 0 else max(spread, ceiling))
        else:  # BACKOFF, and NOW (a restart or a redirect): from under a second up
            delay = backoff_delay(self.attempt, c.backoff_base, c.backoff_cap, self.rand)
        self.attempt += 1
        return delay

    async def targets(self, last_close: Closed | None) -> list[Target]:
        c = self.config
        redirect = last_close.redirect if last_close else None
        if redirect:
            where = parse_redirect(redirect, c.port)
            if where is None:
                log.warning("ignoring the server's redirect to %r: not a host[:port]", redirect)
            elif self.redirects >= c.max_redirects:
                log.warning(
                    "ignoring the server's redirect to %r: %d redirects in a row",
                    redirect,
                    self.redirects,
                )
                self.redirects = 0
            else:
                self.redirects += 1
                log.info("following the server's redirect to %s:%d", *where)
                self.targets_from = "the server's redirect"
                return [Target(where[0], where[1], c.direct_tls)]
        if c.hosts:
            self.targets_from = "[server] hosts"
            from stanzalink.aio.hostport import host_key  # loaded only for [server] hosts

            # a host given twice (check-config refuses it) is tried once a round
            unique: dict[tuple[str, int], Target] = {}
            for host, port in c.hosts:
                unique.setdefault((host_key(host), port), Target(host, port, c.direct_tls))
            return self.in_failover_order(list(unique.values()))
        if c.host:
            self.targets_from = "[server] host"
            return [Target(c.host, c.port, c.direct_tls)]
        # the resolver is loaded only for a device that looks its server up
        from stanzalink.aio.dns import Resolver, xmpp_targets

        resolver = self.resolver or Resolver(c.nameservers)
        targets = await xmpp_targets(c.jid.domain, resolver)
        if targets == [Target(c.jid.domain, 5222, False)]:
            self.targets_from = (
                f"no SRV record for _xmpp-client._tcp.{c.jid.domain}, so the JID's domain; "
                "set [server] host to the server's address if it is elsewhere"
            )
        else:
            self.targets_from = f"the SRV records of {c.jid.domain}"
        return self.in_failover_order(targets)

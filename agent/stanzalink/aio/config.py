"""The client's settings: the session's (:class:`SessionConfig`, declared
there once and passed through by name) and the connection's, declared here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stanzalink.jid import JID
from stanzalink.session.core import SessionConfig

__all__ = [
    "RECONNECT_MAX",
    "RECONNECT_SPREAD",
    "REFUSED_FACTOR",
    "TCP_KEEPALIVE_COUNT",
    "TCP_KEEPALIVE_IDLE",
    "TCP_KEEPALIVE_INTERVAL",
    "ClientConfig",
    "parse_hosts",  # noqa: F822 (from __getattr__ below)
]

# [connection] reconnect_max: the longest wait between attempts.  A device
# whose server was down is back at most this long after the server returns
# (half of it on average, the waits being drawn at random under it), and N
# devices spread their reconnects over it (N / 60 handshakes a second).
RECONNECT_MAX = 60.0
# [connection] reconnect_spread: the first attempt after a lost link that had
# been established (a session online) waits a random time under this, so the
# devices of a node that died or shut down come to the survivors at N / 5
# handshakes a second, not all in the same second; later attempts back off
# as usual (full jitter under a ceiling that doubles up to reconnect_max,
# never under this one).  0: the first attempt at once.
RECONNECT_SPREAD = 5.0
# the longest wait after a refusal (not-authorized, conflict...), as a multiple
# of reconnect_max (300 s by default): a wrong password is not tried more often
REFUSED_FACTOR = 5.0
# The kernel's TCP keepalive (SO_KEEPALIVE): after tcp_keepalive_idle seconds
# without a segment from the server it sends an empty probe (one TCP segment
# each way, no TLS record) every tcp_keepalive_interval seconds, and drops the
# connection after tcp_keepalive_count unanswered ones.  A dead path is so
# noticed within idle + interval x count seconds (300 + 30 x 4 = 420, under 2
# x idle); data left unacknowledged times out after as long (TCP_USER_TIMEOUT).
# The idle interval is also what keeps a NAT's mapping alive.
TCP_KEEPALIVE_IDLE = 300  # [connection] tcp_keepalive_idle
TCP_KEEPALIVE_INTERVAL = 30  # [connection] tcp_keepalive_interval
TCP_KEEPALIVE_COUNT = 4  # [connection] tcp_keepalive_count


class ClientConfig(SessionConfig):
    """The session's settings (see SessionConfig: ``jid``, ``password``,
    ``keepalive``...; positional or by name, as there) and the connection's
    (keywords only)."""

    def __init__(
        self,
        jid: JID,
        *session_args: Any,
        host: str | None = None,  # None: SRV lookup on the JID's domain
        port: int = 5222,
        # failover candidates "host[:port]" (port default: port), instead of host
        hosts: Sequence[str] | None = None,
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
        backoff_cap: float = RECONNECT_MAX,
        reconnect_spread: float = RECONNECT_SPREAD,
        slow_base: float = 60.0,  # the first wait after a refusal (login, conflict)
        slow_cap: float | None = None,  # None: REFUSED_FACTOR x backoff_cap
        stable_after: float = 60.0,  # online this long: the backoff starts again from 0
        max_redirects: int = 3,  # consecutive see-other-host redirects followed
        tcp_keepalive: bool = True,
        tcp_keepalive_idle: float = TCP_KEEPALIVE_IDLE,  # whole seconds (the kernel's unit)
        tcp_keepalive_interval: float = TCP_KEEPALIVE_INTERVAL,
        tcp_keepalive_count: int = TCP_KEEPALIVE_COUNT,
        read_buffer: int = 65536,  # the receive ring's capacity, bytes
        nameservers: list[tuple[str, int]] | None = None,
        iq_timeout: float = 60.0,
        parser_backend: str | None = None,
        extra: dict[str, Any] | None = None,
        **session_kwargs: Any,
    ) -> None:
        super().__init__(jid, *session_args, **session_kwargs)
        self.host = host
        self.port = port
        self.hosts: list[tuple[str, int]] | None = None
        if hosts:
            from stanzalink.aio.hostport import parse_hosts  # loaded only for [server] hosts

            self.hosts = parse_hosts(hosts, port)
        if self.hosts and host:
            raise ValueError("give host or hosts, not both")
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
        self.reconnect_spread = reconnect_spread
        self.slow_base = slow_base
        self.slow_cap = REFUSED_FACTOR * backoff_cap if slow_cap is None else slow_cap
        self.stable_after = stable_after
        self.max_redirects = max_redirects
        self.tcp_keepalive = tcp_keepalive
        self.tcp_keepalive_idle = tcp_keepalive_idle
        self.tcp_keepalive_interval = tcp_keepalive_interval
        self.tcp_keepalive_count = tcp_keepalive_count
        self.read_buffer = read_buffer
        self.nameservers = nameservers
        self.iq_timeout = iq_timeout
        self.parser_backend = parser_backend
        self.extra: dict[str, Any] = {} if extra is None else extra


def __getattr__(name: str) -> Any:
    # importable from here as before; aio.hostport loads when it is asked for
    if name == "parse_hosts":
        from stanzalink.aio.hostport import parse_hosts

        return parse_hosts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

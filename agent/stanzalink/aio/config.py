"""The client's settings: the session's (:class:`SessionConfig`, declared
there once and passed through by name) and the connection's, declared here."""

from __future__ import annotations

from typing import Any

from stanzalink.jid import JID
from stanzalink.session.core import SessionConfig

__all__ = ["RECONNECT_MAX", "ClientConfig"]

RECONNECT_MAX = 300.0  # [connection] reconnect_max: the longest wait between attempts


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
        slow_base: float = 60.0,  # the first wait after a refusal (login, conflict)
        slow_cap: float | None = None,  # None: backoff_cap
        stable_after: float = 60.0,  # online this long: the backoff starts again from 0
        max_redirects: int = 3,  # consecutive see-other-host redirects followed
        tcp_keepalive: bool = True,
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

"""Where to connect: a :class:`Target` (host, port, direct TLS).  Apart
from :mod:`stanzalink.aio.dns`, so that a device given its server's
address never loads the SRV resolver, and from
:mod:`stanzalink.aio.hostport` (the reading of ``host[:port]``), so that
one given a single host never loads that."""

from __future__ import annotations

from stanzalink._value import Value, _set

# failed candidates the reconnect remembers (a bound: SRV answers vary), and
# so the most entries [server] hosts may list
MAX_REMEMBERED = 64


class Target(Value):
    """One place to try: host, port, and whether TLS starts at once (XEP-0368)."""

    __slots__ = ("direct_tls", "host", "port")

    host: str
    port: int
    direct_tls: bool

    def __init__(self, host: str, port: int, direct_tls: bool) -> None:
        _set(self, "host", host)
        _set(self, "port", port)
        _set(self, "direct_tls", direct_tls)

    def __str__(self) -> str:
        """host:port, an IPv6 address in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

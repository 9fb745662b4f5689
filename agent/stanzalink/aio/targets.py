"""Where to connect: a :class:`Target` (host, port, direct TLS) and the
reading of ``host[:port]`` as ``[server] hosts`` entries and see-other-host
redirects give it.  Apart from :mod:`stanzalink.aio.dns`, so that a device
given its server's address never loads the SRV resolver."""

from __future__ import annotations

from stanzalink._value import Value, _set


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


def parse_host_port(text: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` as (host, port), or None when it is not one: a domain
    name, an IPv4 address or a bracketed IPv6 address (``[::1]:5222``), each
    with an optional port (``default_port`` when absent).  The form of
    ``[server] hosts`` entries and of see-other-host redirects (RFC 6120
    §4.9.3.19)."""
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
                # a name IDNA maps to another (a soft hyphen dropped, fullwidth
                # letters made ASCII) would be shown as one host and reach another
                unicode_label = ascii_label.encode("ascii").decode("idna")
            except UnicodeError:
                return None
            if label.lower() not in (ascii_label.lower(), unicode_label.lower()):
                return None
            if not all(ch.isalnum() or ch == "-" for ch in ascii_label):
                return None
        if labels[-1].isdigit():  # no top-level domain is all digits (RFC 3696)
            try:
                ipaddress.IPv4Address(host.rstrip("."))
            except ValueError:
                return None
    port = default_port
    if port_text or text.endswith(":"):
        if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
            return None
        port = int(port_text)
    if not 0 < port < 65536:
        return None
    return host, port


def host_key(host: str) -> str:
    """``host`` as a name to compare: DNS names without case or a final
    dot, IP addresses in one form (``0:0::1`` is ``::1``)."""
    import ipaddress

    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.rstrip(".").lower()

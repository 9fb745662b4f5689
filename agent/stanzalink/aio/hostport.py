"""The reading of ``host[:port]``: ``[server] hosts`` entries (their
checks as config values, and the pairs the client is given), the targets
of an SRV answer and see-other-host redirects.  Loaded only on those
paths: a device given a single ``[server] host`` never holds it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stanzalink.aio.targets import MAX_REMEMBERED, Target


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


def parse_hosts(entries: Sequence[str], default_port: int) -> list[tuple[str, int]]:
    """``[server] hosts`` as (host, port) pairs; ValueError naming the entry
    that is not ``host[:port]``."""
    out = []
    for i, entry in enumerate(entries, 1):
        where = parse_host_port(entry, default_port) if isinstance(entry, str) else None
        if where is None:
            hint = (
                " (an IPv6 address goes in brackets: [::1]:5222)"
                if isinstance(entry, str) and entry.count(":") > 1 and "[" not in entry
                else ""
            )
            raise ValueError(f"entry {i} of {len(entries)}, {entry!r}, is not host[:port]{hint}")
        out.append(where)
    return out


def check_hosts(key: str, value: Any) -> list[str]:
    """The value of ``[server] hosts``: a list of one to MAX_REMEMBERED
    ``host[:port]`` entries (ConfigError naming the entry that is not)."""
    # the config's checks, loaded with the config (not for an SRV answer or a redirect)
    from stanzalink.config import ConfigError, str_list

    entries = str_list(key, value)
    if not entries:
        raise ConfigError(f"{key}: must list at least one host[:port] (leave it out for host)")
    if len(entries) > MAX_REMEMBERED:
        # the failover order remembers that many candidates
        raise ConfigError(f"{key}: {len(entries)} entries, at most {MAX_REMEMBERED}")
    try:
        parse_hosts(entries, 5222)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return entries


def check_hosts_once(entries: list[str], default_port: int) -> None:
    """No host twice in [server] hosts: it would be tried twice a round
    (a typo for another node, likely)."""
    from stanzalink.config import ConfigError

    parsed = parse_hosts(entries, default_port)
    first: dict[tuple[str, int], int] = {}
    for i, (host, number) in enumerate(parsed, 1):
        same = first.setdefault((host_key(host), number), i)
        if same != i:
            raise ConfigError(
                f"server.hosts: entry {i} of {len(entries)}, {entries[i - 1]!r}, repeats "
                f"entry {same} ({Target(*parsed[same - 1], False)})"
            )

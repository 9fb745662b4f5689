"""Opening a TCP connection to ``host:port`` without asyncio's resolver.

``loop.create_connection(host=...)`` resolves a name with
``socket.getaddrinfo`` in the loop's default thread pool: that loads the
pool's code and ``queue``, keeps an idle worker thread for the rest of the
process, and (a ``str`` host always goes through the ``idna`` codec, even
in asyncio's own check for an IP address) loads ``encodings.idna``,
``stringprep`` and ``unicodedata``.  Here an IP address needs no lookup at
all, and a name is looked up by :mod:`stanzalink.aio.resolve` (loaded
then) in a thread of its own; the addresses are then tried in order, as
asyncio does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stanzalink.aio.resolve import AddrInfo, GetAddrInfo

__all__ = ["connect", "connect_any", "ip_address"]


def ip_address(host: str) -> tuple[socket.AddressFamily, str] | None:
    """``host`` as (family, address) when it is an IPv4 or IPv6 address
    (an IPv6 one with or without brackets), else None."""
    families: tuple[socket.AddressFamily, ...] = (socket.AF_INET, socket.AF_INET6)
    if host.startswith("[") and host.endswith("]"):
        host, families = host[1:-1], (socket.AF_INET6,)
    for family in families:
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family, host
    return None


async def connect(host: str, port: int, *, getaddrinfo: GetAddrInfo | None = None) -> socket.socket:
    """A connected, non-blocking TCP socket to ``host:port``: an IP address
    as it is, a name looked up (:func:`stanzalink.aio.resolve.lookup`) and its addresses tried in
    order (:func:`connect_any`).  OSError when none answers (a failed lookup
    raises ``socket.gaierror`` as asyncio does); cancelled, it leaves no
    socket open."""
    literal = ip_address(host)
    if literal is not None:
        family, address = literal
        sockaddr: tuple[Any, ...] = (
            (address, port) if family == socket.AF_INET else (address, port, 0, 0)
        )
        infos: list[AddrInfo] = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
    else:
        # loaded only for a server given by name
        from stanzalink.aio.resolve import lookup

        infos = await lookup(host, port, getaddrinfo=getaddrinfo)
    return await connect_any(infos)


async def connect_any(infos: Sequence[AddrInfo]) -> socket.socket:
    """The first of ``infos`` (getaddrinfo's answers) that accepts a TCP
    connection, as a non-blocking socket; the sockets of those that failed
    closed.  All failing, their OSError as asyncio's create_connection
    raises it: the one error, or all of them in one when they differ."""
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    loop = asyncio.get_running_loop()
    errors: list[OSError] = []
    for family, type_, proto, _, sockaddr in infos:
        sock: socket.socket | None = None
        try:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            if sock is not None:
                sock.close()
            errors.append(exc)
            continue
        except BaseException:  # cancelled (a timeout around the attempt)
            if sock is not None:
                sock.close()
            raise
        return sock
    if len(errors) == 1 or all(str(exc) == str(errors[0]) for exc in errors):
        raise errors[0]
    raise OSError("Multiple exceptions: " + ", ".join(str(exc) for exc in errors))

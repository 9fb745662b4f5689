"""Opening a TCP connection to ``host:port`` without asyncio's resolver.

``loop.create_connection(host=...)`` resolves a name with
``socket.getaddrinfo`` in the loop's default thread pool: that loads the
pool's code and ``queue``, keeps an idle worker thread for the rest of the
process, and (a ``str`` host always goes through the ``idna`` codec, even
in asyncio's own check for an IP address) loads ``encodings.idna``,
``stringprep`` and ``unicodedata``.  Here an IP address needs no lookup at
all, an ASCII name goes to ``getaddrinfo`` as bytes (no codec), and the
lookup runs in a thread of its own that hands its answer to the loop and
ends.  The addresses are then tried in order, as asyncio does.

The threads are the process's, so their bound is too: a hung resolver must
not let attempt after attempt pile up threads.  A lookup of a name and port
already in progress (two agents of one process, or the retry of an attempt
that timed out) waits for that one's answer instead of starting another;
at most :data:`MAX_LOOKUPS` different ones run at once, and an attempt
beyond them fails at once with an :class:`OSError` naming the lookups still
pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MAX_LOOKUPS", "connect", "connect_any", "ip_address", "lookup"]

MAX_LOOKUPS = 2  # different lookups in progress at once, each a thread

# what getaddrinfo answers: (family, type, proto, canonname, sockaddr)
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
GetAddrInfo = Callable[..., Sequence[AddrInfo]]
_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[list[AddrInfo]]"]

# re-entrant: a lookup's coroutine left waiting (its loop closed) is closed
# when the garbage collector finds it, which may be in the middle of any
# allocation, this thread's own under the lock included; its cleanup then
# takes the lock again
_lock = threading.RLock()
_pending: dict[tuple[str | bytes, int], _Lookup] = {}  # in progress, under _lock


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
    as it is, a name looked up (:func:`lookup`) and its addresses tried in
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


async def lookup(host: str, port: int, *, getaddrinfo: GetAddrInfo | None = None) -> list[AddrInfo]:
    """``getaddrinfo(host, port)`` for TCP, in a thread that ends once it
    has answered; an ASCII name as bytes (no ``idna`` codec).  It joins a
    lookup of the same name and port already in progress; beyond
    :data:`MAX_LOOKUPS` different ones it raises OSError.  ``getaddrinfo``
    stands in for ``socket.getaddrinfo`` (a resolver that hangs, in tests)."""
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[list[AddrInfo]] = loop.create_future()
    key = (name, port)
    with _lock:
        current = _pending.get(key)
        if current is None:
            if len(_pending) >= MAX_LOOKUPS:
                # by name and port, as they are told apart: the same name
                # may be pending for another port
                names = ", ".join(sorted(_where(n, p) for n, p in _pending))
                raise OSError(
                    f"cannot look up {_where(name, port)}: the lookups for {names}"
                    " are still pending"
                )
            current = _pending[key] = _Lookup(key, getaddrinfo or socket.getaddrinfo)
            try:
                current.thread.start()
            except RuntimeError as exc:  # no thread to be had
                del _pending[key]
                raise OSError(f"cannot look up {host}: {exc}") from None
        current.waiters.append((loop, fut))
    try:
        infos = await fut
    finally:
        with _lock:
            if (loop, fut) in current.waiters:  # cancelled before the answer
                current.waiters.remove((loop, fut))
    # the answer is the thread's last work: let it end before going on, so
    # no thread outlives the lookup
    current.thread.join(1.0)
    return infos


def _where(name: str | bytes, port: int) -> str:
    shown = _shown(name)
    return f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"


def _shown(name: str | bytes) -> str:
    return name.decode("ascii") if isinstance(name, bytes) else name


class _Lookup:
    """One getaddrinfo call in its own thread, and the futures waiting for it."""

    __slots__ = ("getaddrinfo", "key", "thread", "waiters")

    def __init__(self, key: tuple[str | bytes, int], getaddrinfo: GetAddrInfo) -> None:
        self.key = key
        self.getaddrinfo = getaddrinfo
        self.waiters: list[_Waiter] = []
        self.thread = threading.Thread(
            target=self._run, name=f"stanzalink-lookup {_shown(key[0])}", daemon=True
        )

    def _run(self) -> None:
        answer: list[AddrInfo] | BaseException
        try:
            answer = list(self.getaddrinfo(*self.key, type=socket.SOCK_STREAM))
        except Exception as exc:  # gaierror; UnicodeError from the codec
            answer = exc
        with _lock:
            del _pending[self.key]
            waiters, self.waiters = self.waiters, []
        for loop, fut in waiters:
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits there
                loop.call_soon_threadsafe(_hand_over, fut, answer)


def _hand_over(fut: asyncio.Future[list[AddrInfo]], answer: list[AddrInfo] | BaseException) -> None:
    if fut.done():  # cancelled meanwhile
        return
    if isinstance(answer, BaseException):
        # each waiter raises its own copy: one exception object would carry
        # every waiter's traceback
        with contextlib.suppress(Exception):
            answer = type(answer)(*answer.args)
        fut.set_exception(answer)
    else:
        fut.set_result(list(answer))

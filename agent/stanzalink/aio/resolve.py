"""Looking a name up for :func:`stanzalink.aio.tcp.connect` without
asyncio's resolver: an ASCII name goes to ``getaddrinfo`` as bytes (no
``idna`` codec), in a thread of its own that hands its answer to the loop
and ends (no thread pool, no worker thread kept).

The threads are the process's, so their bound is too: a hung resolver must
not let attempt after attempt pile up threads.  A lookup of a name and port
already in progress (two agents of one process, or the retry of an attempt
that timed out) waits for that one's answer instead of starting another;
at most :data:`MAX_LOOKUPS` different ones run at once, and a lookup beyond
them waits for one of those to end (as long as its caller lets it: the
connect timeout bounds the wait of an attempt), and says so in the log,
naming the lookups still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MAX_LOOKUPS", "AddrInfo", "GetAddrInfo", "lookup"]

MAX_LOOKUPS = 2  # different lookups in progress at once, each a thread

# what getaddrinfo answers: (family, type, proto, canonname, sockaddr)
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
GetAddrInfo = Callable[..., Sequence[AddrInfo]]

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[list[AddrInfo]]"]
_SlotWaiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]

# re-entrant: a lookup's coroutine left waiting (its loop closed) is closed
# when the garbage collector finds it, which may be in the middle of any
# allocation, this thread's own under the lock included; its cleanup then
# takes the lock again
log = logging.getLogger(__name__)

_lock = threading.RLock()
_pending: dict[tuple[str | bytes, int], _Lookup] = {}  # in progress, under _lock
# lookups waiting for one of the MAX_LOOKUPS to end, under _lock
_slot_waiters: list[_SlotWaiter] = []


async def lookup(host: str, port: int, *, getaddrinfo: GetAddrInfo | None = None) -> list[AddrInfo]:
    """``getaddrinfo(host, port)`` for TCP, in a thread that ends once it
    has answered; an ASCII name as bytes (no ``idna`` codec).  It joins a
    lookup of the same name and port already in progress; beyond
    :data:`MAX_LOOKUPS` different ones it waits for one of them to end
    (cancel it to stop waiting).  ``getaddrinfo`` stands in for
    ``socket.getaddrinfo`` (a resolver that hangs, in tests)."""
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[list[AddrInfo]] = loop.create_future()
    key = (name, port)
    while True:
        with _lock:
            current = _pending.get(key)
            if current is None and len(_pending) < MAX_LOOKUPS:
                current = _pending[key] = _Lookup(key, getaddrinfo or socket.getaddrinfo)
                try:
                    current.thread.start()
                except RuntimeError as exc:  # no thread to be had
                    del _pending[key]
                    _wake_slot_waiters()
                    raise OSError(f"cannot look up {host}: {exc}") from None
            if current is not None:
                current.waiters.append((loop, fut))
                break
            slot: asyncio.Future[None] = loop.create_future()
            _slot_waiters.append((loop, slot))
            # said when it begins to wait: if the wait ends the attempt (its
            # connect timeout), the name server is why
            pending = ", ".join(sorted(_where(*k) for k in _pending))
        log.warning(
            "looking up %s waits: the lookups for %s are still pending",
            _where(name, port),
            pending,
        )
        try:
            await slot
        finally:
            with _lock:
                if (loop, slot) in _slot_waiters:  # cancelled while waiting
                    _slot_waiters.remove((loop, slot))
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
            _wake_slot_waiters()
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


def _wake_slot_waiters() -> None:
    """A slot is free: every lookup waiting for one tries again (under
    _lock; those that find the slots taken wait again)."""
    slots, _slot_waiters[:] = list(_slot_waiters), []
    for loop, slot in slots:
        with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits there
            loop.call_soon_threadsafe(_free, slot)


def _free(slot: asyncio.Future[None]) -> None:
    if not slot.done():  # cancelled meanwhile
        slot.set_result(None)

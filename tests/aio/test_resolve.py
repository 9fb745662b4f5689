"""Connecting to ``host:port`` by address or by name (stanzalink.aio.tcp,
stanzalink.aio.resolve) against real listening sockets on loopback: an
address needs no lookup (nor the lookups' module), a name is looked up in a
thread that ends with its answer, the addresses are tried in order and fail
as asyncio's ``create_connection`` fails; a cancelled attempt leaves no
socket and no thread behind, a hung resolver no pile of threads (a lookup
beyond the bound waits for a slot); and a lookup by name loads neither the
``idna`` codec nor asyncio's thread pool.

The system resolver cannot be made to hang on loopback, so where a test
needs a lookup that waits, ``getaddrinfo`` is the real one behind an event
the test sets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from stanzalink.aio import resolve
from stanzalink.aio.resolve import AddrInfo, lookup
from stanzalink.aio.tcp import connect, connect_any, ip_address

from ..util import child_lines
from .test_hostile_server import make_client, until


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def listener(address: str = "127.0.0.1", backlog: int = 8) -> Iterator[socket.socket]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((address, 0))
        s.listen(backlog)
        yield s


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then closed)."""
    with listener(address) as s:
        port: int = s.getsockname()[1]
    return port


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def info(address: str, port: int) -> AddrInfo:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """What holds the lookups of a test back; set at its end whatever happened."""
    event = threading.Event()
    yield event
    event.set()


async def entering(event: threading.Event) -> None:
    """Until a lookup has begun (polled: no helper thread of asyncio's)."""
    for _ in range(1000):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the lookup did not begin")


def held(gate: threading.Event, entered: threading.Event) -> Callable[..., Sequence[AddrInfo]]:
    """The system's getaddrinfo, answering once ``gate`` is set."""

    def getaddrinfo(*args: Any, **kw: Any) -> Sequence[AddrInfo]:
        entered.set()
        gate.wait(30)
        return socket.getaddrinfo(*args, **kw)

    return getaddrinfo


async def asyncio_error(host: str, port: int) -> OSError:
    """What asyncio's create_connection raises for the same place."""
    loop = asyncio.get_running_loop()
    try:
        transport, _ = await loop.create_connection(asyncio.Protocol, host, port)
    except OSError as exc:
        return exc
    transport.close()
    raise AssertionError(f"{host}:{port} accepted")


def test_an_ip_address_is_known_as_one() -> None:
    assert ip_address("127.0.0.1") == (socket.AF_INET, "127.0.0.1")
    assert ip_address("::1") == (socket.AF_INET6, "::1")
    assert ip_address("[::1]") == (socket.AF_INET6, "::1")
    assert ip_address("[2001:db8::5]") == (socket.AF_INET6, "2001:db8::5")
    for name in ("localhost", "example.org", "127.1", "[127.0.0.1]", "::1]", "bücher.example", ""):
        assert ip_address(name) is None, name


async def test_by_ipv4_address() -> None:
    with listener() as srv:
        port = srv.getsockname()[1]
        sock = await connect("127.0.0.1", port)
        with sock:
            assert sock.getpeername() == ("127.0.0.1", port)
            assert sock.getblocking() is False
            assert sock.type == socket.SOCK_STREAM


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this host")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
async def test_by_ipv6_address_with_or_without_brackets(host: str) -> None:
    with listener("::1") as srv:
        port = srv.getsockname()[1]
        with await connect(host, port) as sock:
            assert sock.getpeername()[:2] == ("::1", port)


async def test_by_name_and_no_thread_is_left() -> None:
    # where this host's "localhost" points first
    first = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][4][0]
    threads = threading.active_count()
    with listener(first) as srv:
        port = srv.getsockname()[1]
        with await connect("localhost", port) as sock:
            assert sock.getpeername()[:2] == (first, port)
            assert threading.active_count() == threads


async def test_a_refused_port_fails_as_asyncio_says_it() -> None:
    port = free_port()
    with pytest.raises(ConnectionRefusedError) as caught:
        await connect("127.0.0.1", port)
    assert str(caught.value) == f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    assert str(caught.value) == str(await asyncio_error("127.0.0.1", port))


async def test_a_refused_name_fails_as_asyncio_says_it() -> None:
    port = free_port()
    fds = open_fds()
    with pytest.raises(OSError) as caught:
        await connect("localhost", port)
    assert str(caught.value) == str(await asyncio_error("localhost", port))
    assert open_fds() == fds


async def test_an_unknown_name_fails_as_asyncio_says_it() -> None:
    # .invalid is never a name (RFC 6761)
    with pytest.raises(socket.gaierror) as caught:
        await connect("nosuch.invalid", 5222)
    assert str(caught.value) == str(await asyncio_error("nosuch.invalid", 5222))


async def test_a_refused_address_falls_through_to_the_next() -> None:
    with listener() as srv:
        port = srv.getsockname()[1]
        fds = open_fds()
        refused = [info("127.0.0.1", free_port())]
        if has_ipv6():
            refused.append(info("::1", free_port("::1")))
        sock = await connect_any([*refused, info("127.0.0.1", port)])
        with sock:
            assert sock.getpeername() == ("127.0.0.1", port)
        assert open_fds() == fds  # the refused ones' sockets are closed


async def test_all_refused_say_each_once_or_together() -> None:
    a, b = free_port(), free_port()
    fds = open_fds()
    with pytest.raises(ConnectionRefusedError, match=r"Connect call failed \('127\.0\.0\.1', "):
        await connect_any([info("127.0.0.1", a), info("127.0.0.1", a)])
    with pytest.raises(OSError) as caught:
        await connect_any([info("127.0.0.1", a), info("127.0.0.1", b)])
    assert str(caught.value) == (
        f"Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', {a}), "
        f"[Errno 111] Connect call failed ('127.0.0.1', {b})"
    )
    with pytest.raises(OSError, match="getaddrinfo\\(\\) returned empty list"):
        await connect_any([])
    assert open_fds() == fds


async def test_cancelled_while_connecting_leaves_no_socket() -> None:
    # a listener whose queue is full: the kernel leaves a new connect pending
    with listener(backlog=0) as srv:
        address = srv.getsockname()
        fillers = []
        try:
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(address)
                fillers.append(c)
            await asyncio.sleep(0.2)
            fds = open_fds()
            try:
                sock = await asyncio.wait_for(connect("127.0.0.1", address[1]), 0.5)
            except TimeoutError:
                pass
            else:
                sock.close()
                pytest.skip("this kernel accepted past a full queue")
            assert open_fds() == fds
        finally:
            for c in fillers:
                c.close()


async def test_cancelled_while_looking_up_leaves_nothing_behind(gate: threading.Event) -> None:
    entered = threading.Event()
    threads = threading.active_count()
    with listener() as srv:
        port = srv.getsockname()[1]
        fds = open_fds()
        task = asyncio.ensure_future(connect("localhost", port, getaddrinfo=held(gate, entered)))
        await entering(entered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert threading.active_count() == threads + 1  # the lookup, still waiting
        gate.set()
        for _ in range(500):  # its answer goes to nobody; then it ends
            if threading.active_count() == threads:
                break
            await asyncio.sleep(0.01)
        assert threading.active_count() == threads
        assert resolve._pending == {}
        assert open_fds() == fds


async def test_hung_lookups_are_joined_and_bounded(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    entered = [threading.Event() for _ in range(2)]
    threads = threading.active_count()
    with listener() as srv:
        port = srv.getsockname()[1]
        first = asyncio.ensure_future(lookup("localhost", port, getaddrinfo=held(gate, entered[0])))
        await entering(entered[0])
        second = asyncio.ensure_future(
            lookup("127.0.0.1", port, getaddrinfo=held(gate, entered[1]))
        )
        await entering(entered[1])
        # the same name and port again: it waits for the lookup in progress
        again = asyncio.ensure_future(lookup("localhost", port))
        await asyncio.sleep(0.05)
        assert threading.active_count() == threads + resolve.MAX_LOOKUPS
        # another name, or the same name for another port (told apart by
        # name and port): no third thread, each waits for a slot
        third = asyncio.ensure_future(lookup("localhost", port + 1))
        fourth = asyncio.ensure_future(connect("nosuch.invalid", port))
        await asyncio.sleep(0.05)
        assert not third.done() and not fourth.done()
        assert threading.active_count() == threads + resolve.MAX_LOOKUPS
        assert len(resolve._slot_waiters) == 2
        # each says why it waits (by name and port, as lookups are told apart)
        said = [r.getMessage() for r in caplog.records if r.name == "stanzalink.aio.resolve"]
        assert said == [
            f"looking up {name} waits: the lookups for 127.0.0.1:{port}, localhost:{port}"
            " are still pending"
            for name in (f"localhost:{port + 1}", f"nosuch.invalid:{port}")
        ]
        # as long as its caller lets it: the connect timeout ends the wait
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fourth, 0.05)
        assert len(resolve._slot_waiters) == 1
        gate.set()
        answers = await asyncio.gather(first, second, again, third)
        assert answers[0] == answers[2]
        assert all(a[4][1] == port for answer in answers[:3] for a in answer)
        assert answers[3] and all(a[4][1] == port + 1 for a in answers[3])
        assert threading.active_count() == threads
        assert resolve._slot_waiters == []
        assert resolve._pending == {}


def test_a_lookup_that_outlives_its_loop_ends_quietly(gate: threading.Event) -> None:
    entered = threading.Event()
    hooked: list[threading.ExceptHookArgs] = []
    before = threading.excepthook
    threading.excepthook = hooked.append
    loop = asyncio.new_event_loop()
    said: list[str] = []
    loop.set_exception_handler(lambda loop, context: said.append(context["message"]))
    try:
        task = loop.create_task(lookup("localhost", 1, getaddrinfo=held(gate, entered)))
        loop.run_until_complete(asyncio.sleep(0))  # the lookup started, its future waits
        assert entered.wait(10)
        loop.close()  # before the answer, its future still waiting
        [thread] = [t for t in threading.enumerate() if t.name.startswith("stanzalink-lookup")]
        gate.set()
        thread.join(10)
        assert not thread.is_alive()
        assert not task.done()
        del task  # left waiting by its loop (its loop's handler hears of it)
    finally:
        threading.excepthook = before
    assert hooked == []
    assert set(said) <= {"Task was destroyed but it is pending!"}
    assert resolve._pending == {}


MODULES_BY_NAME = """
import asyncio, socket, sys, threading
from stanzalink.aio.tcp import connect

async def main():
    host = sys.argv[1]
    first = socket.getaddrinfo(host.encode(), None, type=socket.SOCK_STREAM)[0]
    srv = socket.socket(first[0])
    srv.bind((first[4][0], 0))
    srv.listen()
    sock = await connect(host, srv.getsockname()[1])
    sock.close()
    srv.close()
    print(threading.active_count())
    print(" ".join(sorted(sys.modules)))

asyncio.run(main())
"""


def modules_after_connect(host: str) -> tuple[str, set[str]]:
    threads, modules = child_lines(MODULES_BY_NAME, host)
    return threads, set(modules.split())


def test_a_lookup_by_name_loads_no_codec_and_no_thread_pool() -> None:
    threads, loaded = modules_after_connect("localhost")
    assert threads == "1"
    assert "stanzalink.aio.resolve" in loaded
    unwanted = {"encodings.idna", "stringprep", "unicodedata", "concurrent.futures.thread", "queue"}
    assert sorted(unwanted & loaded) == []


def test_an_address_loads_no_lookup_code() -> None:
    threads, loaded = modules_after_connect("127.0.0.1")
    assert threads == "1"
    assert "stanzalink.aio.tcp" in loaded and "stanzalink.aio.resolve" not in loaded


async def test_the_client_says_why_a_name_was_refused(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    client = make_client(port, None, host="localhost")
    await client.start()
    try:
        await until(lambda: any("cannot connect" in r.getMessage() for r in caplog.records), 5, "")
    finally:
        await client.close()
    [line] = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    why = await asyncio_error("localhost", port)
    assert line == f"cannot connect to localhost:{port} ([server] host): {why}"


async def test_a_handshake_cut_by_the_connect_timeout_leaves_no_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the kernel accepts for a listener that never reads: the TLS handshake
    # starts and nothing answers it
    with listener() as srv:
        fds = open_fds()
        port = srv.getsockname()[1]
        client = make_client(port, None, host="localhost", direct_tls=True, connect_timeout=0.3)
        await client.start()
        try:
            await until(
                lambda: any("TimeoutError" in r.getMessage() for r in caplog.records), 5, ""
            )
        finally:
            await client.close()
        await asyncio.sleep(0.05)  # a transport closes its socket on the next turn
        assert open_fds() == fds
    assert any(
        r.getMessage() == f"cannot connect to localhost:{port} ([server] host): TimeoutError"
        for r in caplog.records
    )


def test_a_waiting_lookup_closed_under_the_lock_does_not_deadlock(gate: threading.Event) -> None:
    # the garbage collector closes a lookup left waiting (its loop closed)
    # whenever an allocation triggers it: under the lock too, in the thread
    # that holds it (starting another lookup, or a lookup's thread handing
    # its answer over); the waiter's cleanup takes the lock again
    entered = threading.Event()
    loop = asyncio.new_event_loop()
    said: list[str] = []
    loop.set_exception_handler(lambda loop, context: said.append(context["message"]))
    try:
        coro = lookup("localhost", 1, getaddrinfo=held(gate, entered))
        task = loop.create_task(coro)
        loop.run_until_complete(asyncio.sleep(0))  # the lookup started, its future waits
        assert entered.wait(10)
    finally:
        loop.close()
    done = threading.Event()

    def collect_under_the_lock() -> None:
        with resolve._lock:
            coro.close()  # what the collector does to the abandoned coroutine
            done.set()

    helper = threading.Thread(target=collect_under_the_lock, daemon=True)
    helper.start()
    closed = done.wait(5)
    if not closed:  # deadlocked: free it (a plain lock is anyone's to release)
        resolve._lock.release()
    helper.join(5)
    gate.set()
    del task
    assert closed

"""A TCP proxy on loopback that breaks a link the way the field does: for
chaos runs between a device and its server (``bench/chaos.py``,
``tests/integration/test_chaos.py``).  Standard library only.

- It forwards bytes both ways, unchanged, one upstream connection per
  accepted one.
- :meth:`ChaosProxy.blackhole` turns the links open at that moment into
  dead paths: nothing more is forwarded either way and a close is not
  passed on, while both sockets stay open (each side's kernel still
  acknowledges, so neither peer learns anything until its own timers
  fire).  Bytes are held, unread, in the kernel's buffers, never in the
  proxy.  A connection made afterwards is forwarded normally (unless
  ``new=True``: it is held dark from its first byte too).
- :meth:`ChaosProxy.reset` aborts every link with an RST to both sides
  (``SO_LINGER`` 0) and ends the dark mode; new connections are accepted as
  before.
- Buffers are bounded: a side whose peer does not take its bytes is no
  longer read (``high_water`` bytes at most wait in the proxy per
  direction).

>>> proxy = ChaosProxy("127.0.0.1", server_port)
>>> port = await proxy.start()       # point the device at 127.0.0.1:port
>>> proxy.blackhole(); await asyncio.sleep(2); proxy.reset()
>>> proxy.counters()                 # {"connections": 2, "resets": 1, ...}
>>> await proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


class _Side(asyncio.Protocol):
    """One socket of a link; ``peer`` is the other."""

    def __init__(self, link: _Link, name: str) -> None:
        self.link = link
        self.name = name  # "down" (the device's socket) or "up" (the server's)
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.paused = False  # reading paused for backpressure (not for darkness)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.link.proxy.high_water)
        if self.name == "down":
            transport.pause_reading()  # until the upstream connection exists
            self.link.accepted.set()

    def data_received(self, data: bytes) -> None:
        proxy = self.link.proxy
        peer = self.peer
        if self.link.dark or peer is None or peer.transport is None:
            # read before the link went dark (or before the upstream is up): dropped
            proxy.dropped[self.name] += len(data)
            return
        peer.transport.write(data)
        proxy.forwarded[self.name] += len(data)

    def eof_received(self) -> bool | None:
        peer = self.peer
        if not self.link.dark and peer is not None and peer.transport is not None:
            with contextlib.suppress(OSError, RuntimeError):
                if peer.transport.can_write_eof():
                    peer.transport.write_eof()
        return True  # keep our half open: the peer may still write

    def pause_writing(self) -> None:
        # our write buffer is full: stop reading the peer until it drains
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.paused:
            peer.paused = True
            peer.transport.pause_reading()

    def resume_writing(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.paused:
            peer.paused = False
            if not self.link.dark:
                peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        link = self.link
        if link.dark:
            return  # a dead path: the other side learns nothing
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()  # after flushing what it holds
        link.proxy._forget(link)


class _Link:
    def __init__(self, proxy: ChaosProxy, dark: bool) -> None:
        self.proxy = proxy
        self.dark = dark
        self.accepted = asyncio.Event()
        self.down = _Side(self, "down")
        self.up = _Side(self, "up")
        self.down.peer, self.up.peer = self.up, self.down

    def go_dark(self) -> None:
        self.dark = True
        for side in (self.down, self.up):
            if side.transport is not None:
                side.transport.pause_reading()

    def abort(self) -> None:
        for side in (self.down, self.up):
            t = side.transport
            if t is None:
                continue
            sock = t.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
            t.abort()


class ChaosProxy:
    """Forward ``listen_host:port`` (port 0: any free one) to
    ``target_host:target_port``; break the links on request."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        high_water: int = 256 * 1024,
        connect_timeout: float = 10.0,
        max_links: int = 64,
    ) -> None:
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.high_water = high_water
        self.connect_timeout = connect_timeout
        self.max_links = max_links
        self.links: set[_Link] = set()
        self.dark_new = False
        self.connections = 0  # accepted
        self.refused = 0  # accepted but not forwarded (upstream down, too many links)
        self.blackholes = 0
        self.resets = 0
        self.forwarded = {"down": 0, "up": 0}  # bytes read from that side and passed on
        self.dropped = {"down": 0, "up": 0}  # bytes read on a dark link, never passed on
        self._server: asyncio.Server | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; return the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, *self.listen)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def _accept(self) -> _Side:
        self.connections += 1
        link = _Link(self, self.dark_new)
        side = link.down
        task = asyncio.get_running_loop().create_task(self._connect_up(link))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return side

    async def _connect_up(self, link: _Link) -> None:
        await link.accepted.wait()
        if link.down.transport is None:
            return
        if len(self.links) >= self.max_links:
            self.refused += 1
            link.abort()
            return
        self.links.add(link)
        if link.dark:
            return  # held: never connected upstream, aborted by reset()
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: link.up, *self.target), self.connect_timeout
            )
        except (OSError, TimeoutError):
            self.refused += 1
            self.links.discard(link)
            link.abort()
            return
        if link not in self.links:  # reset while connecting
            link.abort()
            return
        if link.dark:  # went dark while connecting
            link.go_dark()
            return
        if link.down.transport is None:  # the device gave up meanwhile
            if link.up.transport is not None:
                link.up.transport.close()
            self.links.discard(link)
            return
        link.down.transport.resume_reading()

    def _forget(self, link: _Link) -> None:
        self.links.discard(link)

    # ------------------------------------------------------------ chaos
    def blackhole(self, new: bool = False) -> int:
        """Turn every open link into a dead path (``new``: connections made
        from now on too, until :meth:`reset`).  Returns how many links."""
        self.blackholes += 1
        self.dark_new = new
        for link in self.links:
            link.go_dark()
        return len(self.links)

    def reset(self) -> int:
        """Abort every link with an RST to both sides; forward new
        connections normally again.  Returns how many links."""
        self.resets += 1
        self.dark_new = False
        links, self.links = list(self.links), set()
        for link in links:
            link.dark = True  # no polite close is passed on while aborting
            link.abort()
        return len(links)

    def counters(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "open_links": len(self.links),
            "refused": self.refused,
            "blackholes": self.blackholes,
            "resets": self.resets,
            "bytes_to_server": self.forwarded["down"],
            "bytes_to_device": self.forwarded["up"],
            "bytes_dropped": self.dropped["down"] + self.dropped["up"],
        }

    async def stop(self) -> None:
        """Stop listening and abort every link."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connecting):
            task.cancel()
        self.reset()
        self.resets -= 1  # not a chaos event
        if server is not None:
            await server.wait_closed()

"""The chaos proxy: forwards both ways, a blackholed link passes nothing
(and no close), a reset reaches both sides as an RST, new connections work
after it, and the proxy itself holds a bounded number of bytes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from stanzalink_testing.chaosproxy import ChaosProxy


class Upstream:
    """A server that echoes every byte and remembers what each connection read."""

    def __init__(self) -> None:
        self.received: list[bytearray] = []
        self.ended: list[str] = []  # per connection: "eof", "reset" or "error"
        self.echo = True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = bytearray()
        self.received.append(got)
        try:
            while data := await reader.read(65536):
                got += data
                if self.echo:
                    writer.write(data)
                    await writer.drain()
            self.ended.append("eof")
        except ConnectionResetError:
            self.ended.append("reset")
        except OSError:
            self.ended.append("error")
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def setup(high_water: int = 256 * 1024) -> AsyncIterator[tuple[ChaosProxy, Upstream]]:
    up = Upstream()
    server = await asyncio.start_server(up.handle, "127.0.0.1", 0)
    proxy = ChaosProxy("127.0.0.1", server.sockets[0].getsockname()[1], high_water=high_water)
    await proxy.start()
    try:
        yield proxy, up
    finally:
        await proxy.stop()
        server.close()


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), 5)


def test_forwards_both_ways() -> None:
    async def main() -> None:
        async with setup() as (proxy, up):
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            w.write(b"hello")
            assert await read_exactly(r, 5) == b"hello"
            w.close()
            await asyncio.sleep(0.1)
            assert bytes(up.received[0]) == b"hello"
            c = proxy.counters()
            assert (c["connections"], c["bytes_to_server"], c["bytes_to_device"]) == (1, 5, 5)

    asyncio.run(main())


def test_blackhole_passes_nothing_and_reset_aborts_both_sides() -> None:
    async def main() -> None:
        async with setup() as (proxy, up):
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            w.write(b"a")
            assert await read_exactly(r, 1) == b"a"
            assert proxy.blackhole() == 1
            w.write(b"lost")
            await w.drain()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(r.read(1), 0.3)
            assert bytes(up.received[0]) == b"a"
            # the device gives up politely: the server must not hear of it
            w.close()
            await asyncio.sleep(0.2)
            assert up.ended == []
            assert proxy.reset() == 1
            await asyncio.sleep(0.2)
            assert up.ended == ["reset"]
            # a new connection after the reset is forwarded
            r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
            w2.write(b"again")
            assert await read_exactly(r2, 5) == b"again"
            with pytest.raises(ConnectionResetError):
                proxy.reset()
                await asyncio.wait_for(r2.read(1), 2)
            w2.close()

    asyncio.run(main())


def test_blackhole_new_connections_until_reset() -> None:
    async def main() -> None:
        async with setup() as (proxy, up):
            proxy.blackhole(new=True)
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)  # accepted
            w.write(b"x")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(r.read(1), 0.3)
            assert up.received == []  # never dialled upstream
            proxy.reset()
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(r.read(1), 2)
            w.close()
            r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
            w2.write(b"y")
            assert await read_exactly(r2, 1) == b"y"
            w2.close()

    asyncio.run(main())


def test_bounded_when_the_reader_is_slow() -> None:
    """The device does not read: the proxy stops reading the server once
    high_water bytes wait, so its own buffer stays bounded."""

    async def main() -> None:
        async with setup(high_water=64 * 1024) as (proxy, _up):
            _r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            w.transport.pause_reading()  # type: ignore[attr-defined]
            chunk = b"z" * 65536
            for _ in range(200):  # 12.5 MiB offered; far less can be in flight
                w.write(chunk)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(w.drain(), 0.05)
            link = next(iter(proxy.links))
            assert link.down.transport is not None
            assert link.down.transport.get_write_buffer_size() <= 2 * 64 * 1024 + 65536
            assert proxy.counters()["bytes_to_device"] < 12 * 1024 * 1024
            w.close()

    asyncio.run(main())

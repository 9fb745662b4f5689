"""Conversation tests for features: stanzas the server delivers in, stanzas
the device must send out, with the real agent routing and access checks
and the real client dispatch, but no socket.

>>> async def test_version():
...     h = Harness(features=[Version], access={"viewer": ["alice@example.net"]})
...     h.receive("<iq type='get' id='v1' from='alice@example.net/x'>"
...               "<query xmlns='jabber:iq:version'/></iq>")
...     reply = await h.next_sent()
...     assert reply.get("type") == "result"

``receive`` takes XML in the ``jabber:client`` default namespace, as a
server sends it inside its stream.  With ``clock=ManualClock()`` the
features' timeouts and timers run on a clock the test moves forward
(``await h.advance(30)``) instead of waiting them out.  ``sent`` holds every stanza the device
sent, parsed back (so a test reads it like a received stanza), and
``sent_xml`` the same as the bytes a server would get.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.clock import Clock
from stanzalink.commands.registry import Registry
from stanzalink.config import DeviceConfig
from stanzalink.jid import JID
from stanzalink.session.events import Closed, Online, Retry
from stanzalink.xep.base import Feature
from stanzalink.xml import Element, StreamParser, tostring
from stanzalink.xml.plain import PlainElement

_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" version='1.0' from='example.net' id='harness'>"
)


def parse_stanza(xml: str | bytes) -> Element:
    """One stanza in the jabber:client namespace, as the parser delivers it."""
    data = xml.encode() if isinstance(xml, str) else xml
    parser = StreamParser()
    events = parser.feed(_HEADER + data)
    stanzas = [e for e in events if isinstance(e, Element)]
    if len(stanzas) != 1:
        raise ValueError(f"expected one stanza, got {len(stanzas)}: {xml!r}")
    return stanzas[0]


T = TypeVar("T")
F = TypeVar("F", bound=Feature)


class _Timer:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A :class:`~stanzalink.clock.Clock` that stands still until
    :meth:`advance` moves it: timers fire, sleeps end and ``wait_for``
    times out at once, in the order of their deadlines."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await fut
        finally:
            timer.cancel()

    async def wait_for(self, aw: Awaitable[T], timeout: float | None) -> T:
        inner = asyncio.ensure_future(aw)
        if timeout is None:
            return await inner
        expired = False

        def expire() -> None:
            nonlocal expired
            if not inner.done():
                expired = True
                inner.cancel()

        timer = self.call_later(timeout, expire)
        try:
            return await inner
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if expired and not (task is not None and task.cancelling()):
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()

    def pending(self) -> int:
        """Timers not yet fired nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, firing what falls due (and
        letting the tasks it wakes run) in deadline order."""
        target = self._now + seconds
        while True:
            await _settle()
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0][0] > target:
                break
            when, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            timer.callback()
        self._now = target
        await _settle()


async def _settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class RecordingClient(Client):
    """A real :class:`Client` whose output is recorded instead of sent."""

    def __init__(self, jid: JID) -> None:
        super().__init__(ClientConfig(jid=jid.bare, password="unused"))
        self.jid = jid
        self.sent: list[Element] = []
        self.sent_xml: list[str] = []
        self._sent_event = asyncio.Event()
        self.fake_online = True

    @property
    def online(self) -> bool:
        return self.fake_online

    def send(self, stanza: ET.Element | PlainElement) -> None:
        data = tostring(stanza, default_ns="jabber:client")
        self.sent_xml.append(data.decode())
        self.sent.append(parse_stanza(data))
        self._sent_event.set()

    async def close(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()


class Harness:
    """An agent with the given features (None: the agent's own list, the
    lazy ones waiting for their first stanza), its client recording; ``commands``:
    the registry its console and ad-hoc commands serve (the device's built-in
    commands when None)."""

    def __init__(
        self,
        features: Iterable[type[Any]] | None,
        access: dict[str, list[str]] | None = None,
        jid: str = "device1@example.net/agent",
        config: DeviceConfig | None = None,
        commands: Registry | None = None,
        clock: Clock | None = None,
        **sections: dict[str, Any],
    ) -> None:
        from stanzalink.agent import Agent

        full = JID.parse(jid)
        if config is None:
            config = DeviceConfig(jid=full.bare, password="unused", access=access or {})
            config.sections.update(sections)
        self.client = RecordingClient(full)
        self.clock = clock
        self.agent = Agent(
            config,
            features=None if features is None else list(features),
            client=self.client,
            commands=commands,
            clock=clock,
        )
        self._read = 0

    @property
    def sent(self) -> list[Element]:
        return self.client.sent

    @property
    def sent_xml(self) -> list[str]:
        return self.client.sent_xml

    def feature(self, cls: type[F]) -> F:
        """The running feature of type ``cls`` (AssertionError if none)."""
        found = self.agent.feature(cls)
        assert found is not None, f"no {cls.__name__} among the features"
        return found

    async def advance(self, seconds: float) -> None:
        """Move the manual clock forward (the harness must have one)."""
        assert isinstance(self.clock, ManualClock), "Harness(clock=ManualClock()) moves time"
        await self.clock.advance(seconds)

    def receive(self, xml: str | bytes) -> None:
        """The server delivers a stanza."""
        self.client._dispatch(parse_stanza(xml))

    def go_online(self, resumed: bool = False) -> None:
        self.client.fake_online = True
        self.agent._on_event(Online(self.client.jid or JID.parse("x@y"), resumed, True))

    def go_offline(self) -> None:
        self.client.fake_online = False
        self.agent._on_event(Closed("connection-lost", "test", Retry.BACKOFF, by_peer=True))

    async def settle(self, rounds: int = 5) -> None:
        """Let spawned handler tasks run."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def next_sent(self, timeout: float = 2.0) -> Element:
        """The next stanza the device sends (waits for handler tasks)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._read >= len(self.client.sent):
            self.client._sent_event.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("the device sent nothing more")
            try:
                await asyncio.wait_for(self.client._sent_event.wait(), left)
            except TimeoutError:
                raise TimeoutError("the device sent nothing more") from None
        el = self.client.sent[self._read]
        self._read += 1
        return el

    def unread(self) -> list[Element]:
        """Stanzas sent and not yet read by next_sent(); marks them read."""
        out = self.client.sent[self._read :]
        self._read = len(self.client.sent)
        return out

    async def close(self) -> None:
        await self.agent.stop()

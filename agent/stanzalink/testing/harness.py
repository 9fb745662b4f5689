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
server sends it inside its stream.  ``sent`` holds every stanza the device
sent, parsed back (so a test reads it like a received stanza), and
``sent_xml`` the same as the bytes a server would get.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.commands.registry import Registry
from stanzalink.config import DeviceConfig
from stanzalink.jid import JID
from stanzalink.session.events import Closed, Online, Retry
from stanzalink.xml import Element, StreamParser, tostring

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

    def send(self, stanza: ET.Element) -> None:
        data = tostring(stanza, default_ns="jabber:client")
        self.sent_xml.append(data.decode())
        self.sent.append(parse_stanza(data))
        self._sent_event.set()

    async def close(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()


class Harness:
    """An agent with the given features, its client recording; ``commands``:
    the registry its console and ad-hoc commands serve (the device's built-in
    commands when None)."""

    def __init__(
        self,
        features: Iterable[type[Any]],
        access: dict[str, list[str]] | None = None,
        jid: str = "device1@example.net/agent",
        config: DeviceConfig | None = None,
        commands: Registry | None = None,
        **sections: dict[str, Any],
    ) -> None:
        from stanzalink.agent import Agent

        full = JID.parse(jid)
        if config is None:
            config = DeviceConfig(jid=full.bare, password="unused", access=access or {})
            config.sections.update(sections)
        self.client = RecordingClient(full)
        self.agent = Agent(config, features=list(features), client=self.client, commands=commands)
        self._read = 0

    @property
    def sent(self) -> list[Element]:
        return self.client.sent

    @property
    def sent_xml(self) -> list[str]:
        return self.client.sent_xml

    def feature(self, name: str) -> Any:
        return self.agent.feature(name)

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

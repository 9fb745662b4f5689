"""Helpers for the console's conversation tests."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest

from stanzalink.commands import Arg, Invocation, Registry, Text
from stanzalink.console.feature import Console
from stanzalink.xep.xhtml_im import violations
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import Harness, ManualClock

ACCESS = {
    "admin": ["alice@example.net"],
    "operator": ["olga@example.net"],
    "viewer": ["victor@example.net"],
}
ALICE = "alice@example.net/laptop"
VICTOR = "victor@example.net/phone"


class Chat:
    """One harness, and a way to talk to the console through it.  The
    commands of :attr:`extra` (the ``test_commands`` fixture's) are added to
    the device's own."""

    extra: Registry | None = None

    def __init__(self, **console: Any) -> None:
        # the console's clock stands still unless a test moves it
        self.clock = ManualClock(1000.0)
        self.h = Harness([Console], ACCESS, console=console, clock=self.clock)
        self.console: Console = self.h.feature(Console)
        for cmd in self.extra.all() if self.extra is not None else ():
            self.h.agent.commands.add(cmd)

    def send(
        self, text: str, frm: str = ALICE, mtype: str | None = "chat", extra: str = ""
    ) -> None:
        t = f" type='{mtype}'" if mtype else ""
        self.h.receive(
            f"<message from='{frm}' to='device1@example.net/agent'{t}>"
            f"<body>{escape(text)}</body>{extra}</message>"
        )

    async def reply(self, timeout: float = 2.0) -> Element:
        msg = await self.h.next_sent(timeout)
        check_formatted(msg)
        return msg

    async def text(self, timeout: float = 2.0) -> str:
        return body(await self.reply(timeout))

    async def ask(self, text: str, frm: str = ALICE, **kw: Any) -> str:
        self.send(text, frm, **kw)
        return await self.text()

    async def greet(self, frm: str = ALICE) -> str:
        """First contact: the banner comes first, then the answer."""
        self.send("version", frm)
        banner = await self.text()
        await self.text()
        return banner

    async def silent(self) -> None:
        await self.h.settle(20)
        await asyncio.sleep(0.05)
        assert self.h.unread() == []

    async def advance(self, seconds: float) -> None:
        """Move the console's clock forward (its timers fire)."""
        await self.clock.advance(seconds)

    async def close(self) -> None:
        await self.h.close()


def body(msg: Element) -> str:
    return msg.findtext("{jabber:client}body") or ""


def check_formatted(msg: Element) -> None:
    """Every console message has a body and an XHTML-IM twin inside the
    recommended profile."""
    if msg.tag != "{jabber:client}message":
        return
    html = msg.find("{http://jabber.org/protocol/xhtml-im}html")
    assert html is not None
    assert msg.findtext("{jabber:client}body")
    tree = ET.fromstring(tostring(html.to_etree()))
    assert violations(tree) == []


@pytest.fixture
def chat_cls() -> type[Chat]:
    return Chat


@pytest.fixture
def test_commands() -> Iterator[dict[str, Any]]:
    """Commands for the tests: every :class:`Chat` of the test has them."""
    seen: dict[str, Any] = {"cancelled": 0, "started": asyncio.Event()}
    registry = Chat.extra = Registry()

    @registry.command("slow", help="wait a long time", long_running=True)
    async def slow(inv: Invocation) -> str:
        seen["started"].set()
        seen["inv"] = inv
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen["cancelled"] += 1
            raise
        return "slept"

    @registry.command("big", help="many lines", args=[Arg("lines", int, default=200)])
    def big(inv: Invocation) -> Text:
        lines = [f"line {i:04d} " + "x" * 30 for i in range(inv.args["lines"])]
        return Text("\n".join(lines), preformatted=True)

    @registry.command("boom", help="fails")
    def boom(inv: Invocation) -> str:
        raise RuntimeError("internal detail that must not leak")

    @registry.command("greet", help="echo", args=[Arg("who"), Arg("times", int, default=1)])
    def greet(inv: Invocation) -> str:
        return " ".join([f"hello {inv.args['who']}"] * inv.args["times"])

    yield seen
    Chat.extra = None

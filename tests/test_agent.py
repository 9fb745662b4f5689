"""The agent's wiring: IQ answers always go out, the roster before presence."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stanzalink.access import Role
from stanzalink.testing.harness import Harness
from stanzalink.xep.base import Feature, IQRoute
from stanzalink.xml import Element
from stanzalink.xml.builder import E

ACCESS = {"viewer": ["alice@example.net"]}


class Broken(Feature):
    name = "broken"

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("get", "{urn:example:broken}q", self.answer, Role.VIEWER)]

    def answer(self, iq: Element, role: Role | None) -> ET.Element:
        return E("{urn:example:broken}q", text="a control character \x01 XML cannot carry")


async def test_an_unserializable_result_still_gets_an_answer() -> None:
    h = Harness([Broken], ACCESS)
    h.receive(
        "<iq type='get' id='b1' from='alice@example.net/x'><q xmlns='urn:example:broken'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "error" and reply.get("id") == "b1"
    assert "internal-server-error" in h.sent_xml[-1]
    await h.close()


class Order(Feature):
    name = "order"

    def on_online(self, resumed: bool) -> None:
        self.ctx.send(
            E("{jabber:client}iq", {"type": "get", "id": "r1"}, E("{jabber:iq:roster}query"))
        )


async def test_features_speak_before_the_initial_presence() -> None:
    h = Harness([Order], ACCESS)
    h.go_online()
    first, second = await h.next_sent(), await h.next_sent()
    assert first.tag == "{jabber:client}iq"  # e.g. the roster request (RFC 6121 §2.2)
    assert second.tag == "{jabber:client}presence"
    await h.close()


class Raises(Feature):
    """A feature with a bug a crafted stanza reaches."""

    name = "raises"

    def __init__(self, ctx: object) -> None:
        super().__init__(ctx)  # type: ignore[arg-type]
        self.calls = 0

    def on_message(self, msg: Element, role: Role) -> bool:
        self.calls += 1
        raise ValueError("bug")

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        self.calls += 1
        raise ValueError("bug")


class Sees(Feature):
    name = "sees"

    def __init__(self, ctx: object) -> None:
        super().__init__(ctx)  # type: ignore[arg-type]
        self.presences = 0

    def on_presence(self, pres: Element, role: Role | None) -> bool:
        self.presences += 1
        return False


async def test_a_feature_raising_on_a_stanza_does_not_escape_the_dispatch(caplog: object) -> None:
    """An exception out of a message or presence handler would leave the
    client's read callback and end the connection (asyncio's fatal error),
    losing the stanzas after it in the same read: the agent contains it,
    logs it (one traceback a minute per feature), and the other features
    still get every presence."""
    import logging

    h = Harness([Raises, Sees], ACCESS)
    for i in range(3):
        h.receive(f"<message from='alice@example.net/x' id='m{i}'><body>hi</body></message>")
        h.receive("<presence from='stranger@evil.example/x'/>")
    assert h.feature("raises").calls == 6
    assert h.feature("sees").presences == 3
    records = caplog.records  # type: ignore[attr-defined]
    tracebacks = [r for r in records if r.exc_info and r.levelno >= logging.ERROR]
    assert len(tracebacks) == 1  # the rest are counted, not repeated
    await h.close()


class AlsoBroken(Broken):
    name = "also-broken"


def test_two_features_cannot_serve_one_payload() -> None:
    with pytest.raises(ValueError, match=r"two handlers serve get \{urn:example:broken\}q"):
        Harness([Broken, AlsoBroken], ACCESS)

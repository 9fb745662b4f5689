"""The agent's wiring: IQ answers always go out, the roster before presence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from stanzalink.access import Role
from stanzalink.agent import FEATURES, load_feature, start_order
from stanzalink.console.feature import Console
from stanzalink.jid import JID
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.base import Feature, IQRoute, MissingFeature
from stanzalink.xep.caps import Caps
from stanzalink.xep.disco import Disco
from stanzalink.xep.roster import Roster
from stanzalink.xml import Element
from stanzalink.xml.builder import E
from stanzalink_testing.harness import Harness, ManualClock

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
    assert h.feature(Raises).calls == 6
    assert h.feature(Sees).presences == 3
    records = caplog.records  # type: ignore[attr-defined]
    tracebacks = [r for r in records if r.exc_info and r.levelno >= logging.ERROR]
    assert len(tracebacks) == 1  # the rest are counted, not repeated
    await h.close()


class AlsoBroken(Broken):
    name = "also-broken"


def test_two_features_cannot_serve_one_payload() -> None:
    with pytest.raises(ValueError, match=r"two handlers serve get \{urn:example:broken\}q"):
        Harness([Broken, AlsoBroken], ACCESS)


# ------------------------------------------------------------ extension points
class Base(Feature):
    name = "base"
    built: list[str] = []  # noqa: RUF012 - the order constructors ran, per test

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.built.append(self.name)


class Needed(Base):
    name = "needed"


class Needy(Base):
    name = "needy"
    requires = (Needed,)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        # what it requires exists already, and is found by type
        self.found = ctx.feature(Needed)


class SpecialNeeded(Needed):
    name = "special"


def test_a_required_feature_is_built_first_and_found_by_type() -> None:
    Base.built = []
    h = Harness([Needy, Needed], ACCESS)
    assert Base.built == ["needed", "needy"]
    needy, needed = h.feature(Needy), h.feature(Needed)
    assert needy.found is needed
    # still asked about stanzas in the order given
    assert [f.name for f in h.agent.features()] == ["needy", "needed"]
    # a subclass serves the requirement (isinstance, not a name)
    Base.built = []
    h = Harness([Needy, SpecialNeeded], ACCESS)
    assert h.feature(Needy).found is h.feature(Needed) is h.feature(SpecialNeeded)
    assert h.agent.feature(Order) is None


def test_a_missing_requirement_is_named_when_the_agent_is_assembled() -> None:
    with pytest.raises(MissingFeature) as err:
        Harness([Needy], ACCESS)
    assert str(err.value) == ("feature Needy (needy) requires Needed (needed), which is not loaded")


def test_the_device_features_are_complete() -> None:
    """Every requirement of the default feature list is in it, listed first."""
    classes = [load_feature(spec) for spec in FEATURES]
    assert start_order(classes) == classes


async def test_two_agents_share_a_process_without_sharing_state() -> None:
    """No process-wide state: two devices in one process, each with its own
    commands, console sessions, roster, ad-hoc sessions and clock."""
    access = {"admin": ["alice@example.net"]}
    clocks = [ManualClock(), ManualClock(5000.0)]
    one, two = (
        Harness(
            [Roster, Disco, Caps, Console, AdHoc], access, jid=f"device{i}@example.net/agent",
            clock=clocks[i - 1],
        )
        for i in (1, 2)
    )  # fmt: skip

    @one.agent.commands.command("only-here", help="a command of the first device")
    def only_here(inv: Any) -> str:
        return f"here on {inv.device.jid.bare}"

    for h in (one, two):
        h.go_online()
        h.unread()
    for h, n in ((one, 1), (two, 2)):
        h.receive(
            f"<message from='alice@example.net/x' to='device{n}@example.net/agent' type='chat'>"
            "<body>only-here</body></message>"
        )
    await one.settle(20)
    await two.settle(20)
    said = {n: [m.findtext("{jabber:client}body") or "" for m in h.unread()]
            for n, h in ((1, one), (2, two))}  # fmt: skip
    assert any("here on device1@example.net" in s for s in said[1])
    assert not any("here on" in s for s in said[2])
    assert any("Unknown command 'only-here'" in s for s in said[2])
    assert one.agent.commands is not two.agent.commands
    assert one.feature(Console).sessions.keys() == two.feature(Console).sessions.keys()
    assert (
        one.feature(Console).sessions[JID.parse("alice@example.net/x")]
        is not (two.feature(Console).sessions[JID.parse("alice@example.net/x")])
    )
    # each answers disco#info with its own caps and its own JID
    for h, n in ((one, 1), (two, 2)):
        h.receive(
            f"<iq type='get' id='d{n}' from='alice@example.net/x' to='device{n}@example.net/agent'>"
            "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
        )
        reply = await h.next_sent()
        assert reply.get("id") == f"d{n}" and reply.get("type") == "result"
    # each runs on its own clock
    assert one.agent.now() == 1000.0 and two.agent.now() == 5000.0
    await one.advance(10)
    assert one.agent.now() == 1010.0 and two.agent.now() == 5000.0
    await one.close()
    await two.close()

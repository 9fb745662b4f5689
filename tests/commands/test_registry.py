"""One registry per agent: two agents in one process (``stanzalink
simulate`` runs hundreds) never see each other's commands, and a plugin
registers into each agent that loads it."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from stanzalink.commands import Invocation, Registry, command
from stanzalink.console.feature import Console
from stanzalink.xep.adhoc import AdHoc
from stanzalink_testing.harness import Harness
from tests.console.conftest import ACCESS, ALICE

ROOT = Path(__file__).resolve().parents[2]
FAN = str(ROOT / "examples" / "plugins" / "fan.py")


async def chat(h: Harness, text: str) -> str:
    h.receive(f"<message from='{ALICE}' type='chat'><body>{text}</body></message>")
    return (await h.next_sent()).findtext("{jabber:client}body") or ""


async def test_two_agents_in_one_process_keep_their_commands_apart() -> None:
    a = Harness([Console, AdHoc], ACCESS, console={"plugins": [FAN]})
    b = Harness([Console, AdHoc], ACCESS)
    ra, rb = a.agent.commands, b.agent.commands
    assert ra is not rb
    assert a.feature(Console).registry is a.feature(AdHoc).registry is ra
    assert b.feature(Console).registry is b.feature(AdHoc).registry is rb
    # a plugin one agent loads is that agent's alone
    assert ra.get("fan-set") is not None and rb.get("fan-set") is None
    # a command one agent gets at run time too
    ra.command("only-a", help="for agent a")(lambda inv: "a")
    assert rb.get("only-a") is None
    # and the built-ins are the same set, but each agent's own
    assert {c.name for c in rb.all()} == {c.name for c in ra.all()} - {
        "fan",
        "fan-set",
        "fan-test",
        "only-a",
    }
    assert ra.get("status") is not rb.get("status")
    # what the front ends answer follows
    await chat(a, "version")  # the banners
    await chat(b, "version")
    await a.settle()
    a.unread()
    b.unread()
    assert await chat(a, "only-a") == "a"
    assert (await chat(b, "only-a")).startswith("Unknown command 'only-a'.")
    await b.close()
    await a.close()


async def test_a_plugin_loaded_by_two_agents_registers_into_both() -> None:
    a = Harness([Console], ACCESS, console={"plugins": [FAN]})
    b = Harness([Console], ACCESS, console={"plugins": [FAN]})
    fa, fb = a.agent.commands.get("fan-set"), b.agent.commands.get("fan-set")
    assert fa is not None and fb is not None
    a.agent.commands.remove("fan-set")
    assert b.agent.commands.get("fan-set") is fb  # the other agent keeps it
    await a.close()
    await b.close()


def test_the_decorator_registers_nothing_by_itself() -> None:
    module = types.ModuleType("acme_plugin")

    @command("beep", help="beep once", read_only=True)
    @command("bleep", help="beep twice", role="operator")
    def beep(inv: Invocation) -> str:
        return "beep"

    beep.__module__ = module.__name__
    module.beep = beep  # type: ignore[attr-defined]
    made: list[str] = []

    def register(registry: Registry) -> None:
        registry.command("made-at-run-time")(lambda inv: "x")
        made.append("yes")

    module.register = register  # type: ignore[attr-defined]
    one, two = Registry(), Registry()
    assert one.all() == []  # marked, not registered
    added = one.add_module(module)
    assert sorted(c.name for c in added) == ["beep", "bleep"]
    assert one.get("bleep") is not None and str(one.get("bleep").role) == "operator"  # type: ignore[union-attr]
    assert one.get("made-at-run-time") is not None and made == ["yes"]
    assert two.all() == []
    two.add_module(module)
    assert [c.name for c in two.all()] == ["beep", "bleep", "made-at-run-time"]
    with pytest.raises(ValueError, match="registered twice"):
        one.add_module(module)


def test_commands_imported_from_another_module_are_not_registered_twice() -> None:
    other = types.ModuleType("acme_other")

    @command("shared")
    def shared(inv: Invocation) -> Any:
        return None

    shared.__module__ = "acme_elsewhere"
    other.shared = shared  # type: ignore[attr-defined]
    reg = Registry()
    assert reg.add_module(other) == []

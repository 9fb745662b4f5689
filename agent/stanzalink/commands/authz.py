"""Who may run which command: the one decision both front ends ask.

The model (docs/access.md has it as a table, generated from the same data
the tests check):

- a stranger (no role) never reaches a command: the agent drops its
  messages and answers its IQs ``service-unavailable`` before the console
  or the ad-hoc front end sees them;
- a controller may run a command when its role is at least the command's
  (:meth:`~stanzalink.commands.model.Command.need`: the declared role, or
  the config key that decides it, e.g. ``[files] role_get``);
- a controller whose role is too low is told which role the command needs
  (:func:`refusal`); a command that does not exist here, or is switched
  off, is unknown;
- what lists or suggests commands (``help``, "did you mean", disco#items)
  shows only the commands the asker may run (:func:`runnable`,
  :func:`suggest`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stanzalink.access import Role
from stanzalink.commands.model import Command

if TYPE_CHECKING:
    from stanzalink.commands.context import Device
    from stanzalink.commands.registry import Registry

RUN, NEEDS, UNKNOWN = "run", "needs", "unknown"


@dataclass(frozen=True)
class Decision:
    """``kind``: RUN (``command`` may run), NEEDS (``command`` exists but
    needs ``need``), UNKNOWN (no such command here)."""

    kind: str
    command: Command | None = None
    need: Role | None = None


def decide(registry: Registry, name: str, role: Role, device: Device) -> Decision:
    """May a controller with ``role`` run command ``name`` on ``device``?"""
    cmd = registry.get(name)
    if cmd is None or not cmd.is_available(device):
        return Decision(UNKNOWN)
    need = cmd.need(device)
    if role < need:
        return Decision(NEEDS, cmd, need)
    return Decision(RUN, cmd, need)


def runnable(registry: Registry, role: Role, device: Device) -> list[Command]:
    """The commands ``role`` may run on ``device`` (help, disco, suggestions)."""
    return registry.visible_to(role, device)


def suggest(registry: Registry, name: str, role: Role, device: Device) -> list[str]:
    """Up to three commands close to ``name`` that ``role`` may run."""
    names = [c.name for c in runnable(registry, role, device)]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.6)


def refusal(name: str, need: Role, role: Role) -> str:
    """What a controller whose role is too low is told."""
    return f"{name}: needs role {need} (you are {role})"

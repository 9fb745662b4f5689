"""The device's commands: one registry per agent, one set of commands, two
front ends (the chat console, :mod:`stanzalink.console`, and XEP-0050
ad-hoc commands, :mod:`stanzalink.xep.adhoc`).  Nothing here imports a
front end or a feature module: what a command needs from the device comes
through :class:`~stanzalink.commands.context.Device`, which the agent
provides.

- :mod:`.model`: what a command is, what one run gets, what it returns;
- :mod:`.registry`: commands by name (:class:`Registry`), and the
  :func:`command` decorator plugins use;
- :mod:`.context`: the typed interfaces the agent provides;
- :mod:`.settings`: the ``[console]`` section, with its defaults;
- :mod:`.builtin`, :mod:`.files`, :mod:`.configure`: the built-in commands;
  :mod:`.system` and :mod:`.process` what they read and run;
- :mod:`.plugins`: the agent's registry, custom commands included.

A product team adds a command in a few lines (a plugin, listed in
``[console] plugins``)::

    from stanzalink.commands import Arg, Invocation, KeyValue, command

    @command("fan", help="set the fan speed", role="operator",
             args=[Arg("percent", int, "duty cycle, 0-100", minimum=0, maximum=100)])
    async def fan(inv: Invocation) -> KeyValue:
        set_fan(inv.args["percent"])
        return KeyValue([("fan", f"{inv.args['percent']} %")])

User documentation: ``docs/console.md`` and ``docs/adhoc.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stanzalink.commands.context import Device
    from stanzalink.commands.model import (
        Arg,
        Command,
        CommandError,
        FileOffer,
        Invocation,
        KeyValue,
        Result,
        Table,
        Text,
    )
    from stanzalink.commands.registry import Registry, command

# name -> the module that defines it: imported when first asked for, so that
# reading [console] (.settings) does not load the commands' model
_HOMES = {
    "Device": "context",
    **dict.fromkeys(
        (
            "Arg",
            "Command",
            "CommandError",
            "FileOffer",
            "Invocation",
            "KeyValue",
            "Result",
            "Table",
            "Text",
        ),
        "model",
    ),
    "Registry": "registry",
    "command": "registry",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"stanzalink.commands.{home}"), name)


__all__ = [
    "Arg",
    "Command",
    "CommandError",
    "Device",
    "FileOffer",
    "Invocation",
    "KeyValue",
    "Registry",
    "Result",
    "Table",
    "Text",
    "command",
]

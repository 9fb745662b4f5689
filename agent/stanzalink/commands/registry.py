"""Commands by name: one :class:`Registry` per agent, no process-wide one.

Two ways to put a command in a registry:

- ``registry.command(...)`` decorates a handler and registers it at once
  (the built-in commands, tests);
- :func:`command` (what plugins use) only marks the handler with the
  command it defines; :meth:`Registry.add_module` registers the marked
  handlers of a module into one registry.  A plugin module so holds no
  registry: every agent that loads it (``stanzalink simulate`` runs
  hundreds in one process) gets the commands in its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from stanzalink.access import Role
from stanzalink.commands.model import Arg, Command, Handler

if TYPE_CHECKING:
    from stanzalink.commands.context import Device

# the attribute of a handler that holds the commands :func:`command` marked it with
MARK = "__stanzalink_commands__"


def make(
    handler: Handler,
    name: str,
    *,
    help: str = "",
    role: Role | str = Role.VIEWER,
    args: Sequence[Arg] = (),
    confirm: str | None = None,
    long_running: bool = False,
    group: str = "",
    available: Callable[[Device], bool] | None = None,
    read_only: bool | Callable[[dict[str, Any]], bool] = False,
    role_of: Callable[[Device], Role] | None = None,
) -> Command:
    """The :class:`Command` ``name`` served by ``handler`` (its help defaults
    to the first line of the handler's docstring)."""
    return Command(
        name=name,
        handler=handler,
        help=help or (inspect.getdoc(handler) or "").split("\n")[0],
        role=Role.parse(role) if isinstance(role, str) else role,
        args=list(args),
        confirm=confirm,
        long_running=long_running,
        group=group,
        available=available,
        read_only=read_only,
        role_of=role_of,
    )


def command(name: str, **options: Any) -> Callable[[Handler], Handler]:
    """Decorator for plugins: mark ``handler`` as command ``name`` (the
    options of :meth:`Registry.command`).  Nothing is registered here: the
    agent registers a plugin's marked handlers into its own registry when it
    loads the plugin (:meth:`Registry.add_module`).  A handler may be marked
    several times (one function, two command names)."""

    def deco(handler: Handler) -> Handler:
        cmd = make(handler, name, **options)
        setattr(handler, MARK, (*getattr(handler, MARK, ()), cmd))
        return handler

    return deco


class Registry:
    """Commands by name."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, cmd: Command) -> Command:
        if cmd.name in self._commands:
            raise ValueError(f"command {cmd.name!r} is registered twice")
        for i, a in enumerate(cmd.args):
            if a.rest and i != len(cmd.args) - 1:
                raise ValueError(f"{cmd.name}: only the last argument may take the rest")
        self._commands[cmd.name] = cmd
        return cmd

    def add_module(self, module: ModuleType) -> list[Command]:
        """Register the handlers of ``module`` that :func:`command` marked, in
        the order the module defines them, and call its ``register(registry)``
        when it has one (for commands made at run time).  A name registered
        twice raises ValueError; the commands added before it stay."""
        added: list[Command] = []
        seen: set[int] = set()
        for value in list(vars(module).values()):
            marks = getattr(value, MARK, None) if callable(value) else None
            if not marks or id(value) in seen:
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from another plugin: that one registers it
            seen.add(id(value))
            for cmd in marks:
                added.append(self.add(cmd))
        register = vars(module).get("register")
        if callable(register):
            register(self)
        return added

    def remove(self, name: str) -> None:
        self._commands.pop(name, None)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def all(self) -> list[Command]:
        return sorted(self._commands.values(), key=lambda c: c.name)

    def visible_to(self, role: Role, device: Device | None = None) -> list[Command]:
        """The commands a sender with ``role`` may run (what help and disco
        list); with ``device``, only those available on this device."""
        return [
            c
            for c in self.all()
            if role >= c.need(device) and (device is None or c.is_available(device))
        ]

    def command(
        self,
        name: str,
        *,
        help: str = "",
        role: Role | str = Role.VIEWER,
        args: Sequence[Arg] = (),
        confirm: str | None = None,
        long_running: bool = False,
        group: str = "",
        available: Callable[[Device], bool] | None = None,
        read_only: bool | Callable[[dict[str, Any]], bool] = False,
        role_of: Callable[[Device], Role] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: register ``handler`` as command ``name`` here."""

        def deco(handler: Handler) -> Handler:
            self.add(
                make(
                    handler,
                    name,
                    help=help,
                    role=role,
                    args=args,
                    confirm=confirm,
                    long_running=long_running,
                    group=group,
                    available=available,
                    read_only=read_only,
                    role_of=role_of,
                )
            )
            return handler

        return deco

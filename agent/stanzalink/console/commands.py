"""The command model shared by the chat console and XEP-0050 ad-hoc
commands: one registry, one set of commands, two front ends.

A product team adds a command in a few lines::

    from stanzalink.console.commands import Arg, Invocation, KeyValue, command

    @command("fan", help="set the fan speed", role="operator",
             args=[Arg("percent", int, "duty cycle, 0-100", minimum=0, maximum=100)])
    async def fan(inv: Invocation) -> KeyValue:
        set_fan(inv.args["percent"])
        return KeyValue([("fan", f"{inv.args['percent']} %")])

A handler gets an :class:`Invocation` (who asked, with what role, the parsed
arguments, a way to report progress, a cancellation flag) and returns a
result value (:class:`Text`, :class:`Table`, :class:`KeyValue`,
:class:`FileOffer`, a list of them, or a plain string).  The front ends
render results: the console as XHTML-IM with a plain-text body, ad-hoc
commands as data forms and notes.  A handler raises :class:`CommandError`
with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stanzalink.access import Role
from stanzalink.jid import JID
from stanzalink.xep.delay import Delay

# defaults of [console] keys that both front ends (console, ad-hoc) read
MAX_DELAY = 120.0  # max_delay: seconds
COMMAND_TIMEOUT = 300.0  # command_timeout: seconds
QUOTED = 200  # characters of a command line quoted in a refusal


class CommandError(Exception):
    """The command cannot do what was asked; the message says why."""


def quote(line: str, limit: int = QUOTED) -> str:
    """``line`` in double quotes, cut to ``limit`` characters."""
    return '"' + (line if len(line) <= limit else line[:limit] + "…") + '"'


def too_late(line: str, delay: Delay, max_delay: float) -> str:
    """The refusal of a command that changes something and came too late."""
    if delay.age is None:
        why = "a time the device cannot judge (an unreadable stamp, or one ahead of its clock)"
    else:
        why = f"{delay.age:.0f} s ago, more than max_delay ({max_delay:g} s)"
    return (
        f"Not run: {quote(line)} was sent at {delay.stamp or '(no stamp)'}, {why}; it would"
        " change the device. Send it again if it still applies."
    )


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class Text:
    """Prose (``preformatted``: fixed-width, shown as a code block)."""

    text: str
    preformatted: bool = False


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""


@dataclass(frozen=True)
class KeyValue:
    pairs: Sequence[tuple[str, Any]]
    title: str = ""


@dataclass(frozen=True)
class FileOffer:
    """A file the device sends to the asker (Jingle file transfer, when
    the ``files`` feature runs).

    By default ``path`` must be a regular file under ``[files] export``
    (the same check as a controller's own request).  ``own=True`` marks a
    file the command produced itself (a diagnostics bundle in a temporary
    folder): it is sent even outside the exports, but only that path, and
    only when it is a regular file and not a symlink.  Never build an
    ``own`` path from the asker's input.  ``delete=True`` (own files only)
    removes the file once the transfer ended, sent or not."""

    path: str
    description: str = ""
    own: bool = False
    delete: bool = False


Result = (
    Text
    | Table
    | KeyValue
    | FileOffer
    | str
    | Sequence["Text | Table | KeyValue | FileOffer | str"]
    | None
)


# ------------------------------------------------------------------ arguments
@dataclass(frozen=True)
class Arg:
    """One argument.  ``type``: str, int, float or bool; ``choices``: the
    allowed values; ``default``: makes it optional; ``rest``: takes the rest
    of the line (last argument only)."""

    name: str
    type: type = str
    help: str = ""
    default: Any = inspect.Parameter.empty
    choices: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    rest: bool = False

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def convert(self, raw: str) -> Any:
        """The value for the text ``raw``; CommandError naming the argument."""
        value: Any
        try:
            if self.type is bool:
                low = raw.lower()
                if low in ("1", "true", "yes", "on"):
                    value = True
                elif low in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError(raw)
            else:
                value = self.type(raw)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(raw)  # "nan" would pass every min/max check
        except ValueError:
            kind = {int: "a whole number", float: "a number", bool: "yes or no"}.get(
                self.type, self.type.__name__
            )
            raise CommandError(f"{self.name}: expected {kind}, got {raw!r}") from None
        if self.choices is not None and value not in self.choices:
            raise CommandError(
                f"{self.name}: {raw!r} is not one of {', '.join(map(str, self.choices))}"
            )
        if self.minimum is not None and value < self.minimum:
            raise CommandError(f"{self.name}: must be at least {self.minimum}, got {raw}")
        if self.maximum is not None and value > self.maximum:
            raise CommandError(f"{self.name}: must be at most {self.maximum}, got {raw}")
        return value


# ------------------------------------------------------------------ invocation
@dataclass
class Invocation:
    """One run of a command."""

    command: Command
    sender: JID
    role: Role
    args: dict[str, Any]
    # the front end sets this: progress("copied 40 %") reaches the asker
    progress: Callable[[str], None] = lambda text: None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    # the agent, for commands that need the device's features (who, status)
    agent: Any = None
    # the command line as typed (console only; "" from ad-hoc commands)
    line: str = ""


Handler = Callable[[Invocation], Awaitable[Result] | Result]


@dataclass
class Command:
    name: str
    handler: Handler
    help: str = ""
    role: Role = Role.VIEWER
    args: list[Arg] = field(default_factory=list)
    # a question asked before the command runs ("Reboot the device now?")
    confirm: str | None = None
    # shown in help only; the handler may take long (runs as its own task)
    long_running: bool = False
    group: str = ""
    # available(agent) -> False hides the command on this device (a feature
    # switched off in the config); None: always available
    available: Callable[[Any], bool] | None = None
    # True: the command only reads (status, help): it still runs when a
    # reconnect delayed it beyond [console] max_delay, and says when it was
    # sent; a function of the arguments for a command that does both
    # ("config get" reads, "config set" changes).  False, the default: it
    # changes something, and a late one is refused.
    read_only: bool | Callable[[dict[str, Any]], bool] = False

    def is_available(self, agent: Any) -> bool:
        return self.available is None or bool(self.available(agent))

    def only_reads(self, args: dict[str, Any]) -> bool:
        """Whether running with ``args`` only reads (see ``read_only``)."""
        if callable(self.read_only):
            try:
                return bool(self.read_only(args))
            except Exception:  # a broken predicate: the safe side
                return False
        return bool(self.read_only)

    def usage(self) -> str:
        parts = [self.name]
        for a in self.args:
            label = f"{a.name}..." if a.rest else a.name
            parts.append(f"<{label}>" if a.required else f"[{label}]")
        return " ".join(parts)


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

    def remove(self, name: str) -> None:
        self._commands.pop(name, None)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def all(self) -> list[Command]:
        return sorted(self._commands.values(), key=lambda c: c.name)

    def visible_to(self, role: Role, agent: Any = None) -> list[Command]:
        """The commands a sender with ``role`` may run (what help and disco
        list); with ``agent``, only those available on this device."""
        return [
            c for c in self.all() if role >= c.role and (agent is None or c.is_available(agent))
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
        available: Callable[[Any], bool] | None = None,
        read_only: bool | Callable[[dict[str, Any]], bool] = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator: register ``handler`` as command ``name``."""

        def deco(handler: Handler) -> Handler:
            self.add(
                Command(
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
                )
            )
            return handler

        return deco


# the registry that plugins add to; the agent's console and ad-hoc front ends
# serve the built-in commands plus everything registered here
registry = Registry()
command = registry.command


async def run_handler(inv: Invocation) -> Result:
    """Call the handler, awaiting it when it is async."""
    result = inv.command.handler(inv)
    if inspect.isawaitable(result):
        result = await result
    return result

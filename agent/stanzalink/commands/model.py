"""The command model: what a command is (:class:`Command`, its
:class:`Arg` list, its role and ``read_only`` rule), what one run of it gets
(:class:`Invocation`), and what it returns (:class:`Text`, :class:`Table`,
:class:`KeyValue`, :class:`FileOffer`, a list of them, or a plain string).

A handler gets an :class:`Invocation` (who asked, with what role, the parsed
arguments, the device, a way to report progress, a cancellation flag) and
returns a result value.  The front ends render results: the console as
XHTML-IM with a plain-text body, ad-hoc commands as data forms and notes.
A handler raises :class:`CommandError` with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stanzalink.access import Role
from stanzalink.jid import JID

if TYPE_CHECKING:
    from stanzalink.commands.context import Device

QUOTED = 200  # characters of a command line quoted in a refusal


class CommandError(Exception):
    """The command cannot do what was asked; the message says why."""


def quote(line: str, limit: int = QUOTED) -> str:
    """``line`` in double quotes, cut to ``limit`` characters."""
    return '"' + (line if len(line) <= limit else line[:limit] + "…") + '"'


def too_late(line: str, stamp: str | None, age: float | None, max_delay: float) -> str:
    """The refusal of a command that changes something and came too late:
    sent at ``stamp``, ``age`` seconds ago (None: a time the device cannot
    judge)."""
    if age is None:
        why = "a time the device cannot judge (an unreadable stamp, or one ahead of its clock)"
    else:
        why = f"{age:.0f} s ago, more than max_delay ({max_delay:g} s)"
    return (
        f"Not run: {quote(line)} was sent at {stamp or '(no stamp)'}, {why}; it would"
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
    # what the device offers its commands (the agent provides it)
    device: Device
    # the front end sets this: progress("copied 40 %") reaches the asker
    progress: Callable[[str], None] = lambda text: None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    # the command line as typed (console only; "" from ad-hoc commands)
    line: str = ""

    @property
    def agent(self) -> Any:
        """The same object as :attr:`device` (the running agent), untyped:
        the name plugins written for earlier releases use."""
        return self.device


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
    # available(device) -> False hides the command on this device (a feature
    # switched off in the config); None: always available
    available: Callable[[Device], bool] | None = None
    # True: the command only reads (status, help): it still runs when a
    # reconnect delayed it beyond [console] max_delay, and says when it was
    # sent; a function of the arguments for a command that does both
    # ("config get" reads, "config set" changes).  False, the default: it
    # changes something, and a late one is refused.
    read_only: bool | Callable[[dict[str, Any]], bool] = False
    # role_of(device) -> the role this command needs on this device, when a
    # config key decides it (the file commands: [files] role_get/role_put);
    # None: ``role``.  Read through :meth:`need`, never ``role`` directly.
    role_of: Callable[[Device], Role] | None = None

    def need(self, device: Device | None) -> Role:
        """The least role that may run this command on ``device``."""
        if self.role_of is None or device is None:
            return self.role
        try:
            return max(self.role, self.role_of(device))
        except Exception:  # a broken rule: the safe side
            return Role.ADMIN

    def is_available(self, device: Device) -> bool:
        return self.available is None or bool(self.available(device))

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


async def run_handler(inv: Invocation) -> Result:
    """Call the handler, awaiting it when it is async."""
    result = inv.command.handler(inv)
    if inspect.isawaitable(result):
        result = await result
    return result

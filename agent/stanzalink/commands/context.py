"""What the device offers its commands: small typed interfaces that the
agent provides (:class:`Device`, and through it the roster and the file
transfer feature as :class:`RosterView` and :class:`FileService`).

Commands reach the rest of the device only through these: they import no
front end and no feature module, and a feature that is not running is
``None`` here, not a string lookup that may find anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stanzalink.access import AccessControl, Role
from stanzalink.clock import Clock
from stanzalink.jid import JID
from stanzalink.logring import RecentLines
from stanzalink.xml import Element

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.commands.registry import Registry
    from stanzalink.config import DeviceConfig


class PresenceView(Protocol):
    """What a controller's online resource announced."""

    @property
    def show(self) -> str:
        """ "" (available), chat, away, xa, dnd."""

    @property
    def status(self) -> str: ...


class RosterView(Protocol):
    """The roster feature, as ``who`` reads it."""

    def online_controllers(self) -> dict[JID, Role]: ...

    def presence(self, full: JID) -> PresenceView | None: ...


class Transfer(Protocol):
    """The outcome of one file transfer."""

    @property
    def ok(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def peer(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def seconds(self) -> float: ...


class FileService(Protocol):
    """The file transfer feature (``[files]``), as the file commands and the
    delivery of a :class:`~stanzalink.commands.model.FileOffer` use it."""

    @property
    def inbox(self) -> Path | None: ...
    @property
    def exports(self) -> list[Path]: ...
    @property
    def max_size(self) -> int: ...
    @property
    def min_free(self) -> int: ...
    @property
    def role_get(self) -> Role: ...
    @property
    def role_put(self) -> Role: ...

    def resolve_export(self, name: str, folder: bool = False) -> Path | None:
        """The regular file (or with ``folder`` the folder) ``name`` under an
        export path, symlinks and ``..`` resolved; None for anything else."""

    def received_files(self) -> Sequence[Transfer]: ...

    async def offer_file(
        self,
        to: str,
        path: str | os.PathLike[str],
        name: str = "",
        *,
        exported: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> Transfer: ...


class Device(Protocol):
    """What the device offers its commands (the agent is one)."""

    config: DeviceConfig
    access: AccessControl
    clock: Clock
    status: str  # the status line contacts see
    # the agent's own recent log lines (``stanzalink run`` keeps them), or None
    recent_log: RecentLines | None

    @property
    def jid(self) -> JID:
        """The device's full JID once bound (its bare JID before)."""

    async def iq(self, stanza: ET.Element, timeout: float | None = None) -> Element:
        """Send an IQ get/set and wait for the answer (StanzaError on an error)."""

    def set_status(self, text: str) -> None: ...

    def update_presence(self) -> None: ...

    def request_stop(self, exit_code: int = 0) -> None:
        """Stop the agent; ``stanzalink run`` exits with ``exit_code``."""

    def settings_changed(self, section: str) -> None:
        """``config set`` changed a key of ``[section]``: who reads it reads it again."""

    def roster(self) -> RosterView | None:
        """The roster feature, when it runs."""

    def files(self) -> FileService | None:
        """The file transfer feature, when it runs."""

    def controllers_seen(self) -> dict[JID, Role]:
        """The controllers whose presence the console saw (``who`` without the
        roster feature)."""


class CommandHost(Device, Protocol):
    """A :class:`Device` that also keeps the device's commands: what the
    front ends (console, ad-hoc commands) are given."""

    @property
    def commands(self) -> Registry:
        """The device's registry (built-in commands and ``[console] plugins``)."""

"""Which controllers are online (RFC 6121 §4): a bounded table of the
available presence of controllers' full JIDs, kept by the roster feature
(:class:`stanzalink.xep.roster.Roster` offers it to the other features).

Only senders the access module gave a role are entered; servers (no
localpart) and the device's own resource never are, and the device's other
resources only when ``[access]`` names them as full JIDs (then they are
controllers like any other).
"""

from __future__ import annotations

import logging

from stanzalink._value import Value, _set
from stanzalink.access import Role
from stanzalink.jid import JID
from stanzalink.xml import Element

log = logging.getLogger(__name__)

_C = "{jabber:client}"
SHOW_RANK = {"chat": 5, "": 4, "away": 3, "xa": 2, "dnd": 1}
MAX_ONLINE = 512  # full JIDs tracked
MAX_RESOURCES = 16  # per account
MAX_STATUS = 256  # characters of a status line kept


class Presence(Value):
    """What an online resource of a controller announced."""

    __slots__ = ("priority", "role", "show", "since", "status")
    role: Role
    show: str  # "" (available), chat, away, xa, dnd
    status: str
    priority: int
    since: float  # monotonic seconds

    def __init__(self, role: Role, show: str, status: str, priority: int, since: float) -> None:
        _set(self, "role", role)
        _set(self, "show", show)
        _set(self, "status", status)
        _set(self, "priority", priority)
        _set(self, "since", since)


class PresenceTable:
    def __init__(self) -> None:
        self._online: dict[JID, dict[JID, Presence]] = {}
        self._count = 0
        self._aside: tuple[dict[JID, dict[JID, Presence]], int] | None = None
        self._full_logged = False

    # ------------------------------------------------------------ reading
    def online(self) -> dict[JID, Role]:
        """Every online full JID, with its role."""
        return {j: p.role for res in self._online.values() for j, p in res.items()}

    def get(self, full: JID) -> Presence | None:
        return self._online.get(full.bare, {}).get(full)

    def best(self, account: JID) -> JID | None:
        """The resource to address an account at: the highest priority, then
        the most available show, then the most recent."""
        res = self._online.get(account.bare)
        if not res:
            return None
        return max(res, key=lambda j: (res[j].priority, SHOW_RANK[res[j].show], res[j].since))

    # ------------------------------------------------------------ session
    def suspend(self) -> None:
        """Offline: nobody is reachable; kept aside in case the stream resumes."""
        self._aside = (self._online, self._count)
        self._online, self._count = {}, 0

    def resume(self) -> None:
        """The stream resumed: the server kept its presence state, so do we."""
        if self._aside is not None:
            self._online, self._count = self._aside
        self._aside = None

    def reset(self) -> None:
        """A new session: the server sends everyone's presence again."""
        self._aside = None
        self._online, self._count = {}, 0

    # ------------------------------------------------------------ input
    def update(self, pres: Element, sender: JID, role: Role, now: float) -> None:
        """An available, unavailable or error presence from a controller."""
        bare = sender.bare
        res = self._online.get(bare)
        if (pres.get("type") or "available") != "available":
            if res is not None:
                for j in list(res) if sender.is_bare else [sender]:
                    if res.pop(j, None) is not None:
                        self._count -= 1
                if not res:
                    del self._online[bare]
            return
        known = res is not None and sender in res
        if not known and (self._count >= MAX_ONLINE or len(res or ()) >= MAX_RESOURCES):
            if not self._full_logged:
                log.warning("presence table full: %s not tracked", sender)
                self._full_logged = True
            return
        # the first of each child, read by iterating (no ElementPath when idle)
        texts: dict[str, str] = {}
        for child in pres:
            texts.setdefault(child.tag, child.text or "")
        show = texts.get(f"{_C}show") or ""
        try:
            priority = max(-128, min(127, int(texts.get(f"{_C}priority") or "0")))
        except ValueError:
            priority = 0
        status = (texts.get(f"{_C}status") or "")[:MAX_STATUS]
        if res is None:
            res = self._online[bare] = {}
        if not known:
            self._count += 1
        res[sender] = Presence(role, show if show in SHOW_RANK else "", status, priority, now)

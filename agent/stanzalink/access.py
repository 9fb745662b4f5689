"""Who may reach the device: the one place that decides.

The config names controllers by role::

    [access]
    admin = ["alice@example.net"]            # a bare JID: every resource of it
    operator = ["ops.example.net",           # a domain: every account on it
                "bob@example.net/console"]   # a full JID: that resource only
    viewer = []

Every feature asks this module before it answers anything ("may this sender
use this command, this HTTP path, send this file?").  Decisions are made on
the stanza's outer ``from`` as the server stamped it; a payload that claims
another sender (a forwarded or carbon-wrapped message) is never looked at
here.  Addresses are compared after RFC 7622 normalisation (see
:mod:`stanzalink.jid`), so two spellings of one account are one account and
a lookalike is a stranger.

Not controllers unless named explicitly (as a full JID for the own account,
as the bare domain for the server): a stanza with no ``from``, the device's
own account (its other resources, carbons) and the server's domain.
A domain entry admits the accounts on that domain, never the domain itself
(that is a server or a component, not a person).

Denials are logged with the sender and what was asked (once a minute per
account and action, at most 30 lines a minute in all); the reply the
feature sends reveals nothing about what exists (``service-unavailable``
for queries, silence for messages).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from enum import IntEnum

from stanzalink.jid import JID, InvalidJID, from_own_server

log = logging.getLogger(__name__)


class Role(IntEnum):
    """Roles, ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"{name!r} is not a role (admin, operator, viewer)") from None

    def __str__(self) -> str:
        return self.name.lower()


class AccessControl:
    """Maps a sender address to its role (or to nobody)."""

    def __init__(
        self,
        own: JID,
        entries: Mapping[str, Iterable[str]],
        *,
        deny_log_interval: float = 60.0,
    ) -> None:
        self.own = own.bare
        self.server = JID(None, own.domain)
        self._full: dict[JID, Role] = {}
        self._bare: dict[JID, Role] = {}
        self._domains: dict[str, Role] = {}
        self._named_server = False
        for role_name, items in entries.items():
            role = Role.parse(role_name)
            for item in items:
                j = JID.parse(item)
                if j.resource is not None:
                    table: dict[JID, Role] = self._full
                    key: JID = j
                elif j.local is None:
                    if j.domain == self.server.domain:
                        self._named_server = True
                    self._domains[j.domain] = max(role, self._domains.get(j.domain, role))
                    continue
                else:
                    table, key = self._bare, j
                table[key] = max(role, table.get(key, role))
        self._deny_log_interval = deny_log_interval
        self._last_denial: dict[tuple[str, str], float] = {}
        # at most this many denial lines per interval in all (a remote server
        # can send from any number of accounts); the rest are counted
        self.deny_log_burst = 30
        self._window = float("-inf")
        self._window_lines = 0
        self._unlogged = 0

    # ------------------------------------------------------------ decisions
    def role(self, sender: str | JID | None) -> Role | None:
        """The role of the stanza's outer ``from``, or None for nobody."""
        j = _as_jid(sender)
        if j is None:
            return None
        best: Role | None = self._full.get(j)
        if j.bare == self.own:
            # the own account: only a full JID named explicitly
            return best
        if j.local is None:
            # a server or component: only by a full JID entry (never by a
            # domain entry, which admits accounts)
            return best
        for candidate in (self._bare.get(j.bare), self._domains.get(j.domain)):
            if candidate is not None and (best is None or candidate > best):
                best = candidate
        return best

    def allows(self, sender: str | JID | None, need: Role) -> bool:
        role = self.role(sender)
        return role is not None and role >= need

    def check(self, sender: str | JID | None, need: Role, what: str) -> Role | None:
        """The sender's role if it is at least ``need``; else None, and the
        denial is logged (once a minute per sender and action)."""
        role = self.role(sender)
        if role is not None and role >= need:
            return role
        self.denied(sender, what, role, need)
        return None

    def denied(
        self,
        sender: str | JID | None,
        what: str,
        role: Role | None = None,
        need: Role | None = None,
    ) -> None:
        """Log a denial: once an interval per account (all its resources)
        and action, and at most ``deny_log_burst`` lines an interval in all."""
        who = str(sender) if sender is not None else "(no from)"
        j = _as_jid(sender)
        key = (str(j.bare) if j is not None else who[:256], what)
        now = time.monotonic()
        last = self._last_denial.get(key)
        if last is not None and now - last < self._deny_log_interval:
            return
        if len(self._last_denial) > 4096:
            self._last_denial.clear()  # bounded
        self._last_denial[key] = now
        if now - self._window >= self._deny_log_interval:
            self._window, self._window_lines = now, 0
        if self._window_lines >= self.deny_log_burst:
            self._unlogged += 1
            return
        self._window_lines += 1
        more = f" ({self._unlogged} more denials not logged)" if self._unlogged else ""
        self._unlogged = 0
        if role is None:
            log.warning("denied %s to %s: not a controller%s", what, who, more)
        else:
            log.warning("denied %s to %s: role %s, needs %s%s", what, who, role, need, more)

    def from_own_server(self, sender: str | JID | None) -> bool:
        """Sent by the own server on the account's behalf: no ``from``, the
        own bare JID (roster pushes, RFC 6121 §2.1.6) or the server domain
        (the rule is :func:`stanzalink.jid.from_own_server`, which the
        session uses too)."""
        return from_own_server(self.own, sender)

    # ------------------------------------------------------------ listing
    def controllers(self) -> dict[JID, Role]:
        """Every bare or full JID named in the config, with its role (the
        roster is brought in line with the bare ones)."""
        out: dict[JID, Role] = dict(self._bare)
        for j, r in self._full.items():
            b = j.bare
            if b != self.own and (b not in out or r > out[b]):
                out[b] = r
        return out

    def domains(self) -> dict[str, Role]:
        return dict(self._domains)


# ------------------------------------------------------------ config checks
def check_entries(
    own: str | JID, entries: Mapping[str, Iterable[str]], register: bool = False
) -> list[str]:
    """Check the ``[access]`` lists of a device whose bare JID is ``own``;
    the warnings (for ``check-config``), or ValueError for what is refused:

    - one address under two roles (which one was meant?);
    - a domain entry naming the device's own server while ``[account]
      register = true``: the device registers there, so the server takes
      in-band registrations, and anyone who registers an account becomes a
      controller.  Without ``register`` it is a warning: the entry admits
      every account the server has, and will have.
    """
    own_domain = (own if isinstance(own, JID) else JID.parse(own)).domain
    seen: dict[JID, str] = {}
    warnings: list[str] = []
    for role_name, items in entries.items():
        for item in items:
            j = JID.parse(item)
            other = seen.get(j)
            if other is not None and other != role_name:
                raise ValueError(
                    f"access: {item!r} is listed as {other} and as {role_name}: name it once"
                )
            seen[j] = role_name
            if j.local is None and j.resource is None and j.domain == own_domain:
                what = (
                    f"access.{role_name}: {item!r} is the device's own server: every account"
                    " on it is a controller"
                )
                if register:
                    raise ValueError(
                        f"{what}, and [account] register = true means it takes registrations"
                        " (anyone could become one); name the controllers' accounts instead"
                    )
                warnings.append(f"{what} (name the controllers' accounts instead)")
    return warnings


def _as_jid(sender: str | JID | None) -> JID | None:
    if sender is None:
        return None
    if isinstance(sender, JID):
        return sender
    try:
        return JID.parse(sender)
    except InvalidJID:
        return None

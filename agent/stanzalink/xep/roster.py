"""RFC 6121 roster and presence for the device: the roster kept in line
with ``[access]``, subscriptions decided by the access module, and which
controllers are online.

- **Going online** (a new session, not a resumed one) the roster is fetched
  (RFC 6121 §2.1.3).  The last version and items are kept in memory across
  reconnects and the version is sent back (roster versioning, RFC 6121
  §2.6 / XEP-0237): an empty result means "unchanged" (Prosody answers so,
  and sends the full roster with a new ``ver`` otherwise).  Then every bare
  JID of ``access.controllers()`` missing from the roster is added (a roster
  set with a name); a controller the device is not subscribed to is asked
  (``subscribe``), one not subscribed to the device is pre-approved (RFC
  6121 §3.4: ``subscribed`` before they ask; Prosody 0.12 then answers their
  request itself), so the subscription becomes mutual; an entry nobody in
  ``[access]`` admits any more is removed (``unlisted = "remove"``, the
  default: the server also cancels both subscriptions) or kept and ignored
  (``"keep"``).  A domain entry cannot be put on a roster: its accounts are
  approved when they ask.
- **Subscription requests** from anyone the access module admits (any
  role; the bare account of a full-JID entry too) are approved with
  ``subscribed`` and answered with the device's own ``subscribe`` when it is
  not subscribed to them yet, so the subscription becomes mutual.  Anyone
  else gets ``unsubscribed``; the refusal is logged by the access module
  and, with ``notify_admins = true``, told to the admins who are online in
  a chat message (at most one per requester an hour and five in ten
  minutes; the rest are counted in the next notice).  Requests that claim
  to come from the device's own account, its server or nobody are ignored.
- **Roster pushes** are served only from the own server (no ``from``, the
  own bare JID or the server's domain; the agent's gate answers anyone else
  ``service-unavailable`` and logs it).  A push carries exactly one item
  (RFC 6121 §2.1.6), else ``bad-request``.
- **Presence** of controllers (available/unavailable per full JID, with
  show, status and priority) is tracked in a bounded table
  (:mod:`stanzalink.xep.presence`); the device's own resources (unless named
  in ``[access]`` as a full JID) and servers are not controllers.  It is
  empty while offline, comes back when the stream resumes and starts
  afresh with a new session.  :meth:`Roster.online_controllers` and
  :meth:`Roster.best_resource` are how the console and other features
  address them.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

from stanzalink._value import Value, _set
from stanzalink.access import Role, check_entries
from stanzalink.config import Checking, ConfigError, Key, Section, boolean, choice, str_list
from stanzalink.errors import LocalProtocolError, StanzalinkError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.base import OWN_SERVER, Built, Context, Feature, IQRoute, StanzaError
from stanzalink.xep.presence import Presence, PresenceTable
from stanzalink.xml import Element
from stanzalink.xml.plain import E, PlainElement

log = logging.getLogger(__name__)

NS = "jabber:iq:roster"
QUERY = f"{{{NS}}}query"
ITEM = f"{{{NS}}}item"
_GROUP = f"{{{NS}}}group"
_C = "{jabber:client}"
_SUBSCRIPTIONS = frozenset({"none", "to", "from", "both"})
_SUB_TYPES = frozenset({"subscribe", "subscribed", "unsubscribe", "unsubscribed"})

MAX_ITEMS = 5000  # roster entries kept
MAX_RACED_PUSHES = 256
NOTICE_WINDOW = 600.0  # at most NOTICE_MAX admin notices in this many seconds
NOTICE_MAX = 5
NOTICE_PER_SENDER = 3600.0  # one notice per requester in this many seconds
MAX_NOTICE_SENDERS = 1024


class RosterItem(Value):
    """A roster item (RFC 6121 §2.1.2)."""

    __slots__ = ("approved", "ask", "groups", "jid", "name", "subscription")
    jid: JID
    subscription: str
    ask: bool
    name: str | None
    groups: tuple[str, ...]
    approved: bool  # pre-approved (RFC 6121 §3.4; Prosody does not say)

    def __init__(
        self,
        jid: JID,
        subscription: str = "none",
        ask: bool = False,
        name: str | None = None,
        groups: tuple[str, ...] = (),
        approved: bool = False,
    ) -> None:
        _set(self, "jid", jid)
        _set(self, "subscription", subscription)
        _set(self, "ask", ask)
        _set(self, "name", name)
        _set(self, "groups", groups)
        _set(self, "approved", approved)


def parse_item(el: Element) -> RosterItem | None:
    """An item of a roster result or push; None for subscription='remove'.
    StanzaError bad-request when it is malformed."""
    try:
        jid = JID.parse(el.get("jid") or "")
    except InvalidJID:
        raise StanzaError("bad-request", "roster item without a valid jid", "modify") from None
    subscription = el.get("subscription") or "none"
    if subscription == "remove":
        return None
    if subscription not in _SUBSCRIPTIONS or not jid.is_bare:
        raise StanzaError("bad-request", "bad roster item", "modify")
    groups = tuple(g.text or "" for g in el if g.tag == _GROUP)[:32]
    ask, approved = el.get("ask") == "subscribe", el.get("approved") in ("true", "1")
    return RosterItem(jid, subscription, ask, el.get("name"), groups, approved)


ROLES = ("admin", "operator", "viewer")


def _check_access(values: dict[str, Any], checking: Checking) -> None:
    for role in ROLES:
        for entry in values[role]:
            try:
                JID.parse(entry)
            except InvalidJID as exc:
                raise ConfigError(
                    f"access.{role}: {entry!r} is not a JID or domain: {exc}"
                ) from None
    account = checking.given.get("account", {})
    try:
        JID.parse(account.get("jid", ""))
    except InvalidJID:
        return  # [account] jid is checked (and refused) on its own
    try:
        check_entries(account["jid"], access_roles(values), bool(account.get("register")))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


# who may reach the device, by role (the access module decides with the
# roles; the roster keeps the subscriptions in step with them)
ACCESS = Section(
    "access",
    {
        "admin": Key(str_list, [], "JIDs or domains with the admin role"),
        "operator": Key(str_list, [], "... the operator role"),
        "viewer": Key(str_list, [], "... the viewer role"),
        "unlisted": Key(choice("remove", "keep"), "remove", "roster entries no longer admitted"),
        "notify_admins": Key(boolean, False, "tell the admins of a refused stranger"),
    },
    _check_access,
)


def access_roles(given: dict[str, Any]) -> dict[str, list[str]]:
    """The roles among the ``[access]`` values a file gives (only those it
    names)."""
    return {k: v for k, v in given.items() if k in ROLES}


class Roster(Feature):
    name = "roster"
    config_sections = (ACCESS,)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        section = ACCESS.of(ctx.config)
        self.unlisted: str = section["unlisted"]
        self.notify_admins: bool = section["notify_admins"]
        self.items: dict[JID, RosterItem] = {}
        self.version: str | None = None
        self.synced = False  # the roster of this session is in
        # the running (or last) roster fetch and reconciliation
        self.sync_task: asyncio.Task[None] | None = None
        self._fetching = False
        self._raced: list[tuple[JID, RosterItem | None]] = []
        self._presence = PresenceTable()
        self._notices: deque[float] = deque()
        self._notice_senders: dict[JID, float] = {}
        self._suppressed = 0
        self._dropping = False

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("set", QUERY, self._push, OWN_SERVER)]

    # ------------------------------------------------------------ lifecycle
    def on_online(self, resumed: bool) -> None:
        if resumed:
            self._presence.resume()  # the server kept the session and its presence state
            return
        self._presence.reset()  # a new session: the server sends presence again
        if self.sync_task is not None:
            self.sync_task.cancel()
        self.synced = False
        self.sync_task = self.ctx.spawn(self.sync(), "roster-sync")

    def on_offline(self) -> None:
        self._presence.suspend()

    async def stop(self) -> None:
        if self.sync_task is not None:
            self.sync_task.cancel()

    # ------------------------------------------------------------ public
    def online_controllers(self) -> dict[JID, Role]:
        """Every online full JID of a controller, with its role (empty offline)."""
        return self._presence.online()

    def presence(self, full: JID) -> Presence | None:
        """What an online controller's resource announced (show, status, priority)."""
        return self._presence.get(full)

    def best_resource(self, bare: JID) -> JID | None:
        """The resource to address a controller at: the highest priority,
        then the most available show, then the most recent."""
        return self._presence.best(bare)

    # ------------------------------------------------------------ roster sync
    async def sync(self) -> None:
        """Fetch the roster and bring it in line with [access]."""
        query = E(QUERY)
        sent_ver = self.version
        if sent_ver is not None:
            query.set("ver", sent_ver)
        self._fetching, self._raced = True, []
        try:
            reply = await self.ctx.iq(E(f"{_C}iq", {"type": "get"}, query))
        except (StanzalinkError, TimeoutError) as exc:
            log.warning("roster fetch failed: %s", exc)
            return
        finally:
            self._fetching = False
        # (read by iterating: the roster is read on the idle path, where
        # nothing loads ElementPath)
        result = next((c for c in reply if c.tag == QUERY), None)
        els = [c for c in result if c.tag == ITEM] if result is not None else []
        if sent_ver is not None and not els and (result is None or result.get("ver") == sent_ver):
            # RFC 6121 §2.6.3: an empty result (or the same version again) means
            # "unchanged"; changes, if any, follow as pushes
            log.info("roster unchanged since version %s", sent_ver)
        else:
            items: dict[JID, RosterItem] = {}
            for el in els:
                try:
                    item = parse_item(el)
                except StanzaError:
                    log.warning("roster result: malformed item %r ignored", el.get("jid"))
                    continue
                if item is not None and len(items) < MAX_ITEMS:
                    items[item.jid] = item
            self.items = items
            self.version = result.get("ver") if result is not None else None
            for jid, raced in self._raced:  # pushes that crossed the result: idempotent
                self._apply(jid, raced)
            if self._raced:
                self.version = None  # which is newer is unknown: fetch all next time
            n = len(items)
            log.info("roster: %d item%s (version %s)", n, "" if n == 1 else "s", self.version)
        self._raced = []
        self.synced = True
        await self.reconcile()

    async def reconcile(self) -> None:
        """Add the controllers missing from the roster, ask them for a
        subscription and pre-approve theirs; remove (or keep) the entries
        [access] no longer admits."""
        for jid in self.ctx.access.controllers():
            item = self.items.get(jid)
            if item is None:
                el = E(ITEM, {"jid": str(jid), "name": jid.local or str(jid)})
                if not await self._roster_set(el, f"add {jid}"):
                    continue
            if item is None or (item.subscription in ("none", "from") and not item.ask):
                self._send_presence(jid, "subscribe")
            if item is None or (item.subscription in ("none", "to") and not item.approved):
                self._send_presence(jid, "subscribed")  # pre-approval
        for jid in list(self.items):
            if self._admitted(jid):
                continue
            if self.unlisted == "remove":
                log.info("roster: removing %s (not in [access])", jid)
                await self._roster_set(E(ITEM, {"jid": str(jid), "subscription": "remove"}), "")
            else:
                log.info("roster: keeping %s (not in [access]; ignored)", jid)

    async def _roster_set(self, item: PlainElement, what: str) -> bool:
        try:
            await self.ctx.iq(E(f"{_C}iq", {"type": "set"}, E(QUERY, None, item)))
        except (StanzalinkError, TimeoutError) as exc:
            log.warning("roster set %s failed: %s", what or item.get("jid"), exc)
            return False
        return True

    def _push(self, iq: Element, role: Role | None) -> None:
        query = next((c for c in iq if c.tag == QUERY), None)
        els = [c for c in query if c.tag == ITEM] if query is not None else []
        if query is None or len(els) != 1:
            raise StanzaError("bad-request", "a roster push carries exactly one item", "modify")
        try:
            jid = JID.parse(els[0].get("jid") or "")
        except InvalidJID:
            raise StanzaError("bad-request", "roster item without a valid jid", "modify") from None
        item = parse_item(els[0])
        self._apply(jid, item)
        if self._fetching and len(self._raced) < MAX_RACED_PUSHES:
            self._raced.append((jid, item))
        if query.get("ver") is not None:
            self.version = query.get("ver")
        return None  # an empty result (RFC 6121 §2.1.6)

    def _apply(self, jid: JID, item: RosterItem | None) -> None:
        if item is None:
            self.items.pop(jid, None)
        elif jid in self.items or len(self.items) < MAX_ITEMS:
            self.items[jid] = item
        else:
            log.warning("roster: more than %d items; %s not kept", MAX_ITEMS, jid)

    def _admitted(self, jid: JID) -> bool:
        """May this account be on the roster and subscribe to the device?"""
        access = self.ctx.access
        return access.role(jid) is not None or jid.bare in access.controllers()

    # ------------------------------------------------------------ presence
    def on_presence(self, pres: Element, role: Role | None) -> bool:
        ptype = pres.get("type") or "available"
        sender = _jid(pres.get("from"))
        if ptype in _SUB_TYPES:
            if ptype == "subscribe":
                self._subscribe_request(sender)
            return True
        if ptype in ("available", "unavailable", "error"):
            self._track(pres, sender, role)
        return False

    def _subscribe_request(self, sender: JID | None) -> None:
        access = self.ctx.access
        if sender is None or sender.bare == access.own or sender.local is None:
            # nobody, the device's own account, a server: not a person asking
            access.denied(sender, "presence subscription")
            return
        bare = sender.bare
        if self._admitted(sender):
            log.info("approving the presence subscription of %s", bare)
            self._send_presence(bare, "subscribed")
            item = self.items.get(bare)
            if item is None or (item.subscription in ("none", "from") and not item.ask):
                self._send_presence(bare, "subscribe")
            return
        access.denied(sender, "presence subscription")
        self._send_presence(bare, "unsubscribed")
        if self.notify_admins:
            self._notify(bare)

    def _notify(self, bare: JID) -> None:
        now = self.ctx.now()
        while self._notices and now - self._notices[0] >= NOTICE_WINDOW:
            self._notices.popleft()
        for j in list(self._notice_senders):  # in time order: drop the old ones
            if now - self._notice_senders[j] < NOTICE_PER_SENDER:
                break
            del self._notice_senders[j]
        if bare in self._notice_senders or len(self._notices) >= NOTICE_MAX:
            self._suppressed += 1
            return
        admins = {j.bare for j, r in self.online_controllers().items() if r is Role.ADMIN}
        targets = [t for t in (self.best_resource(a) for a in sorted(admins, key=str)) if t]
        if not targets:
            return
        if len(self._notice_senders) >= MAX_NOTICE_SENDERS:
            del self._notice_senders[next(iter(self._notice_senders))]
        self._notice_senders[bare] = now
        self._notices.append(now)
        text = f"Refused a presence subscription request from {bare} (not in [access])."
        if self._suppressed:
            text += f" {self._suppressed} more refused requests were not reported."
            self._suppressed = 0
        # a message is built with ElementTree: the client adds its origin-id so
        from stanzalink.xml.builder import E as tree_element

        for to in targets:
            body = tree_element(f"{_C}body", text=text)
            self._send(tree_element(f"{_C}message", {"to": str(to), "type": "chat"}, body))

    def _track(self, pres: Element, sender: JID | None, role: Role | None) -> None:
        if sender is None or role is None or sender.local is None or sender == self.ctx.jid:
            return  # nobody, a stranger, a server, the device itself
        self._presence.update(pres, sender, role, self.ctx.now())

    def _send_presence(self, to: JID, ptype: str) -> None:
        self._send(E(f"{_C}presence", {"to": str(to), "type": ptype}))

    def _send(self, stanza: Built) -> None:
        """Send, or drop when the bounded output queue is full (a flood of
        requests must not break the connection); logged once per episode."""
        try:
            self.ctx.send(stanza)
        except LocalProtocolError as exc:
            if not self._dropping:
                log.warning("roster: output queue full, dropping answers (%s)", exc)
            self._dropping = True
        else:
            self._dropping = False


def _jid(text: str | None) -> JID | None:
    if text is None:
        return None
    try:
        return JID.parse(text)
    except InvalidJID:
        return None

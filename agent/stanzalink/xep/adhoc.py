"""XEP-0050 Ad-Hoc Commands: every console command as a data-form dialog.

The commands are the agent's (:mod:`stanzalink.commands`, the registry the
console serves too, ``ctx.commands``), read at every request, so a command
registered at run time is offered at once.  A controller's client lists them by disco#items on
the node ``http://jabber.org/protocol/commands`` (only those its role may
run) and runs one by ``<command node='NAME'/>``:

- a command without arguments and without confirmation runs at once and
  answers ``completed`` with its result;
- a command with arguments first answers a form (one field per argument:
  bool -> boolean, choices -> list-single, int/float -> text-single checked
  on submit, rest-of-line -> text-multi, str -> text-single);
- a command with ``confirm`` then asks its question (actions prev and
  complete) and runs only on ``complete``.

Results are one result form (:mod:`~stanzalink.xep.command_forms`): a
:class:`Table` alone is ``<reported/>`` and ``<item/>`` rows, beside other
content a text-multi field; a :class:`KeyValue` labelled fields, a one-line
text an info note, longer text a text-multi field; a :class:`CommandError` a
``completed`` answer with an error note (XEP-0050 §3.6).  A
:class:`FileOffer` starts a Jingle file transfer to the requester's full
JID (the files feature) and is answered with the note ``sending NAME (N
bytes)``; the outcome follows as a chat message.

Sessions belong to the full JID that started them, expire after
``[adhoc] session_timeout`` seconds idle and are bounded in number
(``max_sessions``; four per account, all its resources together, the oldest
of that account ends); at most eight commands run at once, four per account,
each at most ``[console] command_timeout`` seconds.
A command that runs late follows the console's rule (``[console]
max_delay``): a request IQ seldom carries a ``<delay/>`` stamp (servers do
not store IQs offline), but one held up and re-sent on a stream resumption
may; without a stamp it is fresh.  Older than ``max_delay``, a command that
only reads runs and its first note says when it was sent, one that changes
something answers ``completed`` with an error note quoting it (name and
arguments) instead of running.  Every text of an answer passes the
console's filter (:func:`stanzalink.xep.xhtml_im.clean`): a character XML
cannot carry (an ANSI escape in a log line) is dropped, the answer stays a
normal result.
The role is checked at every stage, by the console's rule
(:mod:`stanzalink.commands.authz`): disco lists only the commands the
requester's role may run, and the info of any other node is
``item-not-found``; running a command the role may not run is ``forbidden``
(XEP-0050 §2.2) with a text naming the role it needs, running one that does
not exist ``item-not-found``.  A session id that is not the requester's own
is ``bad-sessionid``, like one never issued.  Strangers never get here (the
agent answers them ``service-unavailable``).  Every request that names a
command is audited like a console line (:mod:`stanzalink.commands.audit`:
who, role, command and arguments, result, marked ``ad-hoc``).

The module is over 500 lines because this docstring is the front end's
contract with a controller's client (50 lines); the code is one feature
class whose methods share the session and running-command tables, the forms
themselves being in :mod:`stanzalink.xep.command_forms`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from stanzalink.access import Role
from stanzalink.commands import audit, authz, files
from stanzalink.commands.context import CommandHost
from stanzalink.commands.model import (
    Command,
    CommandError,
    FileOffer,
    Invocation,
    quote,
    run_handler,
    too_late,
)
from stanzalink.commands.settings import CONSOLE, Settings
from stanzalink.jid import JID
from stanzalink.xep import command_forms as cf
from stanzalink.xep import forms
from stanzalink.xep.adhoc_config import ADHOC
from stanzalink.xep.base import Context, Feature, Identity, IQRoute, StanzaError, error_reply
from stanzalink.xep.delay import Delay, delay_of
from stanzalink.xep.disco import DiscoItem, NodeInfo
from stanzalink.xep.forms import Form, FormError
from stanzalink.xep.xhtml_im import clean
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

log = logging.getLogger(__name__)

NS = "http://jabber.org/protocol/commands"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
ACTIONS = ("execute", "cancel", "prev", "next", "complete")
PER_REQUESTER = 4
MAX_RUNNING = 8  # commands running at once, all requesters
PROGRESS_INTERVAL = 2.0  # seconds between progress messages of one command
ENDED_REMEMBERED = 256


class CommandFault(Exception):
    """An XEP-0050 error: a stanza condition plus the commands-namespace one."""

    def __init__(self, condition: str, specific: str | None, etype: str, text: str = "") -> None:
        super().__init__(text or condition)
        self.condition, self.specific, self.etype, self.text = condition, specific, etype, text


def _fault(specific: str, text: str = "") -> CommandFault:
    if specific == "session-expired":
        return CommandFault("not-allowed", specific, "cancel", text)
    return CommandFault("bad-request", specific, "modify", text)


@dataclass
class Session:
    id: str
    owner: JID
    node: str
    stage: str  # "form" or "confirm"
    touched: float
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """A command running for a requester."""

    inv: Invocation
    late: bool = False  # answered "still running"; the result goes by message
    progress: str = ""  # the last inv.progress() text
    told: float = float("-inf")  # when progress was last sent


class Host(Context, CommandHost, Protocol):
    """What the ad-hoc front end needs of the agent: a feature's context, and
    the device's commands with what they need."""


class AdHoc(Feature):
    name = "adhoc"
    config_sections = (ADHOC, CONSOLE)
    disco_features = (NS,)
    ctx: Host

    def __init__(self, ctx: Host) -> None:
        super().__init__(ctx)
        self.registry = ctx.commands  # the console's too
        cfg = ADHOC.of(ctx.config)
        self.max_sessions: int = cfg["max_sessions"]
        self.session_timeout: float = cfg["session_timeout"]
        self.reply_within: float = cfg["reply_within"]
        # the console's limits: a command still running then is stopped
        console = Settings.of(ctx.config.section("console"))
        self.command_timeout = console.command_timeout
        self.max_delay = console.max_delay
        self.wall = time.time  # the age of a delayed request is wall-clock time
        self.running: dict[int, Run] = {}
        self.sessions: dict[str, Session] = {}
        self._ended: OrderedDict[str, tuple[JID, str]] = OrderedDict()

    def iq_routes(self) -> list[IQRoute]:
        routes = [IQRoute("set", f"{{{NS}}}command", self._command, Role.VIEWER)]
        return routes

    # ------------------------------------------------------------ commands
    def commands(self) -> dict[str, Command]:
        """Every command by name, whatever the role."""
        return {c.name: c for c in self.registry.all()}

    def visible_to(self, role: Role) -> list[Command]:
        return authz.runnable(self.registry, role, self.ctx)

    def lookup(self, node: str, role: Role) -> Command | None:
        """The command ``node`` if ``role`` may run it."""
        return authz.decide(self.registry, node, role, self.ctx).command if node else None

    def _audit(self, who: JID, role: Role | None, line: str, result: str, detail: str = "") -> None:
        file = Settings.of(self.ctx.config.section("console")).audit_log
        audit.record(who, role, line, result, f"ad-hoc; {detail}" if detail else "ad-hoc", file)

    # ------------------------------------------------------------ disco hooks
    def disco_nodes(self) -> dict[str, Callable[[Role], NodeInfo | None]]:
        """The nodes this feature owns, for the disco feature: the command
        list and one node per command (a node the asker's role may not run
        answers item-not-found, like one that does not exist)."""
        out: dict[str, Callable[[Role], NodeInfo | None]] = {NS: partial(self._node, NS)}
        for name in self.commands():
            out[name] = partial(self._node, name)
        return out

    def _node(self, node: str, role: Role) -> NodeInfo | None:
        found = self.node_info(node, role)
        if found is None:
            return None
        items = []
        if node == NS:
            listed = self.visible_to(role)
            items = [DiscoItem(None, c.name, cf.menu_label(c, listed)) for c in listed]
        return NodeInfo(identities=found[0], features=found[1], items=items)

    def node_items(self, node: str | None, role: Role) -> list[ET.Element] | None:
        """The disco#items of ``node`` for a requester of ``role``, or None
        when the node is not this feature's."""
        if node != NS:
            return None
        listed = self.visible_to(role)
        return [
            E(
                f"{{{DISCO_ITEMS}}}item",
                {"jid": str(self.ctx.jid), "node": c.name, "name": cf.menu_label(c, listed)},
            )
            for c in listed
        ]

    def node_info(self, node: str | None, role: Role) -> tuple[list[Identity], list[str]] | None:
        """(identities, features) of ``node`` for ``role``, or None when the
        node is not this feature's or the role may not run that command."""
        if node == NS:
            return [Identity("automation", "command-list", "Commands")], [NS]
        decision = authz.decide(self.registry, node, role, self.ctx) if node else None
        if decision is None or decision.kind != authz.RUN or decision.command is None:
            return None
        cmd = decision.command
        label = cf.menu_label(cmd, self.visible_to(role))
        return [Identity("automation", "command-node", label)], [NS, forms.NS]

    # ------------------------------------------------------------ execution
    async def _command(self, iq: Element, role: Role | None) -> ET.Element:
        assert role is not None
        try:
            return cf.filtered(await self._handle(iq, role))
        except StanzaError as exc:
            fault = CommandFault(exc.condition, None, exc.etype, exc.text)
        except CommandFault as exc:
            fault = exc
        reply = error_reply(iq, fault.condition, fault.etype, fault.text)
        err = reply.find("{jabber:client}error")
        assert err is not None
        if fault.specific:
            sub(err, f"{{{NS}}}{fault.specific}")
        # the request's own <command/> (without its payload) goes back with the
        # error, so the requester can tell which of its sessions failed
        el = iq.find(f"{{{NS}}}command")
        if el is not None:
            keep = {k: el.get(k) for k in ("node", "sessionid", "action")}
            reply.insert(0, E(f"{{{NS}}}command", forms.attrs(**keep)))
        return cf.filtered(reply)

    async def _handle(self, iq: Element, role: Role) -> ET.Element:
        el = iq.find(f"{{{NS}}}command")
        assert el is not None
        sender = JID.parse(iq.get("from"))
        node = el.get("node") or ""
        action = el.get("action") or "execute"
        if action not in ACTIONS:
            raise _fault("malformed-action", f"unknown action {action!r}")
        if not node:
            raise StanzaError("bad-request", "the command has no node", "modify")
        decision = authz.decide(self.registry, node, role, self.ctx)
        if decision.kind == authz.NEEDS:
            assert decision.need is not None
            self.ctx.access.denied(sender, f"ad-hoc command {node}", role, decision.need)
            self._audit(sender, role, node, "denied", f"needs {decision.need}")
            raise StanzaError("forbidden", authz.refusal(node, decision.need, role))
        cmd = decision.command
        if cmd is None:
            self._audit(sender, role, node, "unknown")
            raise StanzaError("item-not-found")
        delay = delay_of(iq, self.wall(), skew=self.max_delay)
        late = delay if delay is not None and delay.older_than(self.max_delay) else None
        sid = el.get("sessionid")
        if sid is None:
            if action != "execute":
                raise _fault("bad-sessionid", f"{action} needs a sessionid")
            return await self._start(cmd, sender, role, el, late)
        session = self._session(sid, sender, node)
        session.touched = self.ctx.now()
        return await self._continue(cmd, session, role, action, el, late)

    def _session(self, sid: str, sender: JID, node: str) -> Session:
        self._expire()
        s = self.sessions.get(sid)
        if s is not None and s.owner == sender and s.node == node:
            return s
        if self._ended.get(sid) == (sender, node):
            raise _fault("session-expired", "this session has ended")
        raise _fault("bad-sessionid", "no such session")

    def _expire(self) -> None:
        now = self.ctx.now()
        for s in [s for s in self.sessions.values() if now - s.touched > self.session_timeout]:
            self._end(s.id)

    def _end(self, sid: str) -> None:
        s = self.sessions.pop(sid, None)
        if s is not None:
            self._remember(sid, s.owner, s.node)

    def _remember(self, sid: str, owner: JID, node: str) -> None:
        self._ended[sid] = (owner, node)
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    def _new_session(self, cmd: Command, sender: JID, stage: str) -> Session:
        self._expire()
        # per account: each resource of one account is a requester of its own
        mine = [s for s in self.sessions.values() if s.owner.bare == sender.bare]
        if len(mine) >= PER_REQUESTER:
            self._end(min(mine, key=lambda s: s.touched).id)
        if len(self.sessions) >= self.max_sessions:
            raise StanzaError("resource-constraint", "too many command sessions", "wait")
        s = Session(secrets.token_urlsafe(12), sender, cmd.name, stage, self.ctx.now())
        self.sessions[s.id] = s
        return s

    async def _start(
        self, cmd: Command, sender: JID, role: Role, el: Element, late: Delay | None = None
    ) -> ET.Element:
        if cmd.args:
            session = self._new_session(cmd, sender, "form")
            if forms.find_form(el) is not None:  # the form came with the request
                try:
                    return await self._continue(cmd, session, role, "execute", el, late)
                except CommandFault:
                    self._end(session.id)
                    raise
            return self._stage(cmd, session)
        if cmd.confirm:
            self._audit(sender, role, cmd.name, "asked")
            return self._stage(cmd, self._new_session(cmd, sender, "confirm"))
        sid = secrets.token_urlsafe(12)
        self._remember(sid, sender, cmd.name)
        return await self._run(cmd, sid, sender, role, {}, late)

    async def _continue(
        self,
        cmd: Command,
        s: Session,
        role: Role,
        action: str,
        el: Element,
        late: Delay | None = None,
    ) -> ET.Element:
        if action == "cancel":
            self._end(s.id)
            self._audit(s.owner, role, cf.command_line(cmd, s.args), "cancelled")
            return self._reply(cmd, s.id, "canceled")
        allowed, default = self._actions(cmd, s.stage)
        if action == "execute":
            action = default
        if action not in allowed:
            raise _fault("bad-action", f"{action} is not possible at this stage")
        if action == "prev":
            s.stage = "form"
            return self._stage(cmd, s)
        if s.stage == "form":
            s.args = self._read_form(cmd, el)
            if action == "next":
                s.stage = "confirm"
                self._audit(s.owner, role, cf.command_line(cmd, s.args), "asked")
                return self._stage(cmd, s)
        self._end(s.id)
        return await self._run(cmd, s.id, s.owner, role, s.args, late)

    @staticmethod
    def _actions(cmd: Command, stage: str) -> tuple[tuple[str, ...], str]:
        if stage == "form":
            return (("next",), "next") if cmd.confirm else (("complete",), "complete")
        return (("prev", "complete") if cmd.args else ("complete",)), "complete"

    def _reply(self, cmd: Command, sid: str, status: str) -> ET.Element:
        return E(f"{{{NS}}}command", {"node": cmd.name, "sessionid": sid, "status": status})

    def _stage(self, cmd: Command, s: Session) -> ET.Element:
        reply = self._reply(cmd, s.id, "executing")
        allowed, default = self._actions(cmd, s.stage)
        acts = sub(reply, f"{{{NS}}}actions", {"execute": default})
        for a in allowed:
            sub(acts, f"{{{NS}}}{a}")
        form = cf.args_form(cmd, s.args) if s.stage == "form" else cf.confirm_form(cmd, s.args)
        reply.append(form.to_element())
        return reply

    def _read_form(self, cmd: Command, el: Element) -> dict[str, Any]:
        try:
            return cf.read_args(cmd, forms.find_form(el))
        except FormError as exc:
            raise _fault("bad-payload", exc.text) from None

    # ------------------------------------------------------------ running
    async def _run(
        self,
        cmd: Command,
        sid: str,
        sender: JID,
        role: Role,
        args: dict[str, Any],
        late: Delay | None = None,
    ) -> ET.Element:
        first: list[tuple[str, str]] = []
        if late is not None:
            line = cf.command_line(cmd, args)
            if not cmd.only_reads(args):
                log.info("ad-hoc command %r from %s refused: %s", line, sender, late.describe())
                self._audit(sender, role, line, "refused", f"{late.describe()}, over max_delay")
                reply = self._reply(cmd, sid, "completed")
                sub(
                    reply,
                    f"{{{NS}}}note",
                    {"type": "error"},
                    text=too_late(line, late.stamp, late.age, self.max_delay),
                )
                return reply
            first = [("info", f"{quote(line)} ({late.describe()})")]
        if len(self.running) >= MAX_RUNNING:
            raise StanzaError("resource-constraint", "too many commands are running", "wait")
        if sum(1 for r in self.running.values() if r.inv.sender.bare == sender.bare) >= (
            PER_REQUESTER
        ):
            raise StanzaError("resource-constraint", "you have too many commands running", "wait")
        inv = Invocation(command=cmd, sender=sender, role=role, args=args, device=self.ctx)
        run = Run(inv)
        inv.progress = lambda text: self._progress(run, text)
        self.running[id(inv)] = run
        task = self.ctx.spawn(self._invoke(run), name=f"adhoc {cmd.name}")
        reply = self._reply(cmd, sid, "completed")
        try:
            notes, results = await self.ctx.clock.wait_for(asyncio.shield(task), self.reply_within)
        except TimeoutError:
            # answer now (clients give up on a slow IQ); the result follows
            run.late = True
            self.ctx.spawn(self._deliver_later(task, run), name=f"adhoc {cmd.name} result")
            so_far = f" ({run.progress})" if run.progress else ""
            text = f"{cmd.name} is still running{so_far}; its result will follow as a message"
            notes, results = [("info", text)], []
        for ntype, text in [*first, *notes]:
            sub(reply, f"{{{NS}}}note", {"type": ntype}, text=text)
        for form in results:
            reply.append(form.to_element())
        return reply

    async def _invoke(self, run: Run) -> tuple[list[tuple[str, str]], list[Form]]:
        inv, cmd = run.inv, run.inv.command
        line = cf.command_line(cmd, inv.args)
        try:
            try:
                result = await self.ctx.clock.wait_for(run_handler(inv), self.command_timeout)
            except TimeoutError:
                inv.cancelled.set()
                self._audit(inv.sender, inv.role, line, "error", "timeout")
                return [("error", f"stopped after {self.command_timeout:g} s")], []
            rest, offers = files.split_offers(result)
            notes, results = cf.render(rest, cmd.help or cmd.name)
            out = [*notes, *(self._offer(inv, o) for o in offers)], results
            self._audit(inv.sender, inv.role, line, "ok")
            return out
        except CommandError as exc:
            self._audit(inv.sender, inv.role, line, "error", str(exc))
            return [("error", str(exc))], []
        except Exception:
            log.exception("ad-hoc command %s from %s failed", cmd.name, inv.sender)
            self._audit(inv.sender, inv.role, line, "error", "internal error")
            return [("error", f"{cmd.name} failed on the device")], []
        finally:
            self.running.pop(id(inv), None)

    def _offer(self, inv: Invocation, offer: FileOffer) -> tuple[str, str]:
        """Start sending a :class:`FileOffer` to the requester (by Jingle,
        the files feature) and say so in a note; the outcome follows as a
        chat message."""
        try:
            prep = files.prepare(self.ctx, inv.sender, offer)
        except CommandError as exc:
            files.discard(offer)
            return ("error", str(exc))

        async def send() -> None:
            try:
                self._tell(inv, await files.send(self.ctx, inv.sender, prep, lambda t: None))
            except CommandError as exc:
                self._tell(inv, str(exc))
            except Exception:
                log.exception("sending %s to %s failed", prep.path, inv.sender)
                self._tell(inv, f"{prep.name} was not sent: internal error (see the device log)")

        self.ctx.spawn(send(), name=f"adhoc {inv.command.name} file")
        return ("info", f"sending {prep.name} ({prep.size} bytes)")

    def _progress(self, run: Run, text: str) -> None:
        """inv.progress(): kept for the "still running" answer; once that was
        sent, told as a chat message, at most one per PROGRESS_INTERVAL."""
        run.progress = text
        now = self.ctx.now()
        if run.late and now - run.told >= PROGRESS_INTERVAL:
            run.told = now
            self._tell(run.inv, text)

    async def _deliver_later(
        self, task: asyncio.Task[tuple[list[tuple[str, str]], list[Form]]], run: Run
    ) -> None:
        notes, results = await task
        self._tell(run.inv, cf.plain(notes, results))

    def _tell(self, inv: Invocation, text: str) -> None:
        msg = E("{jabber:client}message", {"to": str(inv.sender), "type": "chat"})
        sub(msg, "{jabber:client}body", text=clean(f"{inv.command.name}: {text}"))
        try:
            self.ctx.send(msg)
        except Exception:
            log.warning("a message about %s for %s could not be sent", inv.command.name, inv.sender)

    async def stop(self) -> None:
        self.sessions.clear()
        for run in self.running.values():
            run.inv.cancelled.set()

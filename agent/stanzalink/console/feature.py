"""The network virtual terminal: a device console in any chat window.

A controller sends a chat message; its body is a command line.  The
console parses it like a shell would (quotes, backslash escapes), looks the
command up among those the sender's role may run, runs it as its own task
(two controllers never wait for each other; ``cancel`` stops a long one),
and answers with a plain body (XEP-0393 styling) and its XHTML-IM twin, in
the same message type and ``<thread>``.  Long answers come in pages
(``more``).  A command with a question (``reboot``) waits for ``yes`` or
``no`` from the same full JID.  A :class:`~stanzalink.commands.model.FileOffer`
in a result is sent to the asker by Jingle file transfer
(:mod:`stanzalink.commands.files`), with progress and ``cancel``.
The commands are the agent's (``ctx.commands``, shared with ad-hoc
commands); ``[console]`` values come from
:class:`~stanzalink.commands.settings.Settings`, where their defaults are.

What it does not do: answer anybody the access module did not admit (the
agent drops those messages before they get here), trust anything inside a
message but its outer ``from`` and top-level ``<body>`` (carbons, forwards
and XHTML-IM bodies are never read), or run a command that changes
something when a reconnect or offline storage delayed it by more than
``[console] max_delay`` seconds (its ``<delay/>`` stamp, :mod:`stanzalink.xep.delay`):
it answers why, quoting the line.  A late command that only reads
(:attr:`Command.read_only`) runs and says when it was sent.
Who may run what is :mod:`stanzalink.commands.authz`'s decision: a
command above the sender's role is refused naming the role it needs, and
"did you mean" suggests only what the sender may run; the audit log
(:mod:`stanzalink.commands.audit`: logger ``stanzalink.audit``, and
``[console] audit_log``) records every command with who, when, and the result: ok, error, denied,
unknown, cancelled, declined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections import OrderedDict
from typing import Any, Protocol

from stanzalink import __version__
from stanzalink.access import Role
from stanzalink.commands import audit, authz, files
from stanzalink.commands.builtin import command_help
from stanzalink.commands.context import CommandHost
from stanzalink.commands.model import (
    Command,
    CommandError,
    Invocation,
    quote,
    run_handler,
    too_late,
)
from stanzalink.commands.settings import CONSOLE, Settings
from stanzalink.commands.system import System
from stanzalink.console.limits import RateLimit
from stanzalink.console.line import bind
from stanzalink.console.render import to_blocks
from stanzalink.console.reply import REPLY, Reply, answer
from stanzalink.console.session import ChatSession, Job, Pending
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep import xhtml_im
from stanzalink.xep.base import Context, Feature
from stanzalink.xep.delay import Delay, delay_of
from stanzalink.xep.xhtml_im import Block, Code, Para, Strong
from stanzalink.xml import Element

log = logging.getLogger(__name__)

YES = frozenset({"yes", "y"})
NO = frozenset({"no", "n"})
MAX_LINE = 4096
MAX_PRESENT = 256


class Host(Context, CommandHost, Protocol):
    """What the console needs of the agent: a feature's context, and the
    device's commands with what they need."""


class Console(Feature):
    name = "console"
    config_sections = (CONSOLE,)
    disco_features = (xhtml_im.NS, xhtml_im.STYLING, REPLY)
    ctx: Host

    def __init__(self, ctx: Host) -> None:
        super().__init__(ctx)
        self.registry = ctx.commands
        self.clock = ctx.clock.now
        self.wall = time.time  # the age of a delayed command is wall-clock time
        self.sessions: OrderedDict[JID, ChatSession] = OrderedDict()
        self.limit = RateLimit()
        self.present: OrderedDict[JID, Role] = OrderedDict()
        self._job_ids = 0
        self.reload()

    # ------------------------------------------------------------ config
    def reload(self) -> None:
        """Read the ``[console]`` section (again: ``config set`` calls this)."""
        s = self.settings = Settings.of(self.ctx.config.section("console"))
        self.enabled = s.enabled
        self.page_size = s.page_size
        self.session_timeout = s.session_timeout
        self.max_sessions = s.max_sessions
        self.rate = s.rate
        self.burst = s.burst
        self.max_jobs = s.max_jobs
        self.max_jobs_total = s.max_jobs_total  # commands running at once, all controllers
        self.confirm_timeout = s.confirm_timeout
        self.command_timeout = s.command_timeout
        self.max_delay = s.max_delay
        self.audit_file = s.audit_log

    # ------------------------------------------------------------ presence
    def on_presence(self, pres: Element, role: Role | None) -> bool:
        """Remember which controllers are online (for ``who``)."""
        if role is None:
            return False
        try:
            jid = JID.parse(pres.get("from") or "")
        except InvalidJID:
            return False
        ptype = pres.get("type")
        if ptype == "unavailable":
            self.present.pop(jid, None)
        elif ptype is None and jid.resource is not None:
            self.present[jid] = role
            self.present.move_to_end(jid)
            while len(self.present) > MAX_PRESENT:
                self.present.popitem(last=False)
        return False

    def online_controllers(self) -> dict[JID, Role]:
        return dict(self.present)

    def on_offline(self) -> None:
        self.present.clear()

    # ------------------------------------------------------------ messages
    def on_message(self, msg: Element, role: Role) -> bool:
        body = msg.find("{jabber:client}body")
        mtype = msg.get("type")
        if not self.enabled or body is None or (mtype or "normal") not in ("chat", "normal"):
            return False
        try:
            sender = JID.parse(msg.get("from") or "")
        except InvalidJID:
            return True
        thread = msg.find("{jabber:client}thread")
        reply = Reply(
            str(sender),
            mtype,
            thread.text if thread is not None else None,
            thread.get("parent") if thread is not None else None,
            msg.get("id"),
        )
        text = (body.text or "").strip()
        if not text:
            return True
        now = self.clock()
        if not self._rate_ok(sender.bare, now, reply):
            return True
        # a stamp counts by its age: under max_delay (a resumption re-sends
        # with a stamp a second old) the command is as good as fresh
        delay = delay_of(msg, self.wall(), skew=self.max_delay)
        late = delay if delay is not None and delay.older_than(self.max_delay) else None
        sess = self._session(sender, role, now, reply)
        if sess is None:
            self.send(reply, [Para("Busy: every console session is running commands; try later.")])
            return True
        self.handle(sess, text, reply, late)
        return True

    def _refuse_late(self, sess: ChatSession, line: str, late: Delay, reply: Reply) -> None:
        self._audit(sess.jid, sess.role, line, "refused", f"{late.describe()}, over max_delay")
        self.send(reply, [Para(too_late(line, late.stamp, late.age, self.max_delay))])

    def handle(self, sess: ChatSession, text: str, reply: Reply, late: Delay | None = None) -> None:
        """Act on one line; ``late``: it came later than max_delay."""
        now = self.clock()
        if len(text) > MAX_LINE:
            self.send(reply, [Para(f"That line is too long (at most {MAX_LINE} characters).")])
            return
        pending, sess.pending = sess.pending, None
        if pending is not None and now <= pending.expires:
            answer = text.lower()
            if answer in YES and sess.role >= pending.command.need(self.ctx):
                if late is not None and not pending.command.only_reads(pending.args):
                    self._refuse_late(sess, f"{text} (to {pending.line})", late, reply)
                    return
                self._start(sess, pending.command, pending.args, pending.line, reply)
                return
            self._audit(sess.jid, sess.role, pending.line, "declined")
            self.send(reply, [Para(f"Not confirmed: {pending.command.name} was not run.")])
            if answer in NO:
                return
            # anything else is a "no", and a command line of its own
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            self.send(
                reply,
                [
                    Para(
                        f"Cannot read that line: {str(exc).lower()}. Quote with ' or \", "
                        "escape with \\."
                    )
                ],
            )
            return
        if not tokens:
            return
        name, args = tokens[0].lower(), tokens[1:]
        if name == "more":
            self._more(sess, reply)
        elif name == "cancel":
            self._cancel(sess, reply)
        elif name in YES or name in NO:
            self.send(reply, [Para("Nothing to confirm.")])
        else:
            self._command(sess, name, args, text, reply, late)

    def _command(
        self,
        sess: ChatSession,
        name: str,
        tokens: list[str],
        line: str,
        reply: Reply,
        late: Delay | None = None,
    ) -> None:
        decision = authz.decide(self.registry, name, sess.role, self.ctx)
        if decision.kind == authz.NEEDS:
            assert decision.command is not None and decision.need is not None
            self.ctx.access.denied(sess.jid, f"console {name}", sess.role, decision.need)
            self._audit(sess.jid, sess.role, line, "denied", f"needs {decision.need}")
            self.send(reply, [Para(authz.refusal(name, decision.need, sess.role))])
            return
        cmd = decision.command
        if cmd is None:
            self._audit(sess.jid, sess.role, line, "unknown")
            close = authz.suggest(self.registry, name, sess.role, self.ctx)
            shown = name if len(name) <= 40 else name[:40] + "..."
            parts: list[Any] = [f"Unknown command {shown!r}."]
            if close:
                parts += [" Did you mean: "]
                for i, c in enumerate(close):
                    parts += [", " if i else "", Code(c)]
                parts.append("?")
            parts += [" Send ", Code("help"), " for the list."]
            self.send(reply, [Para(*parts)])
            return
        if tokens and tokens[0] in ("--help", "-h"):
            self.send(reply, to_blocks(command_help(cmd, self.ctx)))
            return
        try:
            args = bind(cmd, tokens)
        except CommandError as exc:
            self._audit(sess.jid, sess.role, line, "error", "bad arguments")
            self.send(
                reply,
                [
                    Para(str(exc)),
                    Para(
                        Strong("usage"),
                        ": ",
                        Code(cmd.usage()),
                        " (",
                        Code(f"help {cmd.name}"),
                        " explains it)",
                    ),
                ],
            )
            return
        note = ""
        if late is not None:
            if not cmd.only_reads(args):
                self._refuse_late(sess, line, late, reply)
                return
            note = f"{quote(line)} ({late.describe()})"
        sess.last_command = line
        if cmd.confirm:
            sess.pending = Pending(cmd, args, line, self.clock() + self.confirm_timeout)
            self._audit(sess.jid, sess.role, line, "asked")
            self.send(
                reply,
                [
                    Para(
                        Strong(cmd.confirm),
                        " Answer ",
                        Code("yes"),
                        " or ",
                        Code("no"),
                        f" (within {self.confirm_timeout:g} s).",
                    )
                ],
            )
            return
        self._start(sess, cmd, args, line, reply, note)

    # ------------------------------------------------------------ jobs
    def _start(
        self,
        sess: ChatSession,
        cmd: Command,
        args: dict[str, Any],
        line: str,
        reply: Reply,
        note: str = "",
    ) -> None:
        # max_jobs per account (all its resources: each full JID is a session
        # of its own), max_jobs_total for everybody
        mine = sum(len(s.jobs) for s in self.sessions.values() if s.jid.bare == sess.jid.bare)
        if mine >= self.max_jobs:
            self.send(
                reply,
                [
                    Para(
                        f"Busy: {mine} commands are still running; wait, or send ",
                        Code("cancel"),
                        ".",
                    )
                ],
            )
            return
        total = sum(len(s.jobs) for s in self.sessions.values())
        if total >= self.max_jobs_total:
            self.send(
                reply,
                [Para(f"Busy: the device is running {total} commands already; try again soon.")],
            )
            return
        self._job_ids += 1
        sent = [0]

        def progress(text: str) -> None:
            if sent[0] < 50:  # bounded per command
                sent[0] += 1
                self.send(reply, [Para(f"{cmd.name}: {text}")])

        inv = Invocation(
            command=cmd,
            sender=sess.jid,
            role=sess.role,
            args=args,
            device=self.ctx,
            progress=progress,
            line=line,
        )
        job = Job(self._job_ids, cmd.name, inv, reply, note=note)
        sess.jobs[job.id] = job
        job.task = self.ctx.spawn(self._run(sess, job), name=f"console {cmd.name}")

    async def _run(self, sess: ChatSession, job: Job) -> None:
        inv = job.inv
        job.started = True
        try:
            await self.ctx.clock.wait_for(self._execute(sess, job), self.command_timeout)
        except asyncio.CancelledError:
            if not job.by_user:
                raise
            self._audit(sess.jid, sess.role, inv.line, "cancelled")
            self.send(job.reply, [Para(f"Cancelled: {job.name}.")])
        except TimeoutError:
            self._audit(sess.jid, sess.role, inv.line, "error", "timeout")
            self.send(job.reply, [Para(f"{job.name}: stopped after {self.command_timeout:g} s.")])
        except CommandError as exc:
            self._audit(sess.jid, sess.role, inv.line, "error", str(exc))
            self.send(job.reply, [Para(str(exc))])
        except Exception:
            log.exception("console command %s failed", job.name)
            self._audit(sess.jid, sess.role, inv.line, "error", "internal error")
            self.send(job.reply, [Para(f"{job.name} failed: internal error (see the device log).")])
        else:
            self._audit(sess.jid, sess.role, inv.line, "ok")
        finally:
            sess.jobs.pop(job.id, None)

    async def _execute(self, sess: ChatSession, job: Job) -> None:
        """Run the handler, show its result, then send the files it offers
        (:class:`FileOffer`) to the asker, reporting progress."""
        rest, offers = files.split_offers(await run_handler(job.inv))
        blocks = to_blocks(rest)
        if not blocks and not offers:
            blocks = [Para(f"{job.name}: done.")]
        if job.note:
            blocks = [Para(job.note), *blocks]
        if blocks:
            self._paged(sess, job.reply, blocks)
        for offer in offers:
            done = await files.deliver(
                self.ctx, job.inv.sender, offer, lambda text: self.send(job.reply, [Para(text)])
            )
            self.send(job.reply, [Para(done)])

    def _cancel(self, sess: ChatSession, reply: Reply) -> None:
        if not sess.jobs:
            self.send(reply, [Para("Nothing is running.")])
            return
        for job in list(sess.jobs.values()):
            job.by_user = True
            job.inv.cancelled.set()
            if job.task is not None:
                job.task.cancel()
            if not job.started:  # cancelled before it ran: _run never sees it
                sess.jobs.pop(job.id, None)
                self._audit(sess.jid, sess.role, job.inv.line, "cancelled")
                self.send(job.reply, [Para(f"Cancelled: {job.name}.")])

    # ------------------------------------------------------------ pages
    def _paged(self, sess: ChatSession, reply: Reply, blocks: list[Block]) -> None:
        sess.load(blocks, self.page_size)
        self.send(reply, sess.next_page())

    def _more(self, sess: ChatSession, reply: Reply) -> None:
        if not sess.pages:
            self.send(reply, [Para("Nothing more to show.")])
        else:
            self.send(reply, sess.next_page())

    # ------------------------------------------------------------ sessions
    def _session(self, jid: JID, role: Role, now: float, reply: Reply) -> ChatSession | None:
        for key, s in list(self.sessions.items()):
            if now - s.last > self.session_timeout and not s.jobs:
                del self.sessions[key]
        sess = self.sessions.get(jid)
        if sess is None:
            while len(self.sessions) >= self.max_sessions:
                # the least recently used idle session goes; one running commands
                # never does (a newcomer must not cancel another's command)
                idle = next((k for k, s in self.sessions.items() if not s.jobs), None)
                if idle is None:
                    return None
                del self.sessions[idle]
            sess = self.sessions[jid] = ChatSession(jid, role, now)
            self.send(reply, self.banner(role))
        sess.last, sess.role = now, role
        self.sessions.move_to_end(jid)
        return sess

    def banner(self, role: Role) -> list[Block]:
        device = self.settings.banner or System().model()
        return [
            Para(
                Strong(f"{self.ctx.jid.bare}"),
                f" — {device}, stanzalink {__version__}. ",
                f"You are {role}. Send ",
                Code("help"),
                " for the commands.",
            )
        ]

    def _rate_ok(self, who: JID, now: float, reply: Reply) -> bool:
        allowed, tell = self.limit.take(who, now, self.rate, self.burst)
        if tell:
            self.send(
                reply,
                [
                    Para(
                        f"Too many commands: at most {self.burst} at once and"
                        f" {self.rate:g} a second. The others are ignored until then."
                    )
                ],
            )
        return allowed

    # ------------------------------------------------------------ output
    def send(self, reply: Reply, blocks: list[Block]) -> None:
        try:
            self.ctx.send(answer(reply, blocks))
        except Exception as exc:  # the bounded send queue is full
            log.warning("console reply to %s dropped: %s", reply.to, exc)

    def _audit(self, who: JID, role: Role | None, line: str, result: str, detail: str = "") -> None:
        audit.record(who, role, line, result, detail, self.audit_file)

    async def stop(self) -> None:
        tasks = [j.task for s in self.sessions.values() for j in s.jobs.values() if j.task]
        for t in tasks:
            t.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=5)
        self.sessions.clear()

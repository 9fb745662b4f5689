"""One controller account, every device it can reach: the :class:`Fleet`
behind ``stanzalink fleet``.

>>> async with Fleet.from_file("controller.toml") as fleet:
...     for dev in await fleet.devices():
...         print(dev.jid, dev.online, dev.version)
...     results = await fleet.run("status", only="*@example.net", concurrency=20, timeout=30)

**Which devices.**  Devices subscribe to the controllers named in their
``[access]``; the fleet accepts every subscription request (``subscribed``,
and its own ``subscribe`` back, which the device has pre-approved), so each
device ends up on the controller's roster with a mutual subscription and
its presence comes to the controller.  A contact is a stanzalink device
when one of its online resources advertises the stanzalink caps node
(XEP-0115 ``urn:stanzalink:caps``) or, for a device with its own
``caps_node``, answers disco#info with the identity ``client/bot`` and the
ad-hoc commands feature.  A device recognised once is put in the roster
group ``stanzalink devices``, which is how it is known while offline.

**What is shown.**  Online devices: the presence's status line, the
software version (XEP-0092 on the device) and ``last_seen`` now; offline
devices: ``last_seen`` from the server's XEP-0012 last activity when the
server offers it (else empty).

**Running a command** (:meth:`Fleet.run`): XEP-0050 on each matching online
device (:mod:`stanzalink.fleet.adhoc`), at most ``concurrency`` at once,
each bounded by ``timeout`` seconds; an offline device gets no command and
the result ``offline``.  Results come as each device finishes (the
``on_result`` callback) and all together at the end.  Cancelling the run
(Ctrl-C in the tool) stops the commands still running; the results
already in are kept in ``Fleet.finished``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stanzalink.aio.client import Client, ClientConfig, ConnectionFailed, IQError
from stanzalink.errors import StanzalinkError
from stanzalink.fleet.adhoc import NS as COMMANDS
from stanzalink.fleet.adhoc import execute
from stanzalink.fleet.config import load_controller
from stanzalink.jid import JID, InvalidJID
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

__all__ = ["GROUP", "STATUSES", "Device", "Fleet", "Result"]

log = logging.getLogger(__name__)

GROUP = "stanzalink devices"  # the roster group that marks a recognised device
CAPS_NODE = "urn:stanzalink:caps"
STATUSES = ("completed", "error", "timeout", "offline")
_ROSTER = "{jabber:iq:roster}query"
_CAPS = "{http://jabber.org/protocol/caps}c"
_INFO = "http://jabber.org/protocol/disco#info"
_PROBES = 20  # disco and version queries at once while listing


def glob_match(jid: str, pattern: str) -> bool:
    """Shell-style ``pattern`` (``*``, ``?``, ``[seq]``, ``[!seq]``) against
    all of ``jid``, case-sensitive, with the rules of ``fnmatch.fnmatchcase``."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*")
            continue
        if ch == "?":
            out.append(".")
            continue
        j = i
        if ch == "[":
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            j = pattern.find("]", j)
        if ch != "[" or j < 0:
            out.append(re.escape(ch))
            continue
        body = pattern[i:j]
        i = j + 1
        neg = body.startswith("!")
        body = body[1:] if neg else body
        chars = "".join(c if c == "-" else re.escape(c) for c in body)
        out.append(f"[{'^' if neg else ''}{chars}]")
    try:
        return re.fullmatch("".join(out), jid, re.S) is not None
    except re.error:  # a range such as [z-a] matches nothing
        return False


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(t: datetime | None) -> str:
    return t.isoformat().replace("+00:00", "Z") if t is not None else ""


@dataclass
class Device:
    jid: str  # the bare JID
    online: bool
    status: str = ""  # the presence's status line
    version: str = ""  # XEP-0092 name and version, when online
    last_seen: str = ""  # ISO 8601 UTC; now when online
    full_jid: str | None = None  # where commands go, when online

    def as_json(self) -> dict[str, Any]:
        return {
            "device": self.jid,
            "online": self.online,
            "status": self.status,
            "version": self.version,
            "last_seen": self.last_seen,
        }


@dataclass
class Result:
    device: str  # the bare JID
    status: str  # one of STATUSES
    text: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # how long the command took on this device

    def as_json(self) -> dict[str, Any]:
        return {"device": self.device, "status": self.status, "text": self.text,
                "fields": self.fields}  # fmt: skip


@dataclass
class _Resource:
    status: str = ""
    caps_node: str | None = None
    caps_ver: str | None = None
    device: bool | None = None  # None: not yet known
    version: str | None = None


class Fleet:
    """The devices a controller account reaches, over one client session.

    ``config``: the controller's client settings (:meth:`from_file` reads
    them from a controller TOML file).  ``settle``: seconds of quiet after
    going online before the presences are taken as complete.
    """

    def __init__(self, config: ClientConfig, *, settle: float = 0.5, probe_timeout: float = 10.0):
        config.csi_inactive = False
        self.config = config
        self.settle = settle
        self.probe_timeout = probe_timeout
        self.client = Client(config)
        self.roster: dict[str, dict[str, Any]] = {}  # bare JID -> name, subscription, groups
        self._resources: dict[str, dict[str, _Resource]] = {}  # bare -> resource -> state
        self._disco_cache: dict[tuple[str, str], bool] = {}  # (node, ver) -> device?
        self._last_presence = 0.0
        self._marking: set[str] = set()
        self.finished: list[Result] = []  # the results of the last run(), so far
        self.client.on_presence(self._on_presence)
        self.client.on_iq(_ROSTER, self._on_roster_push, ("set",))

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> Fleet:
        """A fleet for the controller config at ``path`` (ConfigError when wrong)."""
        return cls(load_controller(path), **kw)

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ session
    async def start(self, timeout: float = 30.0) -> None:
        """Log in, fetch the roster, announce presence and wait until the
        devices' presences have come in.  The priority stays 0: a server
        delivers subscription requests (the devices' among them) only to
        resources of non-negative priority (RFC 6121 §3.1.3)."""
        await self.client.start()
        try:
            await self.client.wait_online(timeout)
        except BaseException:
            await self.client.close()
            raise
        reply = await self.client.iq(
            E("{jabber:client}iq", {"type": "get"}, E(_ROSTER)), self.probe_timeout
        )
        query = reply.find(_ROSTER)
        for item in query.findall("{jabber:iq:roster}item") if query is not None else []:
            self._roster_item(item)
        loop = asyncio.get_running_loop()
        self._last_presence = loop.time()
        self.client.send(E("{jabber:client}presence"))
        await self._quiet(loop.time() + max(self.settle * 10, 5.0))

    async def _quiet(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline and loop.time() - self._last_presence < self.settle:
            await asyncio.sleep(min(0.05, self.settle))

    async def close(self) -> None:
        await self.client.close()

    # ------------------------------------------------------------ devices
    async def devices(self, *, details: bool = True) -> list[Device]:
        """Every device of the roster, online or not, sorted by JID.
        ``details=False`` leaves out the software versions and the offline
        devices' last activity (two queries a device that a run of a
        command does not need)."""
        await self._recognise()
        online: dict[str, tuple[str, _Resource]] = {}
        for bare, resources in self._resources.items():
            for res, state in resources.items():
                if state.device:
                    online.setdefault(bare, (res, state))
        if details:
            await self._versions([f"{b}/{r}" for b, (r, s) in online.items() if s.version is None])
        known = {b for b, item in self.roster.items() if GROUP in item["groups"]}
        await self._gather(self._mark, sorted(set(online) - known))
        now = _stamp(_now())
        out = []
        for bare, (res, state) in online.items():
            out.append(Device(bare, True, state.status, state.version or "", now, f"{bare}/{res}"))
        offline = sorted(known - set(online))
        seen = await self._gather(self._last_seen, offline) if details else [""] * len(offline)
        out += [Device(bare, False, last_seen=s) for bare, s in zip(offline, seen, strict=True)]
        return sorted(out, key=lambda d: d.jid)

    async def _gather(self, fn: Callable[[str], Any], items: Sequence[str]) -> list[Any]:
        sem = asyncio.Semaphore(_PROBES)

        async def one(item: str) -> Any:
            async with sem:
                return await fn(item)

        return list(await asyncio.gather(*(one(i) for i in items)))

    async def _recognise(self) -> None:
        """Decide, for every online resource not yet known, whether it is a
        stanzalink device (caps node, else disco#info)."""
        todo = []
        for bare, resources in self._resources.items():
            for res, state in resources.items():
                if state.device is not None:
                    continue
                if state.caps_node == CAPS_NODE:
                    state.device = True
                elif (state.caps_node or "", state.caps_ver or "") in self._disco_cache:
                    state.device = self._disco_cache[(state.caps_node or "", state.caps_ver or "")]
                else:
                    todo.append(f"{bare}/{res}")
        answers = await self._gather(self._disco_is_device, todo)
        for full, answer in zip(todo, answers, strict=True):
            bare, _, res = full.partition("/")
            found = self._resources.get(bare, {}).get(res)
            if found is not None:
                found.device = answer
                if found.caps_node and found.caps_ver:
                    self._disco_cache[(found.caps_node, found.caps_ver)] = answer

    async def _disco_is_device(self, full: str) -> bool:
        iq = E("{jabber:client}iq", {"type": "get", "to": full}, E(f"{{{_INFO}}}query"))
        try:
            reply = await self.client.iq(iq, self.probe_timeout)
        except (IQError, TimeoutError, ConnectionFailed):
            return False
        query = reply.find(f"{{{_INFO}}}query")
        if query is None:
            return False
        bot = any(
            i.get("category") == "client" and i.get("type") == "bot"
            for i in query.findall(f"{{{_INFO}}}identity")
        )
        feats = {f.get("var") for f in query.findall(f"{{{_INFO}}}feature")}
        return bot and COMMANDS in feats

    async def _versions(self, fulls: Sequence[str]) -> None:
        answers = await self._gather(self._version, fulls)
        for full, answer in zip(fulls, answers, strict=True):
            bare, _, res = full.partition("/")
            state = self._resources.get(bare, {}).get(res)
            if state is not None:
                state.version = answer

    async def _version(self, full: str) -> str:
        iq = E("{jabber:client}iq", {"type": "get", "to": full}, E("{jabber:iq:version}query"))
        try:
            reply = await self.client.iq(iq, self.probe_timeout)
        except (IQError, TimeoutError, ConnectionFailed):
            return ""
        q = reply.find("{jabber:iq:version}query")
        if q is None:
            return ""
        parts = [q.findtext("{jabber:iq:version}name"), q.findtext("{jabber:iq:version}version")]
        return " ".join(p.strip() for p in parts if p and p.strip())

    async def _last_seen(self, bare: str) -> str:
        iq = E("{jabber:client}iq", {"type": "get", "to": bare}, E("{jabber:iq:last}query"))
        try:
            reply = await self.client.iq(iq, self.probe_timeout)
        except (IQError, TimeoutError, ConnectionFailed):
            return ""
        q = reply.find("{jabber:iq:last}query")
        try:
            seconds = int(q.get("seconds") or "") if q is not None else -1
        except ValueError:
            return ""
        if seconds < 0:
            return ""
        return _stamp(_now() - timedelta(seconds=seconds))

    async def _mark(self, bare: str) -> None:
        """Put a newly recognised device in the roster group GROUP."""
        if bare in self._marking:
            return
        self._marking.add(bare)
        item = self.roster.get(bare, {"name": None, "groups": []})
        el = E(_ROSTER)
        attrs = {"jid": bare}
        if item.get("name"):
            attrs["name"] = item["name"]
        it = sub(el, "{jabber:iq:roster}item", attrs)
        for g in [*item["groups"], GROUP]:
            sub(it, "{jabber:iq:roster}group", text=g)
        try:
            await self.client.iq(E("{jabber:client}iq", {"type": "set"}, el), self.probe_timeout)
        except (IQError, TimeoutError, ConnectionFailed) as exc:
            log.warning("cannot put %s in the roster group %r: %s", bare, GROUP, exc)
        finally:
            self._marking.discard(bare)

    # ------------------------------------------------------------ commands
    async def run(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        only: str | None = None,
        concurrency: int = 10,
        timeout: float = 30.0,
        confirm: bool = False,
        on_result: Callable[[Result], None] | None = None,
        devices: Sequence[Device] | None = None,
    ) -> list[Result]:
        """Run ``command`` with ``args`` on every device (``only``: those
        whose bare JID matches the glob), at most ``concurrency`` at once,
        each within ``timeout`` seconds.  One :class:`Result` per device,
        sorted by JID; ``on_result`` sees each as it comes."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if devices is None:
            devices = await self.devices(details=False)
        targets = [d for d in devices if only is None or glob_match(d.jid, only)]
        self.finished = []
        sem = asyncio.Semaphore(concurrency)

        def done(r: Result) -> Result:
            if r.status != "completed" and not r.text.startswith(command):
                # each result that is not the command's answer names the command
                r.text = f"{command}: {r.text}"
            self.finished.append(r)
            if on_result is not None:
                on_result(r)
            return r

        async def one(dev: Device) -> Result:
            if not dev.online or dev.full_jid is None:
                return done(Result(dev.jid, "offline", "not sent: the device is offline"))
            async with sem:
                started = time.monotonic()
                try:
                    out = await asyncio.wait_for(
                        execute(self.client, dev.full_jid, command, args, timeout=timeout,
                                confirm=confirm),
                        timeout,
                    )  # fmt: skip
                except TimeoutError:
                    r = Result(dev.jid, "timeout", f"no answer within {timeout:g} s")
                except ConnectionFailed as exc:
                    r = Result(dev.jid, "error", f"the controller's connection failed: {exc}")
                except StanzalinkError as exc:
                    r = Result(dev.jid, "error", str(exc))
                else:
                    r = Result(dev.jid, out.status, out.text, out.fields)
                r.seconds = time.monotonic() - started
                return done(r)

        tasks = [asyncio.ensure_future(one(d)) for d in targets]
        try:
            results = await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
        return sorted(results, key=lambda r: r.device)

    # ------------------------------------------------------------ stanzas
    def _roster_item(self, item: Element) -> None:
        jid = item.get("jid") or ""
        if item.get("subscription") == "remove":
            self.roster.pop(jid, None)
            return
        self.roster[jid] = {
            "name": item.get("name"),
            "subscription": item.get("subscription") or "none",
            "groups": [g.text or "" for g in item.findall("{jabber:iq:roster}group")],
        }

    def _on_roster_push(self, iq: Element) -> None:
        sender = iq.get("from")
        me = self.client.jid
        if sender and (me is None or sender not in (str(me.bare), me.domain)):
            raise IQError("service-unavailable")
        query = iq.find(_ROSTER)
        for item in query.findall("{jabber:iq:roster}item") if query is not None else []:
            self._roster_item(item)
        return None

    def _on_presence(self, p: Element) -> None:
        try:
            sender = JID.parse(p.get("from") or "")
        except InvalidJID:
            return
        me = self.client.jid
        if sender.local is None or (me is not None and sender.bare == me.bare):
            return
        bare, ptype = str(sender.bare), p.get("type")
        self._last_presence = asyncio.get_running_loop().time()
        if ptype == "subscribe":
            self.client.send(E("{jabber:client}presence", {"to": bare, "type": "subscribed"}))
            if self.roster.get(bare, {}).get("subscription") not in ("to", "both"):
                self.client.send(E("{jabber:client}presence", {"to": bare, "type": "subscribe"}))
            return
        if ptype in ("unavailable", "error"):
            resources = self._resources.get(bare, {})
            resources.pop(sender.resource or "", None)
            if not resources:
                self._resources.pop(bare, None)
            return
        if ptype is not None or sender.resource is None:
            return
        caps = p.find(_CAPS)
        state = self._resources.setdefault(bare, {}).get(sender.resource)
        node = caps.get("node") if caps is not None else None
        ver = caps.get("ver") if caps is not None else None
        if state is None or (state.caps_node, state.caps_ver) != (node, ver):
            state = _Resource(caps_node=node, caps_ver=ver)
            self._resources[bare][sender.resource] = state
        state.status = (p.findtext("{jabber:client}status") or "").strip()

"""The device agent: one XMPP connection that stays up, the device's
presence, and the features (one module per XEP under :mod:`stanzalink.xep`,
the console under :mod:`stanzalink.console`) wired to it.  The agent also
keeps the device's commands (:mod:`stanzalink.commands`, one registry per
agent) and is the :class:`~stanzalink.commands.context.Device` they see.

A feature's code loads when the config turns it on or its first stanza
comes (:mod:`stanzalink.features`).  The agent is the only place where
features meet the client.  Every stanza
passes the access check here before a feature sees it:

- an IQ get/set is routed by its payload to the one feature that serves it,
  if the sender is allowed by that route; otherwise ``service-unavailable``,
  the same answer as for a payload nobody serves;
- a message from a controller goes to the features in order until one takes
  it; from anybody else (and of type groupchat, headline or error) it is
  dropped and the denial logged;
- every presence goes to every feature (the roster feature answers
  strangers' subscription requests with a refusal).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from stanzalink import config
from stanzalink.access import AccessControl, Role
from stanzalink.aio import sections as connection_sections
from stanzalink.aio.client import Client
from stanzalink.clock import Clock, LoopClock
from stanzalink.config import ConfigError, DeviceConfig, Key, Section, integer, schema_of, string
from stanzalink.errors import StanzaError
from stanzalink.features import (
    CONSOLE,
    FEATURE_SECTIONS,
    FEATURES,
    GROUP_ON,
    LAZY,
    Unloaded,
    imported,
    load_feature,
    start_order,
)
from stanzalink.jid import JID
from stanzalink.logring import RecentLines
from stanzalink.session.events import Closed, Online
from stanzalink.xep.base import OWN_SERVER, Built, Feature, IQRoute
from stanzalink.xep.roster import ACCESS, Roster, access_roles
from stanzalink.xml import Element
from stanzalink.xml.plain import E, is_built, sub

if TYPE_CHECKING:
    from stanzalink.commands.context import CommandHost
    from stanzalink.commands.registry import Registry
    from stanzalink.config import StrPath
    from stanzalink.xep.bytestreams import S5BPolicy
    from stanzalink.xep.jingle.file_transfer import Files

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Feature)


def _check_priority(priority: int) -> None:
    if not -128 <= priority <= 127:
        raise ConfigError("presence.priority: must be between -128 and 127")


# the agent's own sections: [presence] (what announce() sends) and [log]
# (the level `stanzalink run` starts with)
PRESENCE = Section(
    "presence",
    {
        "status": Key(string, "", "the status line contacts see"),
        "priority": Key(integer, 0, "-128..127"),
    },
    lambda values, _: _check_priority(values["priority"]),
)
LOG = connection_sections.LOG


def schema(features: Iterable[type[Feature]] | None = None) -> dict[str, Section]:
    """The sections a config file is checked against: the connection's, the
    agent's own, and those the features (those of ``FEATURES`` unless
    given) read."""
    sections: list[Section] = [*connection_sections.SECTIONS, PRESENCE, ACCESS]
    if features is None:
        sections.extend(config.DeclaredElsewhere(n, s) for n, s in FEATURE_SECTIONS.items())
    else:
        for feature in features:
            sections.extend(feature.config_sections)
    sections.append(LOG)
    return schema_of(sections)


def parse_config(
    raw: dict[str, Any],
    base: str | None = None,
    features: Iterable[type[Feature]] | None = None,
) -> DeviceConfig:
    """A config read from TOML, checked against :func:`schema`."""
    known = schema(features)
    values = config.parse(raw, known, base)
    account = {**connection_sections.ACCOUNT.defaults(), **values.get("account", {})}
    jid, password = connection_sections.account(account)
    return DeviceConfig(
        jid=jid,
        password=password,
        access=access_roles(values.get("access", {})),
        sections=values,
        base=base,
        schema=known,
    )


def load_config(path: StrPath, features: Iterable[type[Feature]] | None = None) -> DeviceConfig:
    """The config file at ``path``, read and checked (:class:`ConfigError`
    names the key that is wrong)."""
    return parse_config(config.read_toml(path), config.folder_of(path), features)


# the client settings of a device config (kept here for the callers that
# built them from the agent)
client_config = connection_sections.client_config


class Agent:
    """The device agent.  ``features``: feature classes to run instead of
    :data:`FEATURES` (tests run one feature alone); ``commands``: the
    registry the console and ad-hoc commands serve, instead of the built-in
    commands and ``[console] plugins``; ``clock``: the features' clock
    (the event loop's when None)."""

    def __init__(
        self,
        cfg: DeviceConfig,
        *,
        features: list[type[Feature]] | None = None,
        client: Client | None = None,
        commands: Registry | None = None,
        clock: Clock | None = None,
        recent_log: RecentLines | None = None,
    ) -> None:
        if commands is not None:
            self.commands = commands
        # the recent log lines the console's `log` shows without a log file
        self.recent_log = recent_log
        self.config = cfg
        self.cfg = cfg
        self.client = client or Client(client_config(cfg))
        self.access = AccessControl(cfg.jid, cfg.access)
        # every feature's timeouts and timers (tests give a manual clock)
        self.clock: Clock = clock or LoopClock()
        self.status: str = PRESENCE.of(cfg)["status"]
        # the process exit status `stanzalink run` returns (non-zero asks the
        # service manager for a restart)
        self.exit_code = 0
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failures: dict[str, tuple[float | None, int]] = {}  # feature -> last log, skipped
        self.client.on_event(self._on_event)
        self.client.on_message(self._on_message)
        self.client.on_presence(self._on_presence)
        if not cfg.schema:  # a config built by hand: its sections get their defaults
            cfg.schema = schema(features)
        # the routes of features loaded after the start, by (type, payload
        # tag): their stand-in's route leads there
        self._late: dict[tuple[str, str], Callable[[Element], Any]] = {}
        self._loading: set[str] = set()
        if features is None:
            # FEATURES: a lazy feature whose group the config leaves off
            # waits as a stand-in until its first stanza
            specs = [s for s in FEATURES if s not in LAZY or self._group_on(LAZY[s].group)]
            classes = [load_feature(s) for s in specs]
        else:
            classes = list(features)
        # built required-first (a constructor may look up what it requires),
        # then asked about stanzas in the order given
        self._features: list[Feature] = []
        for cls in start_order(classes):
            self._features.append(self._make(cls))
        made = {type(f): f for f in self._features}
        if features is None:
            self._features = [
                made[load_feature(s)] if s in specs else Unloaded(self, s, LAZY[s])
                for s in FEATURES
            ]
        else:
            self._features = [made[cls] for cls in classes]
        for feat in self._features:
            for route in feat.iq_routes():
                # the client's table is the one routing table; it refuses a
                # payload two features claim
                self.client.on_iq(route.tag, self._gate(route), types=(route.type,))

    def _group_on(self, group: str) -> bool:
        on = GROUP_ON.get(group)
        return on is not None and on(self.cfg)

    def load_group(self, group: str) -> None:
        """Load the features of a lazy group that still wait as stand-ins
        (their first stanza came, or someone asked for one of them)."""
        waiting = {
            f.spec: i for i, f in enumerate(self._features)
            if isinstance(f, Unloaded) and f.lazy.group == group
        }  # fmt: skip
        if not waiting or group in self._loading:
            return
        self._loading.add(group)
        try:
            classes = {load_feature(spec): spec for spec in waiting}
            running = [type(f) for f in self._features if not isinstance(f, Unloaded)]
            for cls in start_order([*running, *classes]):
                spec = classes.get(cls)
                if spec is None:
                    continue
                feat = self._make(cls)
                self._features[waiting[spec]] = feat
                declared = LAZY[spec].iq
                for route in feat.iq_routes():
                    if (route.type, route.tag) in declared:
                        self._late[(route.type, route.tag)] = self._gate(route)
                    else:
                        self.client.on_iq(route.tag, self._gate(route), types=(route.type,))
            log.debug("loaded the %s features", group)
        finally:
            self._loading.discard(group)

    def late_route(self, kind: str, tag: str) -> Callable[[Element], Any] | None:
        """The gate of a late-loaded feature's route (a stand-in's IQ goes there)."""
        return self._late.get((kind, tag))

    @functools.cached_property
    def s5b_policy(self) -> S5BPolicy:
        """One SOCKS5 dial policy and proxy cache for XEP-0065 and XEP-0260."""
        from stanzalink.xep.bytestreams import S5BPolicy

        return S5BPolicy.from_config(self.cfg)

    def _make(self, cls: type[Feature]) -> Feature:
        """A feature, with the I/O (from :mod:`stanzalink.net`) and the shared
        parts it takes through its constructor (a feature whose module is
        not imported is none of those)."""
        if "stanzalink.xep.http.feature" in sys.modules:
            from stanzalink.xep.http.feature import Http

            if issubclass(cls, Http):
                from stanzalink.net.http_origin import make_origin

                return cls(self, origins=make_origin)
        if "stanzalink.xep.jingle.s5b_transport" in sys.modules:
            from stanzalink.xep.jingle.s5b_transport import JingleS5B

            if issubclass(cls, JingleS5B):
                from stanzalink.net.s5b import Socks5Dialer

                return cls(self, socks5=Socks5Dialer(), policy=self.s5b_policy)
        if "stanzalink.xep.bytestreams" in sys.modules:
            from stanzalink.xep.bytestreams import Bytestreams

            if issubclass(cls, Bytestreams):
                return cls(self, policy=self.s5b_policy)
        return cls(self)

    # ------------------------------------------------------------ Context
    @property
    def jid(self) -> JID:
        return self.client.jid or self.cfg.jid

    @property
    def online(self) -> bool:
        return self.client.online

    def send(self, stanza: Built) -> None:
        self.client.send(stanza)

    async def iq(self, stanza: Built, timeout: float | None = None) -> Element:
        return await self.client.iq(stanza, timeout)

    def feature(self, cls: type[F]) -> F | None:
        """The running feature of type ``cls``; one that waits as a stand-in
        is loaded (with its group) first."""
        for feat in self._features:
            if isinstance(feat, cls):
                return feat
        for feat in self._features:
            if isinstance(feat, Unloaded) and feat.lazy.group not in self._loading:
                real = imported(feat.spec)  # cls is imported: so is the module of a match
                if real is not None and issubclass(real, cls):
                    self.load_group(feat.lazy.group)
                    return self.feature(cls)
        return None

    def running(self, spec: str) -> Feature | None:
        """The feature ``spec`` names if it runs (never loads it)."""
        cls = imported(spec)
        return next((f for f in self._features if cls and isinstance(f, cls)), None)

    def features(self) -> list[Feature]:
        return list(self._features)

    def update_presence(self) -> None:
        if self.client.online:
            self.announce()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def now(self) -> float:
        return self.clock.now()

    # ------------------------------------------------------------ commands' Device
    @functools.cached_property
    def commands(self) -> Registry:
        """The device's commands, served by the console and by ad-hoc
        commands: built (built-ins, then ``[console] plugins``) when a front
        end first asks."""
        from stanzalink.commands.plugins import registry_for

        return registry_for(self.config)

    def roster(self) -> Roster | None:
        return self.feature(Roster)

    def files(self) -> Files | None:
        from stanzalink.xep.jingle.file_transfer import Files

        return self.feature(Files)

    def controllers_seen(self) -> dict[JID, Role]:
        # a console not loaded yet has seen no controller: any presence
        # from one loads it
        console = self.running(CONSOLE)
        return console.online_controllers() if console is not None else {}  # type: ignore[attr-defined]

    def settings_changed(self, section: str) -> None:
        console = self.running(CONSOLE)
        if section == "console" and console is not None:
            console.reload()  # type: ignore[attr-defined]

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------ public
    def set_status(self, text: str) -> None:
        """Change the status line contacts see (for example a health summary)."""
        self.status = text
        self.update_presence()

    def request_stop(self, exit_code: int = 0) -> None:
        """Stop the agent; ``stanzalink run`` then exits with ``exit_code``."""
        self.exit_code = exit_code
        if self._stop is not None:
            self._stop.set()

    def announce(self) -> None:
        """Send the device's presence: status line, priority, and what the
        features add (entity capabilities, avatar hash)."""
        pres = E("{jabber:client}presence")
        if self.status:
            sub(pres, "{jabber:client}status", text=self.status)
        priority = PRESENCE.of(self.cfg)["priority"]
        if priority:
            sub(pres, "{jabber:client}priority", text=str(priority))
        for feat in self._features:
            for child in feat.presence_payload():
                pres.append(child)
        self.client.send(pres)

    # ------------------------------------------------------------ dispatch
    def _gate(self, route: IQRoute) -> Any:
        async def gate(iq: Element) -> Built | None:
            sender = iq.get("from")
            role: Role | None = None
            if route.need == OWN_SERVER:
                if not self.access.from_own_server(sender):
                    self.access.denied(sender, f"{route.type} {route.tag}")
                    raise StanzaError("service-unavailable")
            elif not (route.own_server and self.access.from_own_server(sender)):
                assert isinstance(route.need, Role)
                role = self.access.check(sender, route.need, f"{route.type} {route.tag}")
                if role is None:
                    raise StanzaError("service-unavailable")
            result = route.handler(iq, role)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            assert result is None or is_built(result)
            return result

        return gate

    def _on_message(self, msg: Element) -> None:
        mtype = msg.get("type") or "normal"
        if mtype in ("groupchat", "error", "headline"):
            return
        sender = msg.get("from")
        role = self.access.role(sender)
        if role is None:
            if msg.find("{jabber:client}body") is not None:
                self.access.denied(sender, "message")
            return
        for feat in self._features:
            try:
                if feat.on_message(msg, role):
                    return
            except Exception:
                # an exception out of here would end the connection (and lose
                # the stanzas read with this one): taken, logged
                self._feature_failed(feat, "message", sender)
                return
        if msg.find("{jabber:client}body") is not None:
            log.info("message from %s not answered: no feature took it", sender)

    def _on_presence(self, pres: Element) -> None:
        role = self.access.role(pres.get("from"))
        for feat in self._features:
            try:
                if feat.on_presence(pres, role):
                    return
            except Exception:
                self._feature_failed(feat, "presence", pres.get("from"))

    def _feature_failed(self, feat: Feature, what: str, sender: str | None) -> None:
        """A feature raised on a stanza: one traceback a minute per feature
        (a peer repeating the stanza must not flood the log), the rest counted."""
        now = self.clock.now()
        last, skipped = self._failures.get(feat.name, (None, 0))
        if last is not None and now - last < 60.0:
            self._failures[feat.name] = (last, skipped + 1)
            return
        self._failures[feat.name] = (now, 0)
        more = f" ({skipped} more failures not shown)" if skipped else ""
        log.exception("feature %s failed on a %s from %s%s", feat.name, what, sender, more)

    def _on_event(self, ev: object) -> None:
        if isinstance(ev, Online):
            # features first: the roster request goes out before the initial
            # presence (RFC 6121 §2.2)
            for feat in self._features:
                feat.on_online(ev.resumed)
            if not ev.resumed:
                self.announce()
        elif isinstance(ev, Closed):
            for feat in self._features:
                feat.on_offline()

    # ------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        self._stop = stop
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await self.client.start()
        waiter = asyncio.ensure_future(stop.wait())
        closed = asyncio.ensure_future(self.client._closed_event.wait())
        try:
            await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closed.cancel()
            if not stop.is_set() and self.exit_code == 0:
                # the connection loop ended without a requested stop: never a
                # quiet exit 0, which no service manager would restart
                self.exit_code = 1
                log.critical(
                    "the agent stopped without being asked to: %s",
                    self.client._final_error or "the connection loop ended",
                )
            await self.stop()

    async def stop(self) -> None:
        for feat in self._features:
            try:
                await feat.stop()
            except Exception:
                log.exception("feature %s failed to stop", feat.name)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        await self.client.close()


if TYPE_CHECKING:
    _host: type[CommandHost] = Agent  # the agent is what the command front ends need

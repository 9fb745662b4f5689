"""The device agent: one XMPP connection that stays up, the device's
presence, and the features (one module per XEP under :mod:`stanzalink.xep`,
the console under :mod:`stanzalink.console`) wired to it.  The agent also
keeps the device's commands (:mod:`stanzalink.commands`, one registry per
agent) and is the :class:`~stanzalink.commands.context.Device` they see.

The agent is the only place where features meet the client.  Every stanza
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
import importlib
import logging
import signal
import xml.etree.ElementTree as ET
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stanzalink import config
from stanzalink.access import AccessControl, Role
from stanzalink.aio import sections as connection_sections
from stanzalink.aio.client import Client, ClientConfig
from stanzalink.clock import Clock, LoopClock
from stanzalink.commands.plugins import registry_for
from stanzalink.commands.registry import Registry
from stanzalink.config import (
    ConfigError,
    DeviceConfig,
    Key,
    Section,
    choice,
    integer,
    schema_of,
    string,
)
from stanzalink.console.feature import Console
from stanzalink.errors import LocalProtocolError, StanzaError
from stanzalink.jid import JID
from stanzalink.net.http_origin import make_origin
from stanzalink.net.s5b import Socks5Dialer
from stanzalink.session.events import Closed, Online
from stanzalink.xep.base import OWN_SERVER, Feature, IQRoute, MissingFeature
from stanzalink.xep.bytestreams import Bytestreams, S5BPolicy
from stanzalink.xep.http import Http
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.s5b_transport import JingleS5B
from stanzalink.xep.roster import ACCESS, Roster, access_roles
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

if TYPE_CHECKING:
    from stanzalink.commands.context import CommandHost

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Feature)

# The features, in the order they are asked about messages.  "module:Class";
# a feature whose config section is absent may serve nothing.
FEATURES: list[str] = [
    "stanzalink.xep.ping:Ping",
    "stanzalink.xep.roster:Roster",
    "stanzalink.xep.disco:Disco",
    "stanzalink.xep.caps:Caps",
    "stanzalink.xep.version:Version",
    "stanzalink.xep.vcard:VCard",
    "stanzalink.xep.time:Time",
    "stanzalink.console.feature:Console",
    "stanzalink.xep.adhoc:AdHoc",
    "stanzalink.xep.bytestreams:Bytestreams",
    "stanzalink.xep.http:Http",
    "stanzalink.xep.ibb:Ibb",
    "stanzalink.xep.jingle:Jingle",
    "stanzalink.xep.jingle.s5b_transport:JingleS5B",
    "stanzalink.xep.jingle.ibb:JingleIBB",
    "stanzalink.xep.hashes:Hashes",
    "stanzalink.xep.jingle.file_transfer:Files",
]


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
LOG = Section("log", {"level": Key(choice("debug", "info", "warning", "error"), "info")})


def schema(features: Iterable[type[Feature]] | None = None) -> dict[str, Section]:
    """The sections a config file is checked against: the connection's, the
    agent's own, and those the features (those of ``FEATURES`` unless
    given) read."""
    sections: list[Section] = [*connection_sections.SECTIONS, PRESENCE, ACCESS]
    for feature in [load_feature(f) for f in FEATURES] if features is None else features:
        sections.extend(feature.config_sections)
    sections.append(LOG)
    return schema_of(sections)


def parse_config(
    raw: dict[str, Any],
    base: Path | None = None,
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


def load_config(path: str | Path, features: Iterable[type[Feature]] | None = None) -> DeviceConfig:
    """The config file at ``path``, read and checked (:class:`ConfigError`
    names the key that is wrong)."""
    return parse_config(config.read_toml(path), config.folder_of(path), features)


def client_config(cfg: DeviceConfig) -> ClientConfig:
    account = connection_sections.ACCOUNT.of(cfg)
    server = connection_sections.SERVER.of(cfg)
    conn = connection_sections.CONNECTION.of(cfg)
    return ClientConfig(
        jid=cfg.jid,
        password=cfg.password,
        resource=account["resource"],
        register=account["register"],
        require_tls=server["require_tls"],
        stream_management=conn["stream_management"],
        csi_inactive=conn["csi_inactive"],
        keepalive=conn["keepalive"],
        keepalive_timeout=conn["keepalive_timeout"],
        whitespace_keepalive=conn["whitespace_keepalive"],
        host=server["host"],
        port=server["port"],
        direct_tls=server["direct_tls"],
        ca_file=server["ca_file"],
        verify_tls=server["verify_tls"],
        client_cert=server["client_cert"],
        client_key=server["client_key"],
        scram_keys_file=account["scram_keys_file"],
        parser_backend=connection_sections.PARSER.of(cfg)["backend"],
        backoff_cap=float(conn["reconnect_max"]),
        **{k: v for k, v in conn.items() if k.startswith("tcp_keepalive")},
    )


def load_feature(spec: str) -> type[Feature]:
    module, _, cls = spec.partition(":")
    feature = getattr(importlib.import_module(module), cls)
    assert isinstance(feature, type) and issubclass(feature, Feature), spec
    return feature


def start_order(classes: list[type[Feature]]) -> list[type[Feature]]:
    """``classes`` with every feature after the features it ``requires``
    (otherwise in the order given); MissingFeature names a requirement
    that is not among them, LocalProtocolError a circle."""
    out: list[type[Feature]] = []
    visiting: set[type[Feature]] = set()

    def provider(need: type[Feature]) -> type[Feature] | None:
        return next((c for c in classes if issubclass(c, need)), None)

    def visit(cls: type[Feature]) -> None:
        if cls in out:
            return
        if cls in visiting:
            raise LocalProtocolError(f"features require each other in a circle: {cls.__name__}")
        visiting.add(cls)
        for need in cls.requires:
            dep = provider(need)
            if dep is None:
                raise MissingFeature(
                    f"feature {cls.__name__} ({cls.name}) requires {need.__name__}"
                    f" ({need.name}), which is not loaded"
                )
            visit(dep)
        visiting.discard(cls)
        out.append(cls)

    for cls in classes:
        visit(cls)
    return out


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
    ) -> None:
        if commands is not None:
            self.commands = commands
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
        classes = features if features is not None else [load_feature(f) for f in FEATURES]
        if not cfg.schema:  # a config built by hand: its sections get their defaults
            cfg.schema = schema(classes)
        # one SOCKS5 dial policy and proxy cache for XEP-0065 and XEP-0260
        self.s5b_policy = S5BPolicy.from_config(cfg)
        # built required-first (a constructor may look up what it requires),
        # then asked about stanzas in the order given
        self._features: list[Feature] = []
        for cls in start_order(classes):
            self._features.append(self._make(cls))
        made = {type(f): f for f in self._features}
        self._features = [made[cls] for cls in classes]
        for feat in self._features:
            for route in feat.iq_routes():
                # the client's table is the one routing table; it refuses a
                # payload two features claim
                self.client.on_iq(route.tag, self._gate(route), types=(route.type,))

    def _make(self, cls: type[Feature]) -> Feature:
        """A feature, with the I/O (from :mod:`stanzalink.net`) and the shared
        parts it takes through its constructor."""
        if issubclass(cls, Http):
            return cls(self, origins=make_origin)
        if issubclass(cls, JingleS5B):
            return cls(self, socks5=Socks5Dialer(), policy=self.s5b_policy)
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

    def send(self, stanza: ET.Element) -> None:
        self.client.send(stanza)

    async def iq(self, stanza: ET.Element, timeout: float | None = None) -> Element:
        return await self.client.iq(stanza, timeout)

    def feature(self, cls: type[F]) -> F | None:
        for feat in self._features:
            if isinstance(feat, cls):
                return feat
        return None

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
        return registry_for(self.config)

    def roster(self) -> Roster | None:
        return self.feature(Roster)

    def files(self) -> Files | None:
        return self.feature(Files)

    def controllers_seen(self) -> dict[JID, Role]:
        console = self.feature(Console)
        return console.online_controllers() if console is not None else {}

    def settings_changed(self, section: str) -> None:
        console = self.feature(Console)
        if section == "console" and console is not None:
            console.reload()

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
        async def gate(iq: Element) -> ET.Element | None:
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
            assert result is None or isinstance(result, ET.Element)
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

"""Many device agents in one process, on one event loop: the engine behind
``stanzalink simulate``, for load tests of a server or a cluster and for
the fleet tool's own tests.

>>> template = Template.from_file("sim.toml")       # [account] jid = "sim{n}@example.net"
>>> sim = Simulation(template, devices=200, ramp=50)
>>> stop = asyncio.Event()
>>> await sim.run(stop)                               # until stop is set

**One template, N accounts.**  In the template's ``[account]``, ``{n}`` in
``jid``, ``password`` and ``resource`` becomes the device's number
(``start`` .. ``start + devices - 1``).  A template whose ``jid`` has no
``{n}`` is refused for more than one device (they would all be one account
and push each other off).  With ``register = true`` each device creates its
account in-band (XEP-0077) the first time, as a single device does.

**Every feature live.**  Each simulated device is a whole
:class:`~stanzalink.agent.Agent` with its own client, session, roster,
commands, console and access control: nothing that holds state is shared.
What is shared is what does not change: the template checked once (the
schema, the feature classes, files such as the CA checked once), and the
TLS context (the CA store loaded once; an ``ssl.SSLContext`` serves any
number of connections).  Each device gets its own copy of every config
section, so a ``config set`` on one device changes that device only.

**What is counted.**  :meth:`Simulation.counts` says how many devices are
online, connecting (a connection is up, the session not yet), offline
(waiting to reconnect), not started yet (a ramp), or stopped (its agent
ended: asked to, or by itself after a refusal it does not retry).
Each device keeps how often it came online, resumed and lost its
session (:class:`DeviceStats`); ``on_event`` sees every session event
with the device's number, for callers that draw curves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stanzalink import config
from stanzalink.agent import Agent, client_config, parse_config
from stanzalink.aio.client import Client, ClientConfig
from stanzalink.aio.tls import ssl_context
from stanzalink.config import ConfigError, DeviceConfig
from stanzalink.features import FEATURES, load_feature
from stanzalink.jid import JID, InvalidJID
from stanzalink.session.core import State
from stanzalink.session.events import Closed, Online
from stanzalink.xep.base import Feature

__all__ = [
    "PLACEHOLDER",
    "Counts",
    "DeviceStats",
    "SimulatedDevice",
    "Simulation",
    "Template",
    "rss_bytes",
]

log = logging.getLogger(__name__)

PLACEHOLDER = "{n}"
# the [account] keys where the placeholder becomes the device's number
NUMBERED = ("jid", "password", "resource")


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc), in bytes; 0 elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Template:
    """A device config whose ``[account]`` holds ``{n}``: read and checked
    once (as device 1), then made into device ``n``'s config by
    :meth:`device` without checking it all again."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        base: str | None = None,
        *,
        features: Iterable[type[Feature]] | None = None,
        register: bool | None = None,
    ) -> None:
        account = raw.get("account")
        if not isinstance(account, dict):
            raise ConfigError("account: the template needs an [account] table (jid, password)")
        self.numbered = {k: v for k, v in account.items() if k in NUMBERED and isinstance(v, str)}
        raw = {**raw, "account": dict(account)}
        if register is not None:
            raw["account"]["register"] = register
        self.features = (
            list(features) if features is not None else [load_feature(f) for f in FEATURES]
        )
        # checked as device 1: every key, every file the config names
        self.config = parse_config(self._numbered(raw, 1), base, self.features)
        self._tls: ssl.SSLContext | None = None

    @classmethod
    def from_file(cls, path: str | Path, **kw: Any) -> Template:
        """The template at ``path`` (ConfigError names the key that is wrong)."""
        return cls(config.read_toml(path), config.folder_of(path), **kw)

    @property
    def numbered_jid(self) -> bool:
        return PLACEHOLDER in self.numbered.get("jid", "")

    def check_count(self, first: int, count: int) -> None:
        """Refuse what cannot run: no devices, numbers below 1, or several
        devices on one account (a ``jid`` without ``{n}``)."""
        if count < 1:
            raise ConfigError("devices: must be at least 1")
        if first < 1:
            raise ConfigError("start: device numbers start at 1 or above")
        if count > 1 and not self.numbered_jid:
            raise ConfigError(
                f"account.jid: {self.numbered.get('jid', '')!r} has no {PLACEHOLDER}, so "
                f"{count} devices would share one account and push each other off; write "
                f'e.g. jid = "device{PLACEHOLDER}@example.net" (each device gets its number)'
            )
        self.device(first + count - 1)  # the longest numbers still make a valid JID

    def _numbered(self, raw: Mapping[str, Any], n: int) -> dict[str, Any]:
        account = dict(raw["account"])
        for key, value in self.numbered.items():
            account[key] = value.replace(PLACEHOLDER, str(n))
        return {**raw, "account": account}

    def device(self, n: int) -> DeviceConfig:
        """Device ``n``'s config: the template's values, its own copy of each
        section, ``{n}`` replaced in ``[account]``."""
        tpl = self.config
        sections = {name: dict(values) for name, values in tpl.sections.items()}
        account = sections.setdefault("account", {})
        for key, value in self.numbered.items():
            account[key] = value.replace(PLACEHOLDER, str(n))
        jid = tpl.jid
        if "jid" in self.numbered:
            try:
                jid = JID.parse(account["jid"])
            except InvalidJID as exc:
                raise ConfigError(f"account.jid: device {n}: {exc}") from None
            if jid.local is None or jid.resource is not None:
                raise ConfigError(f"account.jid: device {n}: {account['jid']!r} is not a bare JID")
        password = account["password"] if "password" in self.numbered else tpl.password
        return DeviceConfig(
            jid=jid,
            password=password,
            access={role: list(who) for role, who in tpl.access.items()},
            sections=sections,
            base=tpl.base,
            schema=tpl.schema,
        )

    def tls_context(self) -> ssl.SSLContext:
        """The one TLS context every device connects with (built once: the
        template's CA and client certificate are the same for all)."""
        if self._tls is None:
            self._tls = ssl_context(client_config(self.config))
        return self._tls


class _SharedTLSClient(Client):
    """A client that connects with the template's TLS context instead of
    building one (and loading the CA store) for each attempt."""

    def __init__(self, cfg: ClientConfig, tls: ssl.SSLContext) -> None:
        super().__init__(cfg)
        self._shared_tls = tls

    def _ssl_context(self) -> ssl.SSLContext:
        return self._shared_tls


@dataclass(slots=True)
class DeviceStats:
    onlines: int = 0  # sessions that came online (new or resumed)
    resumed: int = 0  # of those, resumed by stream management
    drops: int = 0  # sessions lost (the connection closed while not stopping)
    last_change: float = 0.0  # time.monotonic() of the last online/offline


@dataclass(slots=True)
class SimulatedDevice:
    n: int
    agent: Agent
    stats: DeviceStats = field(default_factory=DeviceStats)
    task: asyncio.Task[None] | None = None

    @property
    def state(self) -> str:
        """online, connecting, offline or stopped."""
        if self.task is not None and self.task.done():
            return "stopped"
        client = self.agent.client
        if client.online:
            return "online"
        if client.session.state is not State.DISCONNECTED:
            return "connecting"
        return "offline"


@dataclass(frozen=True, slots=True)
class Counts:
    devices: int
    online: int = 0
    connecting: int = 0
    offline: int = 0
    pending: int = 0  # not started yet (ramp)
    stopped: int = 0

    def line(self) -> str:
        parts = [
            f"{self.online} online",
            f"{self.connecting} connecting",
            f"{self.offline} offline",
        ]
        if self.pending:
            parts.append(f"{self.pending} not started")
        if self.stopped:
            parts.append(f"{self.stopped} stopped")
        return f"{self.devices} devices: " + ", ".join(parts)

    def as_json(self) -> dict[str, int]:
        return {
            "devices": self.devices,
            "online": self.online,
            "connecting": self.connecting,
            "offline": self.offline,
            "pending": self.pending,
            "stopped": self.stopped,
        }


EventHook = Callable[[int, object], None]


class Simulation:
    """``devices`` agents from ``template``, numbered from ``start``, run on
    the current event loop.  ``ramp``: devices started per second (None:
    all at once).  ``on_event(n, event)``: every session event of every
    device.  ``make_agent``: builds device n's agent from its config (the
    default: :class:`Agent` on a client with the shared TLS context)."""

    def __init__(
        self,
        template: Template,
        devices: int,
        *,
        start: int = 1,
        ramp: float | None = None,
        on_event: EventHook | None = None,
        make_agent: Callable[[int, DeviceConfig], Agent] | None = None,
    ) -> None:
        template.check_count(start, devices)
        if ramp is not None and not ramp > 0:
            raise ConfigError("ramp: must be more than 0 devices a second")
        self.template = template
        self.numbers = range(start, start + devices)
        self.ramp = ramp
        self.on_event = on_event
        self.make_agent = make_agent or self._agent
        self.devices: dict[int, SimulatedDevice] = {}
        self.started_at: float | None = None
        self.stopping = False  # stop was asked for: what closes now is no drop

    def _agent(self, n: int, cfg: DeviceConfig) -> Agent:
        client = _SharedTLSClient(client_config(cfg), self.template.tls_context())
        return Agent(cfg, features=self.template.features, client=client)

    # ------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event) -> int:
        """Start the devices (at the ramp's pace) and run them until ``stop``
        is set; then stop them all, each closing its stream.  Returns how
        many devices stopped before they were asked to."""
        self.started_at = time.monotonic()
        ramp = asyncio.ensure_future(self._start_all(stop))
        try:
            await stop.wait()
        finally:
            ramp.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ramp
            self.stopping = True
            stop.set()  # the agents' own wait ends too
            tasks = [d.task for d in self.devices.values() if d.task is not None]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        return sum(1 for d in self.devices.values() if d.agent.exit_code != 0)

    async def _start_all(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for i, n in enumerate(self.numbers):
            if self.ramp is not None:
                delay = began + i / self.ramp - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 50 == 49:
                await asyncio.sleep(0)  # let the first ones' handshakes move
            if stop.is_set():
                return
            self.start_device(n, stop)

    def start_device(self, n: int, stop: asyncio.Event) -> SimulatedDevice:
        cfg = self.template.device(n)
        agent = self.make_agent(n, cfg)
        device = SimulatedDevice(n, agent)
        self.devices[n] = device
        agent.client.on_event(functools.partial(self._event, device))
        device.task = asyncio.ensure_future(agent.run(stop))
        return device

    def _event(self, device: SimulatedDevice, ev: object) -> None:
        stats = device.stats
        if isinstance(ev, Online):
            stats.onlines += 1
            stats.resumed += ev.resumed
            stats.last_change = time.monotonic()
        elif isinstance(ev, Closed):
            if not self.stopping:
                stats.drops += 1
            stats.last_change = time.monotonic()
        if self.on_event is not None:
            self.on_event(device.n, ev)

    # ------------------------------------------------------------ looking
    def counts(self) -> Counts:
        tally = {"online": 0, "connecting": 0, "offline": 0, "stopped": 0}
        for device in self.devices.values():
            tally[device.state] += 1
        pending = len(self.numbers) - len(self.devices)
        return Counts(len(self.numbers), pending=pending, **tally)

    async def wait(
        self, check: Callable[[Counts], bool], timeout: float, poll: float = 0.1
    ) -> Counts:
        """Wait until ``check(counts())`` holds; TimeoutError with the counts
        after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            counts = self.counts()
            if check(counts):
                return counts
            if loop.time() > deadline:
                raise TimeoutError(f"after {timeout:g} s: {counts.line()}")
            await asyncio.sleep(poll)

    async def all_online(self, timeout: float) -> Counts:
        return await self.wait(lambda c: c.online == c.devices, timeout)

    def stats(self) -> dict[int, DeviceStats]:
        return {n: d.stats for n, d in self.devices.items()}

"""Scaffolding the integration tests share: fresh accounts, a slixmpp
peer logged in to the fixture server, a stanzalink client's login (or its
refusal), polling until a condition holds, a device configuration for an
account, and an Agent that runs (online) for the length of a block.

Every helper takes the server object of a fixture (Prosody or ejabberd):
only its ``.port``, ``.ca``, ``.domain`` and ``.register`` are used, and
connections go to 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import slixmpp

from stanzalink.agent import Agent, parse_config
from stanzalink.aio.client import Client, ClientConfig, ConnectionFailed
from stanzalink.commands import Registry
from stanzalink.config import DeviceConfig
from stanzalink.jid import JID
from stanzalink.xep.base import Feature

Plugin = str | tuple[str, dict[str, Any]]
F = TypeVar("F", bound=Feature)


class Server(Protocol):
    """What the helpers need of a fixture server."""

    @property
    def port(self) -> int: ...
    @property
    def ca(self) -> Path: ...
    @property
    def domain(self) -> str: ...
    def register(self, user: str, password: str) -> None: ...


_accounts = itertools.count(1)


def new_account(server: Server, prefix: str, password: str = "pw-{user}") -> tuple[str, str]:
    """A fresh registered account ``<prefix><N>@domain`` (N counts across
    all modules, so no two tests share one): (bare JID, password), the
    password ``password`` with ``{user}`` replaced by the user name."""
    user = f"{prefix}{next(_accounts)}"
    secret = password.format(user=user)
    server.register(user, secret)
    return f"{user}@{server.domain}", secret


async def slix_client(
    server: Server,
    jid: str,
    password: str,
    plugins: Iterable[Plugin] = (),
    resource: str = "ctl",
    setup: Callable[[slixmpp.ClientXMPP], None] | None = None,
    on_start: Callable[[slixmpp.ClientXMPP], Awaitable[None]] | None = None,
    timeout: float = 30,
) -> slixmpp.ClientXMPP:
    """A slixmpp client for ``jid/resource``, its session started.

    ``plugins``: names, or (name, config) pairs, registered before connecting;
    ``setup(xmpp)`` runs before connecting too (handlers, options);
    ``await on_start(xmpp)`` runs in session_start before this returns.
    A refused login raises RuntimeError("auth") at once."""
    xmpp = slixmpp.ClientXMPP(f"{jid}/{resource}", password)
    xmpp.ca_certs = Path(server.ca)
    for plugin in plugins:
        name, config = (plugin, None) if isinstance(plugin, str) else plugin
        xmpp.register_plugin(name, config)
    if setup is not None:
        setup(xmpp)
    started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def session_start(_: Any) -> None:
        if on_start is not None:
            await on_start(xmpp)
        if not started.done():
            started.set_result(True)

    def failed_auth(_: Any) -> None:
        if not started.done():
            started.set_exception(RuntimeError("auth"))

    xmpp.add_event_handler("session_start", session_start)
    xmpp.add_event_handler("failed_auth", failed_auth)
    xmpp.connect("127.0.0.1", server.port)
    await asyncio.wait_for(started, timeout)
    return xmpp


async def until(
    check: Callable[[], Awaitable[Any] | Any], what: str = "the condition", timeout: float = 20
) -> Any:
    """Poll ``check()`` (awaited when it returns an awaitable) every 50 ms
    until it is true; return that value.  AssertionError after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def client_config(server: Server, jid: str, password: str, **kw: Any) -> ClientConfig:
    """A stanzalink ClientConfig for the fixture server: 127.0.0.1, its port
    and CA, resource "agent", no reconnects (each overridable in ``kw``)."""
    kw.setdefault("host", "127.0.0.1")
    kw.setdefault("port", server.port)
    kw.setdefault("resource", "agent")
    kw.setdefault("reconnect", False)
    return ClientConfig(jid=JID.parse(jid), password=password, ca_file=str(server.ca), **kw)


async def login(cfg: ClientConfig, timeout: float = 30) -> tuple[Client, list[object]]:
    """A started Client, online; with the list its events go to (it keeps
    growing).  A login that fails closes the client and raises."""
    events: list[object] = []
    client = Client(cfg)
    client.on_event(events.append)
    await client.start()
    try:
        await client.wait_online(timeout)
    except BaseException:
        await client.close()
        raise
    return client, events


async def login_refused(client: Client, timeout: float = 30) -> str:
    """Start ``client``, whose login must fail: ConnectionFailed within
    ``timeout`` (anything else fails the test); closed; the error's text."""
    await client.start()
    try:
        await client.wait_online(timeout)
    except ConnectionFailed as exc:
        return str(exc)
    else:
        raise AssertionError(f"{client.config.jid} came online")
    finally:
        await client.close()


def device_config(
    server: Server,
    jid: str,
    password: str,
    access: dict[str, list[str]],
    resource: str = "agent",
    **sections: dict[str, Any],
) -> DeviceConfig:
    """The agent's configuration as ``stanzalink run`` reads it (every key
    checked by agent.parse_config): the account, the fixture server, ``access``
    and the features' sections (``files={...}``, ``http={...}``, ...)."""
    return parse_config({
        "account": {"jid": jid, "password": password, "resource": resource},
        "server": {"host": "127.0.0.1", "port": server.port, "ca_file": str(server.ca)},
        "access": access,
        **sections,
    })  # fmt: skip


@asynccontextmanager
async def running_agent(
    cfg: DeviceConfig,
    features: Sequence[type[Feature]] | None = None,
    stop_timeout: float = 30,
    commands: Registry | None = None,
) -> AsyncIterator[Agent]:
    """An Agent with ``features`` (None: the real list, agent.FEATURES) run
    and online for the block; stopped (and awaited) however the block ends.
    ``commands``: the registry its console and ad-hoc commands serve."""
    feats = None if features is None else list(features)
    agent = Agent(cfg, features=feats, commands=commands)
    stop = asyncio.Event()
    task = asyncio.ensure_future(agent.run(stop))
    try:
        await agent.client.wait_online(30)
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, stop_timeout)


def feature_of(agent: Agent, kind: type[F]) -> F:
    """The agent's running feature of class ``kind`` (asserted present)."""
    feat = agent.feature(kind)
    assert feat is not None, kind.name
    return feat

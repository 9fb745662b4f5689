"""A stranger's hostile stanzas through real servers (Prosody and ejabberd):
over-deep, over-wide, over-long and long-named payloads sent while the
device is offline (the server stores them and hands them over at login) and
while it is online, and a burst of IQs.  Afterwards the device still has the
one connection it started with and answers an admin's ping at once.

A stranger is any account on the server, with no role on the device.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from stanzalink.agent import Agent
from stanzalink.aio.client import Client
from stanzalink.session.events import Online
from stanzalink.xml.builder import E
from stanzalink_testing.ejabberd import Ejabberd

from .conftest import running_ejabberd
from .peers import Server, client_config, device_config, new_account

MSG = "{jabber:client}message"


def hostile_messages(to: str) -> list[ET.Element]:
    """What any account can send: each crosses one of the device's parser
    limits (depth 64, 64 attributes, 256-byte names) or comes near the
    servers' own stanza limit (256 KiB), where the server's stamping
    (from, <delay/>) adds to it."""
    deep = E(MSG, {"to": to, "type": "chat"}, E("{jabber:client}body", text="deep"))
    node = deep
    for _ in range(70):
        node = ET.SubElement(node, "{urn:example:deep}a")
    wide = E(
        MSG,
        {"to": to, "type": "chat"},
        E("{jabber:client}body", text="wide"),
        E("{urn:example:wide}x", {f"a{i}": str(i) for i in range(70)}),
    )
    named = E(
        MSG,
        {"to": to, "type": "chat"},
        E("{jabber:client}body", text="named"),
        E("{urn:example:name}" + "n" * 300),
    )
    long = E(MSG, {"to": to, "type": "chat"}, E("{jabber:client}body", text="L" * 250_000))
    return [deep, wide, named, long]


@pytest.fixture(scope="module")
def ejabberd_offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ejabberd]:
    """An ejabberd that stores messages for offline accounts (mod_offline)."""
    with running_ejabberd(
        tmp_path_factory, "ejabberd-offline", "  mod_offline: {}\n", scram_host=False
    ) as server:
        yield server


@pytest.fixture(params=["prosody", "ejabberd_offline"])
def server(request: pytest.FixtureRequest) -> Server:
    result: Server = request.getfixturevalue(request.param)
    return result


async def connect(server: Server, jid: str, password: str, **kw: object) -> Client:
    client = Client(client_config(server, jid, password, **kw))
    await client.start()
    await client.wait_online(30)
    return client


async def ping_time(admin: Client, to: str, timeout: float = 10) -> float:
    start = time.monotonic()
    await admin.iq(
        E("{jabber:client}iq", {"type": "get", "to": to}, E("{urn:xmpp:ping}ping")), timeout
    )
    return time.monotonic() - start


class Logins:
    def __init__(self, agent: Agent) -> None:
        self.count = 0
        agent.client.on_event(self._on)

    def _on(self, ev: object) -> None:
        if isinstance(ev, Online):
            self.count += 1


def _setup(server: Server) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
    return (
        new_account(server, "hostile-dev"),
        new_account(server, "hostile-admin"),
        new_account(server, "stranger"),
    )


def _skips(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]


def test_hostile_stanzas_sent_while_offline_and_online(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    (device, dpw), (admin_jid, apw), (stranger_jid, spw) = _setup(server)
    cfg = device_config(server, device, dpw, {"admin": [admin_jid]})
    caplog.set_level(logging.INFO)

    async def main() -> None:
        stranger = await connect(server, stranger_jid, spw, stream_management=False)
        admin = await connect(server, admin_jid, apw)
        try:
            # offline: the server keeps these and hands them over at login
            for msg in hostile_messages(device):
                stranger.send(msg)
            await ping_time(stranger, server.domain)  # the server has them all
            agent = Agent(cfg)
            logins = Logins(agent)
            stop = asyncio.Event()
            task = asyncio.ensure_future(agent.run(stop))
            try:
                await agent.client.wait_online(30)
                full = str(agent.jid)
                await asyncio.sleep(2)  # the stored stanzas arrive
                assert await ping_time(admin, full) < 5
                # the deep, wide and long-named ones were skipped by the parser
                # (not dropped by the server); the long one was accepted
                assert agent.client.session.skipped == 3
                # online: straight to the device's connection
                for msg in hostile_messages(full):
                    stranger.send(msg)
                await ping_time(stranger, server.domain)
                await asyncio.sleep(1)
                assert await ping_time(admin, full) < 5
                assert agent.client.session.skipped == 6
                assert logins.count == 1, "the device reconnected"
                assert agent.client.online
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            assert agent.exit_code == 0
        finally:
            await stranger.close()
            await admin.close()

    asyncio.run(main())
    assert len(_skips(caplog)) == 1  # one line a minute per sender


def test_an_iq_flood_from_a_stranger_costs_no_connection(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    (device, dpw), (admin_jid, apw), (stranger_jid, spw) = _setup(server)
    cfg = device_config(server, device, dpw, {"admin": [admin_jid]})
    caplog.set_level(logging.INFO)

    async def main() -> None:
        stranger = await connect(
            server, stranger_jid, spw, stream_management=False, max_unacked=5000
        )
        admin = await connect(server, admin_jid, apw)
        try:
            agent = Agent(cfg)
            logins = Logins(agent)
            stop = asyncio.Event()
            task = asyncio.ensure_future(agent.run(stop))
            try:
                await agent.client.wait_online(30)
                full = str(agent.jid)
                for i in range(3000):
                    stranger.send(
                        E(
                            "{jabber:client}iq",
                            {"type": "get", "to": full, "id": f"flood{i}"},
                            E("{http://jabber.org/protocol/disco#info}query"),
                        )
                    )
                await ping_time(stranger, server.domain, 60)
                assert await ping_time(admin, full, 30) < 20
                await asyncio.sleep(1)
                assert logins.count == 1, "the device reconnected"
                assert agent.client.online
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
        finally:
            await stranger.close()
            await admin.close()

    asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors[:5]]
    device_lines = [r for r in caplog.records if r.name.startswith("stanzalink")]
    assert len(device_lines) < 200


def test_a_second_login_on_the_devices_resource_does_not_end_the_agent(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The server ends the device's stream with <conflict/>: the agent says
    who took its place and keeps trying (slowly), it does not exit."""
    (device, dpw), (admin_jid, _), _ = _setup(server)
    cfg = device_config(server, device, dpw, {"admin": [admin_jid]})

    async def main() -> None:
        agent = Agent(cfg)
        stop = asyncio.Event()
        task = asyncio.ensure_future(agent.run(stop))
        try:
            await agent.client.wait_online(30)
            other = await connect(server, device, dpw, resource="agent")
            try:
                deadline = time.monotonic() + 10
                while agent.client.online and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert not agent.client.online
                await asyncio.sleep(1)
                assert not task.done() and agent.client.crashed is None
            finally:
                await other.close()
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        assert agent.exit_code == 0  # stopped on request

    asyncio.run(main())
    assert any(
        r.levelno == logging.ERROR and "another client took resource agent" in r.getMessage()
        for r in caplog.records
    )

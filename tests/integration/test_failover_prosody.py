"""Failover against one real Prosody reached by two paths: two chaos proxies
(``stanzalink_testing.chaosproxy``) in front of its one client port, both in
the device's ``[server] hosts``.  The device is the real agent; a slixmpp
controller, connected straight to Prosody, types console commands.

- The first path dies (its proxy stopped: every link reset, new connections
  refused): the device goes to the second and resumes its XEP-0198 session
  there, and answers the next command.  Measured on a loaded 2-core
  machine: 1.4 to 4.9 s from the cut to the resumed session in five runs
  (the first wait is drawn under ``[connection] reconnect_spread``, 5 s; the
  handshake and resumption take the rest): bound 5 s + a handshake.  The
  test allows 60 s.
- The first path refuses from the start: the device comes up on the second
  at once, and the log names the first (1 of 2) and why.
- Nothing sent is lost when resumption fails: console replies written while
  the path was dark (never acknowledged), then the server restarted (its
  sessions gone): the device binds anew and sends the replies again, the
  same bytes, so each carries the origin-id it had (XEP-0359) and a
  controller can drop duplicates by it.

Prosody runs for this module only (it is restarted by the last test)."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import slixmpp

from stanzalink.commands import Arg, Invocation, Registry
from stanzalink.commands.builtin import install
from stanzalink.session.events import Online
from stanzalink.stanza import ORIGIN_ID
from stanzalink_testing.chaosproxy import ChaosProxy
from stanzalink_testing.prosody import Prosody, free_port, make_certs

from .peers import device_config, new_account, running_agent, slix_client, until

ORIGIN = re.compile(rb'<origin-id xmlns="urn:xmpp:sid:0" id="([0-9a-f]{32})"/>')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prosody]:
    if shutil.which("prosody") is None or shutil.which("openssl") is None:
        pytest.fail("prosody and openssl are needed: run scripts/bootstrap.sh")
    root = tmp_path_factory.mktemp("prosody-failover")
    ca, cert, key = make_certs(root)
    prosody = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
    prosody.write_config(cert, key)
    prosody.start()
    try:
        yield prosody
    finally:
        prosody.stop()


@asynccontextmanager
async def two_paths(server: Prosody) -> AsyncIterator[list[ChaosProxy]]:
    """Two paths to the server's one client port."""
    paths = [ChaosProxy("127.0.0.1", server.port) for _ in range(2)]
    for p in paths:
        await p.start()
    try:
        yield paths
    finally:
        for p in paths:
            await p.stop()


class Held:
    """``hold TAG``: a console command that answers ``held TAG`` once the
    test releases it (so the test knows when the answers are written)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    def registry(self) -> Registry:
        reg = install(Registry())

        @reg.command("hold", help="answer when released", args=[Arg("tag", str, "a word")])
        async def hold(inv: Invocation) -> str:
            self.waiting += 1
            await self.release.wait()
            return f"held {inv.args['tag']}"

        return reg


def device(server: Prosody, hosts: list[str], ctl: str, **connection: Any) -> Any:
    jid, pw = new_account(server, "failover-dev")
    cfg = device_config(
        server,
        jid,
        pw,
        {"admin": [ctl]},
        console={"max_jobs": 10, "rate": 100.0, "burst": 100},
        connection={"keepalive": 60, **connection},
    )
    server_section = cfg.sections["server"]
    del server_section["host"], server_section["port"]
    server_section["hosts"] = hosts
    return cfg


async def controller(server: Prosody) -> tuple[str, str, slixmpp.ClientXMPP, asyncio.Queue[Any]]:
    jid, pw = new_account(server, "failover-ctl")
    got: asyncio.Queue[Any] = asyncio.Queue()
    xmpp = await slix_client(
        server, jid, pw, setup=lambda x: x.add_event_handler("message", got.put_nowait)
    )
    return jid, pw, xmpp, got


async def answer(got: asyncio.Queue[Any], words: str, timeout: float = 30) -> Any:
    """The next chat message whose body holds ``words`` (banners skipped)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        msg = await asyncio.wait_for(got.get(), max(left, 0.01))
        if msg["type"] != "error" and words in str(msg["body"]):
            return msg


async def test_the_first_path_dies_and_the_session_resumes_on_the_second(
    server: Prosody, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stanzalink")
    async with two_paths(server) as (a, b):
        port_a = a.port
        await first_path_dies(server, a, b)
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        re.match(rf"127\.0\.0\.1:{port_a} \(\[server\] hosts, 1 of 2\) ended: ", m) for m in lines
    ), lines


async def first_path_dies(server: Prosody, a: ChaosProxy, b: ChaosProxy) -> None:
    ctl, _, xmpp, got = await controller(server)
    cfg = device(server, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], ctl)
    held = Held()
    held.release.set()
    try:
        async with running_agent(cfg, commands=held.registry()) as agent:
            onlines: list[tuple[float, Online]] = []
            agent.client.on_event(
                lambda ev: (
                    onlines.append((time.monotonic(), ev)) if isinstance(ev, Online) else None
                )
            )
            to = f"{cfg.jid}/agent"
            assert a.counters()["open_links"] == 1 and b.connections == 0
            xmpp.send_message(mto=to, mbody="hold before", mtype="chat")
            await answer(got, "held before")
            cut = time.monotonic()
            await a.stop()  # the first path dies: its link reset, new connections refused
            await until(lambda: onlines, "the device back online", timeout=60)
            back, online = onlines[0]
            assert online.resumed, "the session was not resumed on the second path"
            assert b.counters()["open_links"] == 1
            xmpp.send_message(mto=to, mbody="hold after", mtype="chat")
            await answer(got, "held after")
            print(f"failover: resumed on the second path {back - cut:.2f} s after the cut")
    finally:
        xmpp.disconnect()


async def test_the_first_path_refuses_and_the_device_comes_up_on_the_second(
    server: Prosody, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stanzalink")
    closed = free_port()  # nothing listens there
    ctl, _, xmpp, got = await controller(server)
    cfg = device(server, [f"127.0.0.1:{closed}", f"127.0.0.1:{server.port}"], ctl)
    held = Held()
    held.release.set()
    try:
        start = time.monotonic()
        async with running_agent(cfg, commands=held.registry()):
            up = time.monotonic() - start
            xmpp.send_message(mto=f"{cfg.jid}/agent", mbody="hold up", mtype="chat")
            await answer(got, "held up")
    finally:
        xmpp.disconnect()
    assert up < 30  # no backoff before the second candidate (a bound, not a measure)
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"cannot connect to 127.0.0.1:{closed} ([server] hosts, 1 of 2): ")
        for m in lines
    ), lines


async def test_replies_unacknowledged_when_resumption_fails_are_sent_again_with_their_origin_id(
    server: Prosody,
) -> None:
    async with two_paths(server) as (a, b):
        await replies_survive_a_failed_resumption(server, a, b)


async def replies_survive_a_failed_resumption(
    server: Prosody, a: ChaosProxy, b: ChaosProxy
) -> None:
    ctl, ctl_pw, xmpp, got = await controller(server)
    cfg = device(server, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], ctl)
    held = Held()
    tags = [f"r{i}" for i in range(5)]
    try:
        async with running_agent(cfg, commands=held.registry()) as agent:
            onlines: list[Online] = []
            agent.client.on_event(lambda ev: isinstance(ev, Online) and onlines.append(ev))
            to = f"{cfg.jid}/agent"
            for tag in tags:
                xmpp.send_message(mto=to, mbody=f"hold {tag}", mtype="chat")
            await until(lambda: held.waiting == len(tags), "the commands running")
            # the path goes dark, then the answers are written into it: the
            # server never gets them, so they stay unacknowledged
            a.blackhole()
            unacked_before = len(agent.client.session.sm.unacked)
            held.release.set()
            await until(
                lambda: len(agent.client.session.sm.unacked) >= unacked_before + len(tags),
                "the answers written",
            )
            written = b"".join(agent.client.session.sm.unacked)
            sent_ids = {
                tag: ORIGIN.search(m.group(0)).group(1).decode()  # type: ignore[union-attr]
                for tag in tags
                if (m := re.search(rb"<message[^>]*>(?:(?!</message>).)*held " + tag.encode()
                                   + rb"(?:(?!</message>).)*</message>", written, re.S))
            }  # fmt: skip
            assert set(sent_ids) == set(tags), written
            # the server restarts (its sessions gone), the controller comes
            # back, and then the dark path is reset: the device reconnects,
            # its resumption fails, it binds anew and sends the answers again
            xmpp.disconnect()
            server.stop()
            server.start()
            xmpp = await slix_client(
                server,
                ctl,
                ctl_pw,
                setup=lambda x: x.add_event_handler("message", got.put_nowait),
            )
            a.reset()
            received: dict[str, list[str]] = {}
            deadline = asyncio.get_running_loop().time() + 60
            while set(received) != set(tags):
                left = deadline - asyncio.get_running_loop().time()
                msg = await asyncio.wait_for(got.get(), max(left, 0.01))
                m = re.search(r"held (r\d)", str(msg["body"]))
                if msg["type"] == "error" or m is None:
                    continue
                origin = msg.xml.find(ORIGIN_ID)
                assert origin is not None, "an answer without an origin-id"
                received.setdefault(m.group(1), []).append(origin.get("id"))
            for tag in tags:
                assert set(received[tag]) == {sent_ids[tag]}, (tag, received[tag])
            assert [ev.resumed for ev in onlines] == [False], "resumption should have failed"
            assert agent.client.session.sm.enabled
    finally:
        xmpp.disconnect()

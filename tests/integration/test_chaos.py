"""Chaos: a TCP proxy on loopback (stanzalink_testing.chaosproxy) between
the device and the server cuts the link while traffic flows; with stream
management everything must arrive exactly once.  Bounded: a fixed number of
cuts and messages, and a time limit.

- Messages both ways between a bare Client and a slixmpp peer, the link reset
  at random points (Prosody with three seeds, ejabberd with one).
- Console commands from a slixmpp controller to the real agent, the link
  blackholed then reset (both servers): bench/chaos.py, one run each."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
import slixmpp

import chaos  # bench/chaos.py, on the path through tests/conftest.py (`make chaos`)
from stanzalink.aio.client import Client, ClientConfig
from stanzalink.jid import JID
from stanzalink.session.events import Online
from stanzalink.xml import E, Element
from stanzalink_testing.chaosproxy import ChaosProxy
from stanzalink_testing.ejabberd import Ejabberd
from stanzalink_testing.prosody import Prosody

MESSAGES = 120  # each way
CUTS = 8
TIME_LIMIT = 90.0


@pytest.mark.parametrize(
    ("server_name", "seed"),
    [("prosody", 1234), ("prosody", 7), ("prosody", 2026), ("ejabberd", 1234)],
)
def test_messages_survive_connection_cuts(
    request: pytest.FixtureRequest, server_name: str, seed: int
) -> None:
    server: Prosody | Ejabberd = request.getfixturevalue(server_name)
    device_user = f"chaosdev{seed}"
    device_jid, device_pw = f"{device_user}@{server.domain}", f"dev-pw-{seed}"
    server.register(device_user, device_pw)
    ctl_user = f"chaosctl{seed}"
    server.register(ctl_user, "ctl-pw")
    ctl_jid = f"{ctl_user}@{server.domain}"
    rng = random.Random(seed)

    async def main() -> dict[str, Any]:
        proxy = ChaosProxy("127.0.0.1", server.port)
        port = await proxy.start()
        onlines: list[Online] = []
        at_device: Counter[str] = Counter()
        at_controller: Counter[str] = Counter()

        def on_device_message(msg: Element) -> None:
            body = msg.findtext("{jabber:client}body") or ""
            if body.startswith("c2d-"):
                at_device[body] += 1

        client = Client(
            ClientConfig(
                jid=JID.parse(device_jid),
                password=device_pw,
                resource="agent",
                host="127.0.0.1",
                port=port,
                ca_file=str(server.ca),
                backoff_base=0.05,
                backoff_cap=0.3,
                keepalive=30,
            )
        )
        client.on_event(lambda ev: onlines.append(ev) if isinstance(ev, Online) else None)
        client.on_message(on_device_message)
        await client.start()
        await client.wait_online(30)

        ctl = slixmpp.ClientXMPP(ctl_jid + "/ctl", "ctl-pw")
        ctl.ca_certs = str(server.ca)
        ready = asyncio.get_running_loop().create_future()
        ctl.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(1))

        def on_ctl_message(msg: Any) -> None:
            body = str(msg["body"])
            if body.startswith("d2c-"):
                at_controller[body] += 1

        ctl.add_event_handler("message", on_ctl_message)
        ctl.connect("127.0.0.1", server.port)
        await asyncio.wait_for(ready, 30)

        device_full = f"{device_jid}/agent"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIME_LIMIT

        async def device_sender() -> None:
            for i in range(MESSAGES):
                while not client.session.can_send:
                    await asyncio.sleep(0.01)
                client.send(
                    E("{jabber:client}message", {"to": ctl_jid + "/ctl", "type": "chat"},
                      E("{jabber:client}body", text=f"d2c-{i}"))
                )  # fmt: skip
                await asyncio.sleep(rng.uniform(0, 0.02))

        async def controller_sender() -> None:
            for i in range(MESSAGES):
                ctl.send_message(mto=device_full, mbody=f"c2d-{i}", mtype="chat")
                await asyncio.sleep(rng.uniform(0, 0.02))

        async def cutter() -> None:
            for _ in range(CUTS):
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                proxy.reset()  # an abrupt cut: RST to both sides

        await asyncio.gather(device_sender(), controller_sender(), cutter())
        # let everything arrive (bounded)
        while loop.time() < deadline and (
            len(at_device) < MESSAGES or len(at_controller) < MESSAGES
        ):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # late duplicates would show up here
        result = {
            "cuts": proxy.resets,
            "connections": proxy.connections,
            "resumed": sum(1 for o in onlines if o.resumed),
            "fresh": sum(1 for o in onlines if not o.resumed),
            "device_received": sum(at_device.values()),
            "controller_received": sum(at_controller.values()),
            "lost_to_device": MESSAGES - len(at_device),
            "lost_to_controller": MESSAGES - len(at_controller),
            "duplicated": sum(n - 1 for n in (at_device + at_controller).values() if n > 1),
        }
        ctl.disconnect()
        await client.close()
        await proxy.stop()
        return result

    result = asyncio.run(main())
    print(f"chaos ({server_name}, seed {seed}):", result)
    assert result["cuts"] == CUTS and result["connections"] > 1
    assert result["resumed"] >= 1, result
    assert result["lost_to_device"] == 0, result
    assert result["lost_to_controller"] == 0, result
    assert result["duplicated"] == 0, result


# ---------------------------------------------------------------- console commands


@pytest.mark.parametrize("server_name", ["prosody", "ejabberd"])
def test_console_commands_survive_link_chaos(
    request: pytest.FixtureRequest, server_name: str, tmp_path: Any
) -> None:
    """8 cuts (dark for 0.3-5 s, then an RST both ways) while 120 commands
    flow: each is answered exactly once, with its result, in its thread;
    after each resume an outstanding command is answered at once, and so is
    a command that comes after the resumed device sat idle (Prosody held
    those until the keepalive gave up while <inactive/> was not sent again
    after <resumed/>)."""
    server: Prosody | Ejabberd = request.getfixturevalue(server_name)
    plan = chaos.Plan(cuts=8, commands=120, seed=15)
    result = asyncio.run(chaos.chaos_run(server, server_name, 1, plan, tmp_path))
    print(f"chaos ({server_name}):", result)
    assert not result.timeout, result
    assert result.cuts == 8 and result.cuts_with_link == 8, result
    assert result.resumed >= 4, result
    assert result.commands == 120, result
    assert result.lost == 0 and result.duplicated == 0, result.problems
    assert result.answered == 120 and result.unattributed == 0, result.problems
    assert result.without_reference == 0, result  # each names its command's id too
    assert result.resume_to_answer, result
    assert max(result.resume_to_answer) < 1.5, result.resume_to_answer
    assert len(result.idle_to_answer) >= 3, result
    assert max(result.idle_to_answer) < 1.5, result.idle_to_answer

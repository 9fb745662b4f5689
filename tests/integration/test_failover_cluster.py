"""Failover between the nodes of a two-node ejabberd cluster
(``stanzalink_testing.cluster``): a real device agent with both nodes in
``[server] hosts`` (node a through a chaos proxy, so its link can be cut
while the node lives), a slixmpp controller on a node that is up.

- The link to node a is cut (reset): the device goes to node b, the next
  candidate, and resumes its XEP-0198 session there (ejabberd hands the
  session over from node a, which still runs).
- Node b, where the device now is, is killed with SIGKILL: the device goes
  to node a and answers the controller's command there.  The session lived
  in node b's processes, so it is not resumed: the device binds anew and
  re-sends what node b never acknowledged.
- Node b is started again, node a stopped cleanly (``system-shutdown``):
  the device moves to node b and answers there (ejabberd 23.01 keeps no
  session of a node that stops: a new one).

Measured in four runs on a loaded 2-core machine, from the event to the
device online on the other node: link cut 1.0-5.0 s, kill -9 1.3-3.4 s,
clean stop 2.8-7.5 s (``ejabberdctl stop``'s own second or two included).  The first wait
is drawn under ``[connection] reconnect_spread`` (5 s), then one handshake:
bound reconnect_spread + a handshake.  The test allows 90 s for each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stanzalink.session.events import Online
from stanzalink_testing.chaosproxy import ChaosProxy
from stanzalink_testing.cluster import EjabberdCluster, available
from stanzalink_testing.ejabberd import Ejabberd

from .peers import device_config, running_agent, slix_client, until
from .test_failover_prosody import Held, answer


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdCluster]:
    if not available():
        pytest.fail("ejabberd is needed: run scripts/bootstrap.sh")
    with EjabberdCluster.create(tmp_path_factory.mktemp("failover-cluster")) as c:
        yield c


def hosts_config(cluster: EjabberdCluster, jid: str, pw: str, ctl: str, port_a: int) -> Any:
    cfg = device_config(cluster.a, jid, pw, {"admin": [ctl]}, console={"rate": 100.0, "burst": 100})
    server = cfg.sections["server"]
    del server["host"], server["port"]
    server["hosts"] = [f"127.0.0.1:{port_a}", f"127.0.0.1:{cluster.b.port}"]
    return cfg


def node_of(agent: Any, cluster: EjabberdCluster, proxy: ChaosProxy) -> str:
    """Which node the device is connected to, by the candidate's port."""
    target = agent.client._target
    return {proxy.port: "a", cluster.b.port: "b"}[target.port]


async def test_the_device_follows_the_cluster_through_a_cut_a_crash_and_a_stop(
    cluster: EjabberdCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stanzalink")
    cluster.register("failover-dev", "pw-dev")
    cluster.register("failover-ctl", "pw-ctl")
    jid, ctl = f"failover-dev@{cluster.domain}", f"failover-ctl@{cluster.domain}"
    proxy = ChaosProxy("127.0.0.1", cluster.a.port)
    await proxy.start()
    cfg = hosts_config(cluster, jid, "pw-dev", ctl, proxy.port)
    held = Held()
    held.release.set()
    got: asyncio.Queue[Any] = asyncio.Queue()
    to = f"{jid}/agent"
    xmpp: Any = None

    async def controller_on(node: Ejabberd) -> None:
        nonlocal xmpp
        if xmpp is not None:
            xmpp.disconnect()
        xmpp = await slix_client(
            node, ctl, "pw-ctl", setup=lambda x: x.add_event_handler("message", got.put_nowait)
        )

    async def answers(tag: str) -> None:
        xmpp.send_message(mto=to, mbody=f"hold {tag}", mtype="chat")
        await answer(got, f"held {tag}", timeout=60)

    try:
        async with running_agent(cfg, commands=held.registry()) as agent:
            onlines: list[tuple[float, Online]] = []
            agent.client.on_event(
                lambda ev: isinstance(ev, Online) and onlines.append((time.monotonic(), ev))
            )

            async def moved(what: str, since: float, node: str) -> Online:
                await until(lambda: onlines, f"the device online after {what}", timeout=90)
                back, online = onlines.pop(0)
                assert node_of(agent, cluster, proxy) == node, what
                print(
                    f"{what}: online on node {node} after {back - since:.2f} s "
                    f"({'resumed' if online.resumed else 'a new session'})"
                )
                return online

            assert node_of(agent, cluster, proxy) == "a"
            await controller_on(cluster.b)
            await answers("on-a")

            cut = time.monotonic()
            proxy.reset()  # the link to node a dies; node a lives
            online = await moved("link to a cut", cut, "b")
            assert online.resumed, "the session was not resumed on node b"
            await answers("resumed-on-b")

            killed = time.monotonic()
            cluster.kill("b")  # a crash: no stream error, no goodbye
            await controller_on(cluster.a)
            await moved("node b killed", killed, "a")
            await answers("on-a-again")

            cluster.start("b")
            stopped = time.monotonic()
            cluster.shutdown("a")  # system-shutdown
            await moved("node a stopped", stopped, "b")
            await controller_on(cluster.b)
            await answers("on-b-again")
    finally:
        if xmpp is not None:
            xmpp.disconnect()
        await proxy.stop()
        cluster.start("a")
        cluster.start("b")

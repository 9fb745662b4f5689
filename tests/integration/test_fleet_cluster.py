"""The fleet on a two-node ejabberd cluster: devices logged in to either
node and a controller on one of them; every device is listed online and
answers a command, and a device on the node the controller is not on is
reached through the cluster."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from stanzalink_testing.cluster import EjabberdCluster, available
from tests.fleet.devices import AgentThread, Overlap, controller_toml, fleet_cli, registry

from .peers import device_config

DEVICES = {"a": ("node-a1", "node-a2"), "b": ("node-b1", "node-b2")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdCluster]:
    if not available():
        pytest.fail("ejabberd is needed: run scripts/bootstrap.sh")
    with EjabberdCluster.create(tmp_path_factory.mktemp("fleet-cluster")) as c:
        yield c


def test_devices_on_both_nodes_listed_and_answering(
    cluster: EjabberdCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ctl = f"ctl@{cluster.domain}"
    cluster.register("ctl", "pw-ctl")
    # the controller on node b
    toml = controller_toml(
        tmp_path_factory.mktemp("ctl") / "controller.toml", cluster.b, ctl, "pw-ctl"
    )
    want = set()
    agents = AgentThread()
    try:
        reg = registry(Overlap())
        for name, users in DEVICES.items():
            node = cluster.node(name)
            for user in users:
                cluster.register(user, f"pw-{user}")
                jid = f"{user}@{cluster.domain}"
                cfg = device_config(node, jid, f"pw-{user}", {"admin": [ctl]})
                agents.start(cfg, commands=reg)
                want.add(jid)
        deadline = time.monotonic() + 60
        while True:
            res = fleet_cli("list", "--json", "--config", str(toml))
            listed = [json.loads(line) for line in res.stdout.splitlines()]
            online = {d["device"] for d in listed if d["online"]}
            if online == want or time.monotonic() > deadline:
                break
        assert online == want, res.stdout + res.stderr
        assert all(str(d["version"]).startswith("stanzalink ") for d in listed)
        res = fleet_cli("run", "--json", "--config", str(toml), "--concurrency", "2", "version")
        assert res.returncode == 0, res.stdout + res.stderr
        results = [json.loads(line) for line in res.stdout.splitlines()]
        assert {r["device"] for r in results} == want
        assert all(r["status"] == "completed" and r["fields"]["stanzalink"] for r in results)
    finally:
        agents.close()

"""The two-node ejabberd cluster launcher: both nodes clustered, an
account registered on node a logs in on node b, and node a killed, stopped
cleanly and started again rejoins."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from stanzalink.aio.client import Client, ClientConfig
from stanzalink.jid import JID
from stanzalink_testing.cluster import EjabberdCluster, available
from stanzalink_testing.ejabberd import Ejabberd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdCluster]:
    if not available():
        pytest.fail("ejabberd is needed: run scripts/bootstrap.sh")
    root: Path = tmp_path_factory.mktemp("cluster")
    with EjabberdCluster.create(root) as c:
        yield c


async def logs_in(cluster: EjabberdCluster, node: Ejabberd, user: str, password: str) -> str:
    cfg = ClientConfig(
        jid=JID.parse(f"{user}@{cluster.domain}"),
        password=password,
        resource="probe",
        host="127.0.0.1",
        port=node.port,
        ca_file=str(cluster.ca),
        reconnect=False,
    )
    client = Client(cfg)
    await client.start()
    try:
        return str(await client.wait_online(30))
    finally:
        await client.close()


def test_nodes_are_clustered(cluster: EjabberdCluster) -> None:
    want = {cluster.a.node, cluster.b.node}
    assert set(cluster.members("a")) == want
    assert set(cluster.members("b")) == want
    assert cluster.a.port != cluster.b.port
    assert cluster.a.root != cluster.b.root


def test_account_made_on_a_logs_in_on_b(cluster: EjabberdCluster) -> None:
    cluster.a.register("crossnode", "pw-crossnode")
    jid = asyncio.run(logs_in(cluster, cluster.b, "crossnode", "pw-crossnode"))
    assert jid == f"crossnode@{cluster.domain}/probe"


def test_node_a_killed_stopped_and_started(cluster: EjabberdCluster) -> None:
    cluster.a.register("survivor", "pw-survivor")
    pid = cluster.a.proc.pid if cluster.a.proc else None
    cluster.kill("a")
    assert cluster.a.proc is None and pid is not None
    # node b still serves an account made on a
    asyncio.run(logs_in(cluster, cluster.b, "survivor", "pw-survivor"))
    cluster.start("a")
    assert set(cluster.members("a")) == {cluster.a.node, cluster.b.node}
    asyncio.run(logs_in(cluster, cluster.a, "survivor", "pw-survivor"))
    cluster.shutdown("a")
    assert cluster.a.proc is None
    asyncio.run(logs_in(cluster, cluster.b, "survivor", "pw-survivor"))
    cluster.start("a")
    cluster.b.register("made-on-b", "pw-b")
    asyncio.run(logs_in(cluster, cluster.a, "made-on-b", "pw-b"))

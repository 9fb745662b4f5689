"""Two Debian ejabberd nodes clustered on loopback (Erlang/Mnesia
clustering, ``ejabberdctl join_cluster``): the server side of the fleet
tests.

>>> with EjabberdCluster.create(tmp_path) as cluster:
...     cluster.a.register("device1", "secret")   # replicated: logs in on b too
...     cluster.kill("a")                          # SIGKILL, as a crash
...     cluster.start("a")                         # back, rejoins from its spool

Each node is an :class:`~stanzalink_testing.ejabberd.Ejabberd` in its own
folder (config, spool, logs, pid file), with its own node name and client
ports and the cluster's one cookie.  Erlang distribution goes through an
``epmd`` that the cluster starts as its own child on a private port
(``ERL_EPMD_PORT``), so it neither needs nor disturbs a system epmd; the
epmd-less distribution of a single node does not fit two nodes on one
host.  Nothing runs under systemd: every process is ours and is stopped
by its PID (process group).  Both nodes serve the same domain with the
same certificate, so a client checks the same name whichever node answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stanzalink_testing.ejabberd import Ejabberd, available
from stanzalink_testing.prosody import DOMAIN, free_port, make_certs

__all__ = ["EPMD", "EjabberdCluster", "available"]

EPMD = "/usr/bin/epmd"


@dataclass
class EjabberdCluster:
    """Node ``a`` and node ``b``; ``b`` joined ``a`` once both ran."""

    root: Path
    a: Ejabberd
    b: Ejabberd
    ca: Path
    domain: str = DOMAIN
    epmd_port: int = field(default_factory=free_port)
    epmd: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, root: Path, domain: str = DOMAIN) -> EjabberdCluster:
        """Certificates and both nodes' files in ``root`` (not started)."""
        ca, cert, key = make_certs(root, domain)
        tag = os.urandom(3).hex()
        cookie = os.urandom(16).hex()
        epmd_port = free_port()
        nodes = []
        for name in ("a", "b"):
            d = root / name
            d.mkdir()
            node = Ejabberd(
                root=d,
                port=free_port(),
                tls_port=free_port(),
                ca=ca,
                domain=domain,
                node=f"sl{name}{tag}@localhost",
                cookie=cookie,
                epmd_port=epmd_port,
            )
            node.write_config(cert, key)
            nodes.append(node)
        return cls(root, nodes[0], nodes[1], ca, domain, epmd_port)

    def node(self, name: str) -> Ejabberd:
        if name not in ("a", "b"):
            raise ValueError(f"no node {name!r} (a or b)")
        return self.a if name == "a" else self.b

    def __enter__(self) -> EjabberdCluster:
        try:
            self.start_all()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    # ------------------------------------------------------------ lifecycle
    def start_epmd(self, timeout: float = 10.0) -> None:
        if self.epmd is not None and self.epmd.poll() is None:
            return
        self.epmd = subprocess.Popen(
            [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.epmd_port), timeout=0.2),
            ):
                return
            if self.epmd.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"epmd did not listen on port {self.epmd_port}")

    def start_all(self, timeout: float = 60.0) -> None:
        """epmd, node a, node b, and b joins a (a no-op once joined: the
        Mnesia schema in the spools remembers the cluster)."""
        self.start_epmd()
        self.a.start(timeout)
        self.b.start(timeout)
        if self.a.node not in self.members("b"):
            self.b.ctl_run("join_cluster", self.a.node, timeout=timeout)
            self._wait_listening(self.b, timeout)
        deadline = time.monotonic() + timeout
        while set(self._members_soon("a")) != {self.a.node, self.b.node}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the nodes did not cluster: {self.members('a')}")
            time.sleep(0.5)

    def members(self, name: str) -> list[str]:
        """The cluster's nodes as node ``name`` sees them (list_cluster)."""
        out = self.node(name).ctl_run("list_cluster")
        return [w.strip("'") for w in out.split()]

    def _members_soon(self, name: str) -> list[str]:
        """members(), or none while a node that just started still loads
        its Mnesia tables (ejabberdctl fails until they are in)."""
        try:
            return self.members(name)
        except RuntimeError:
            return []

    def kill(self, name: str) -> None:
        """SIGKILL the node's whole process group (a crash: no stream
        errors, no Mnesia goodbye)."""
        node = self.node(name)
        if node.proc is None:
            return
        pgid = node.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        node.proc.wait(10)
        node.proc = None

    def shutdown(self, name: str, timeout: float = 60.0) -> None:
        """Stop the node cleanly: ``ejabberdctl stop``, as an operator
        does; its clients get a ``system-shutdown`` stream error."""
        node = self.node(name)
        if node.proc is None:
            return
        node.ctl_run("stop", timeout=timeout)
        try:
            node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            node.stop()  # SIGTERM, then SIGKILL
        else:
            node.stop()  # reaps the rest of the group, if any
        node.proc = None

    def start(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped node again; it rejoins from its spool."""
        node = self.node(name)
        if node.proc is not None:
            return
        self.start_epmd()
        node.start(timeout)
        deadline = time.monotonic() + timeout
        while len(self._members_soon(name)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {name} did not rejoin: {self.members(name)}")
            time.sleep(0.5)

    def stop_all(self) -> None:
        """Both nodes (SIGTERM, SIGKILL after a while), then our epmd, by PID."""
        for node in (self.b, self.a):
            node.stop()
        if self.epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.epmd.pid, signal.SIGKILL)
            self.epmd.wait(5)
            self.epmd = None

    # ------------------------------------------------------------ helpers
    def register(self, user: str, password: str) -> None:
        """An account, registered through node a (or b when a is down)."""
        node = self.a if self.a.proc is not None else self.b
        node.register(user, password)

    @staticmethod
    def _wait_listening(node: Ejabberd, timeout: float) -> None:
        """join_cluster restarts the node's applications: wait until its
        client ports take connections again."""
        deadline = time.monotonic() + timeout
        for port in (node.port, node.tls_port, node.api_port):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{node.node} does not listen on {port}:\n{node.log_tail()}"
                        ) from None
                    time.sleep(0.1)


@contextlib.contextmanager
def running_cluster(root: Path, domain: str = DOMAIN) -> Iterator[EjabberdCluster]:
    """A started two-node cluster in ``root``, stopped when the block ends."""
    if not available():
        raise RuntimeError("ejabberd is not installed (scripts/bootstrap.sh installs it)")
    with EjabberdCluster.create(root, domain) as cluster:
        yield cluster

"""The real agent's systemd watchdog pings ride its keepalive wake-ups,
against a real Prosody.

``stanzalink run`` runs in a subprocess as systemd would start it: a
``NOTIFY_SOCKET`` that this test owns (a datagram socket in a tmp dir) and a
``WATCHDOG_USEC``, with the keepalive scaled down through the ``[connection]``
keys (docs/session.md).  Between the agent and Prosody sits a plain TCP relay
that stamps every chunk it passes: once the login's traffic is over, the
agent's only writes are its keepalive probes (an XEP-0198 ``<r/>`` after
``keepalive`` seconds without inbound data), so those stamps are its keepalive
wake-ups.  Every ``WATCHDOG=1`` in the idle window must come with one of
them, and each of them with a ping: a watchdog that polled on a timer of its
own would ping between them (the interval and the timeout are chosen so that
neither half nor 7/8 of the timeout is a multiple of the keepalive).  The
long variant, an idle hour with every feature on: bench/bench_idle.py.
"""

from __future__ import annotations

import itertools
import os
import selectors
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody
from stanzalink_testing.sdnotify import NotifyManager

from ..util import agent_pythonpath, python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration

KEEPALIVE = 2.5  # seconds: [connection] keepalive, scaled down from the hour
WATCHDOG = 7.0  # seconds: WATCHDOG_USEC; the pings ride when 2.5 + 7/64 < 7 x 7/8
IDLE = 5  # keepalive intervals watched once the login's traffic is over
SETTLE = 1.5  # seconds after "online" for the login's traffic (roster, presence, vCard)
NEAR = 0.3  # seconds: a ping and the wake-up it rode, stamped by two threads here


class Relay:
    """A TCP relay from a port of its own to ``target``, one connection,
    stamping every chunk with the time it passed and its direction
    (``"out"``: from the agent to the server)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.chunks: list[tuple[float, str, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def times(self, direction: str | None = None) -> list[float]:
        return [t for t, d, _ in list(self.chunks) if direction in (None, d)]

    def _run(self) -> None:
        self.listener.settimeout(0.1)
        while not self._done.is_set():
            try:
                agent, _ = self.listener.accept()
                break
            except TimeoutError:
                continue
        else:
            return
        server = socket.create_connection(("127.0.0.1", self.target))
        peers = {agent: (server, "out"), server: (agent, "in")}
        with selectors.DefaultSelector() as sel, agent, server:
            for s in peers:
                s.setblocking(True)
                sel.register(s, selectors.EVENT_READ)
            while not self._done.is_set():
                for key, _ in sel.select(0.1):
                    src = key.fileobj
                    assert isinstance(src, socket.socket)
                    data = src.recv(65536)
                    if not data:
                        return
                    dst, direction = peers[src]
                    self.chunks.append((time.monotonic(), direction, len(data)))
                    dst.sendall(data)

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.listener.close()


def test_watchdog_pings_ride_the_keepalive_wakeups(prosody: Prosody, tmp_path: Path) -> None:
    dev, pw = new_account(prosody, "watchdog")
    relay = Relay(prosody.port)
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\nresource = "agent"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {relay.port}\nca_file = "{prosody.ca}"\n'
        f"[connection]\nkeepalive = {KEEPALIVE}\nkeepalive_timeout = {KEEPALIVE}\n"
    )
    manager = NotifyManager(str(tmp_path / "notify"))
    env = {
        **os.environ,
        "PYTHONPATH": agent_pythonpath(),
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": str(int(WATCHDOG * 1e6)),
    }
    for key in ("WATCHDOG_PID", "INVOCATION_ID", "STANZALINK_SUPERVISED"):
        env.pop(key, None)
    agent = subprocess.Popen(
        [*python_cmd(), "-m", "stanzalink", "run", "--config", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        manager.wait_for("READY=1", 30)
        online = manager.wait_for(f"STATUS=online as {dev}/agent", 30)
        start = online + SETTLE
        end = start + IDLE * KEEPALIVE
        time.sleep(max(0.0, end + NEAR - time.monotonic()))
        assert agent.poll() is None, agent.stderr.read() if agent.stderr else ""
    finally:
        agent.terminate()
        try:
            _, err = agent.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            _, err = agent.communicate()
        relay.close()
        manager.close()

    lines = manager.lines()
    assert lines[0] == "READY=1", lines[:5]
    assert "STOPPING=1" in lines, err[-3000:]  # SIGTERM: a requested stop
    pings = [t for t in manager.times("WATCHDOG=1") if start <= t <= end]
    # the agent's writes once idle: its keepalive probes, one per interval
    probes = [t for t in relay.times("out") if start <= t <= end]
    assert IDLE - 1 <= len(probes) <= IDLE + 1, (probes, start, end)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert all(KEEPALIVE - NEAR <= g <= KEEPALIVE + 1.0 for g in gaps), gaps
    # WATCHDOG=1 pings arrive, as often as the keepalive wakes the agent ...
    assert len(pings) >= IDLE - 1, (pings, probes)
    # ... each with a wake-up of the connection (none in between: a timer of
    # the watchdog's own would ping there) ...
    wakeups = relay.times()
    stray = [p for p in pings if min(abs(p - w) for w in wakeups) > NEAR]
    assert not stray, {"stray": stray, "probes": probes, "pings": pings}
    # ... and each keepalive wake-up with a ping
    unmatched = [w for w in probes if w <= end - NEAR and min(abs(p - w) for p in pings) > NEAR]
    assert not unmatched, {"unmatched": unmatched, "probes": probes, "pings": pings}

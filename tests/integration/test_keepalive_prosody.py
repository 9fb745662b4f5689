"""The keepalive mix against a real Prosody, with short intervals set
through the ``[connection]`` keys:

- a dead path (every packet to and from the server's port dropped by an
  nftables rule on loopback, in a network namespace the test makes) is
  noticed by the kernel's TCP keepalive within idle + interval x count,
  without the application-level probe (set to an hour here);
- a hung server (Prosody SIGSTOPped: its kernel still accepts and
  acknowledges) is noticed by the probe within keepalive + its timeout;

and after either the client connects again.  Long variants: bench/bench_idle.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stanzalink.agent import client_config as device_client_config
from stanzalink.agent import load_config
from stanzalink.aio.client import Client
from stanzalink.session.events import Closed, Online
from stanzalink_testing.netfilter import drop_path, restore_path
from stanzalink_testing.prosody import Prosody

from .conftest import _running_prosody
from .peers import client_config, new_account

ROOT = Path(__file__).resolve().parents[2]
IDLE, INTERVAL, COUNT = 2, 1, 2  # the dead-link bound: 2 + 1 x 2 = 4 s = 2 x IDLE
SLACK = 1.5  # the loop's and the loaded machine's share


def unavailable(why: str) -> None:
    """Skip where the tool is missing; in CI (which installs it through
    scripts/bootstrap.sh) a missing tool is a failure, not a quiet skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI=true: scripts/bootstrap.sh installs it)")
    pytest.skip(why)


async def _wait(events: list[object], kind: type, after: int, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in events[after:]:
            if isinstance(ev, kind):
                return ev
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {kind.__name__} within {timeout} s: {events[after:]}")


def test_hung_server_is_noticed_by_the_probe_and_the_client_reconnects(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    with _running_prosody(tmp_path_factory, "prosody-hung") as prosody:
        jid, password = new_account(prosody, "hung")
        # the keys as a device's config file sets them
        toml = tmp_path / "device.toml"
        toml.write_text(
            f'[account]\njid = "{jid}"\npassword = "{password}"\nresource = "agent"\n'
            f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
            "[connection]\nkeepalive = 1\nkeepalive_timeout = 1\ntcp_keepalive_idle = 300\n"
        )
        cfg = device_client_config(load_config(toml))
        assert (cfg.keepalive, cfg.probe_timeout, cfg.tcp_keepalive_idle) == (1.0, 1.0, 300)
        cfg.backoff_base = 0.1

        async def main() -> None:
            events: list[object] = []
            client = Client(cfg)
            client.on_event(events.append)
            await client.start()
            await client.wait_online(30)
            assert prosody.proc is not None
            mark = len(events)
            os.kill(prosody.proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                closed = await _wait(events, Closed, mark, 10)
                took = time.monotonic() - t0
            finally:
                os.kill(prosody.proc.pid, signal.SIGCONT)
            # the probe, not the kernel (whose keepalive waits 300 s), said so
            assert closed.condition == "connection-timeout", closed
            assert took <= 1 + 1 + SLACK, took
            mark = len(events)
            online = await _wait(events, Online, mark, 30)
            assert online.jid.bare == client.config.jid.bare
            await client.close()

        asyncio.run(main())


# ---------------------------------------------------------------- a dead path
def dead_link_in_namespace() -> dict[str, Any]:
    """Run inside a fresh network namespace (loopback only): Prosody, the
    client, then the path dropped by nftables and restored."""

    from stanzalink_testing.prosody import throwaway_prosody

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with throwaway_prosody() as prosody:
        prosody.register("device", "device-pw")
        return asyncio.run(_dead_link(prosody))


async def _dead_link(prosody: Prosody) -> dict[str, Any]:
    cfg = client_config(
        prosody, f"device@{prosody.domain}", "device-pw", reconnect=True, backoff_base=0.1,
        keepalive=3600, tcp_keepalive_idle=IDLE, tcp_keepalive_interval=INTERVAL,
        tcp_keepalive_count=COUNT,
    )  # fmt: skip
    events: list[object] = []
    client = Client(cfg)
    client.on_event(events.append)
    await client.start()
    await client.wait_online(30)
    await asyncio.sleep(IDLE + 1)  # idle long enough that the kernel probes (and is answered)
    alive = not any(isinstance(e, Closed) for e in events)
    drop_path(prosody.port)
    mark = len(events)
    t0 = time.monotonic()
    closed = await _wait(events, Closed, mark, 3 * (IDLE + INTERVAL * COUNT))
    took = time.monotonic() - t0
    restore_path()
    mark = len(events)
    online = await _wait(events, Online, mark, 30)
    await client.close()
    return {
        "alive_while_idle": alive,
        "seconds": took,
        "condition": closed.condition,
        "reconnected": online.jid.bare == client.config.jid.bare,
    }


def test_dead_path_is_noticed_by_tcp_keepalive_and_the_client_reconnects() -> None:
    if shutil.which("nft") is None or shutil.which("unshare") is None:
        unavailable("nft (nftables) and unshare are needed to drop the path")
    if os.geteuid() != 0:
        unavailable("dropping the path needs root (a network namespace and nftables)")
    code = (
        "import json, tests.integration.test_keepalive_prosody as t; "
        "print(json.dumps(t.dead_link_in_namespace()))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'agent'}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # answered probes keep an idle connection up; unanswered ones end it
    # within idle + interval x count (= 2 x idle here), before any app probe
    assert got["alive_while_idle"], got
    assert got["seconds"] <= IDLE + INTERVAL * COUNT + SLACK, got
    assert got["condition"] == "connection-lost", got
    assert got["reconnected"], got

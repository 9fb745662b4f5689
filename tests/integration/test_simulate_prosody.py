"""``stanzalink simulate`` against a real Prosody: twenty devices from one
template, each registering its own account in-band, all come online in
one process; ``stanzalink fleet list`` sees every one of them online and
``fleet run status`` completes on all; SIGTERM stops them all cleanly
(exit 0, every stream closed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from stanzalink_testing.prosody import Prosody
from tests.fleet.devices import AGENT_DIR, controller_toml, fleet_cli

from .peers import new_account

DEVICES = 20


def sim_template(path: Path, server: Prosody, prefix: str, controller: str) -> Path:
    path.write_text(
        f'[account]\njid = "{prefix}{{n}}@{server.domain}"\npassword = "pw-{prefix}-{{n}}"\n'
        f'resource = "sim{{n}}"\nregister = true\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {server.port}\nca_file = "{server.ca}"\n\n'
        f'[access]\nadmin = ["{controller}"]\n\n[presence]\nstatus = "simulated"\n'
    )
    return path


class Simulator:
    """``stanzalink simulate`` as its own process, its JSON counts read as
    they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stanzalink", "simulate", "--json", "--interval", "0.5", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=AGENT_DIR),
        )
        self.last: dict[str, Any] = {}

    def wait(self, online: int, timeout: float) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = out.readline()
            if not line:
                break
            self.last = json.loads(line)
            if self.last["online"] >= online:
                return self.last
        raise AssertionError(f"not {online} online: {self.last}; {self.stop()[1][-2000:]}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        if lines:
            self.last = lines[-1]
        return self.proc.returncode, err


@pytest.fixture
def simulator() -> Iterator[list[Simulator]]:
    running: list[Simulator] = []
    yield running
    for sim in running:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait(10)


def test_twenty_simulated_devices_online_listed_and_answering(
    prosody: Prosody, tmp_path: Path, simulator: list[Simulator]
) -> None:
    ctl, pw = new_account(prosody, "simctl")
    prefix = f"sim{os.urandom(2).hex()}x"
    template = sim_template(tmp_path / "sim.toml", prosody, prefix, ctl)
    toml = controller_toml(tmp_path / "controller.toml", prosody, ctl, pw)
    sim = Simulator("--config", str(template), "--devices", str(DEVICES), "--ramp", "40")
    simulator.append(sim)
    counts = sim.wait(DEVICES, timeout=120)
    assert counts["devices"] == DEVICES and counts["stopped"] == 0
    want = {f"{prefix}{n}@{prosody.domain}" for n in range(1, DEVICES + 1)}
    # the first run accepts the devices' subscriptions; their presences follow
    deadline = time.monotonic() + 90
    while True:
        res = fleet_cli("list", "--json", "--config", str(toml))
        listed = [json.loads(line) for line in res.stdout.splitlines()]
        online = {d["device"] for d in listed if d["online"]}
        if online >= want or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert online >= want, res.stdout + res.stderr
    mine = [d for d in listed if d["device"] in want]
    assert all(d["status"] == "simulated" for d in mine), mine
    assert all(str(d["version"]).startswith("stanzalink ") for d in mine), mine
    res = fleet_cli(
        "run", "--json", "--config", str(toml), "--only", f"{prefix}*", "--concurrency", "10",
        "status",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    results = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["device"] for r in results} == want
    assert all(r["status"] == "completed" for r in results), results
    code, err = sim.stop()
    assert code == 0, err[-2000:]
    assert sim.last["online"] == 0 and sim.last["stopped"] == DEVICES, sim.last

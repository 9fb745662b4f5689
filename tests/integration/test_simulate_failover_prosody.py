"""The cluster failover run, on one Prosody: fifty simulated devices list
two addresses in ``[server] hosts``, a proxy in front of Prosody first and
Prosody's own port second.  The proxy plays the node that dies: stopped,
every link reset, each device fails over to the second address and, the
server being the same, resumes its session there (XEP-0198).  ``fleet run
status`` completes on all before and after; the proxy's return makes no
device move (nothing flaps).  So the failover logic is not tested on
ejabberd alone."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from stanzalink.simulate import Simulation, Template
from stanzalink_testing.chaosproxy import ChaosProxy
from stanzalink_testing.prosody import Prosody
from tests.fleet.devices import SimulationThread, controller_toml, fleet_cli

from .peers import new_account

DEVICES = 50
TIMEOUT = 120.0  # seconds: generous, no timed assertion
QUIET = 10.0  # seconds watched for flapping after the proxy returns


def all_completed(toml: Path, prefix: str, want: int) -> None:
    res = fleet_cli(
        "run", "--json", "--config", str(toml), "--only", f"{prefix}*", "--concurrency", "25",
        "status",
    )  # fmt: skip
    results = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(results) == want, res.stdout + res.stderr
    assert all(r["status"] == "completed" for r in results), results
    assert res.returncode == 0


def test_devices_fail_over_between_two_addresses_and_resume(
    prosody: Prosody, tmp_path: Path
) -> None:
    ctl, pw = new_account(prosody, "pfoctl")
    toml = controller_toml(tmp_path / "controller.toml", prosody, ctl, pw)
    prefix = f"pfo{os.urandom(2).hex()}x"
    sim = SimulationThread()
    proxy = ChaosProxy("127.0.0.1", prosody.port, max_links=DEVICES * 2)
    try:
        port = sim.run(proxy.start())
        template = Template({
            "account": {"jid": f"{prefix}{{n}}@{prosody.domain}", "password": "pw-{n}",
                        "resource": "sim", "register": True},
            "server": {"hosts": [f"127.0.0.1:{port}", f"127.0.0.1:{prosody.port}"],
                       "ca_file": str(prosody.ca)},
            "access": {"admin": [ctl]},
        })  # fmt: skip
        sim.start(Simulation(template, DEVICES, ramp=50))
        sim.wait(lambda c: c.online == DEVICES, TIMEOUT)
        assert sim.call(lambda: len(proxy.links)) == DEVICES  # all through the first address
        deadline = time.monotonic() + 60
        while True:
            res = fleet_cli("list", "--json", "--config", str(toml))
            listed = [json.loads(line) for line in res.stdout.splitlines()]
            online = [d for d in listed if d["online"] and d["device"].startswith(prefix)]
            if len(online) == DEVICES or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(online) == DEVICES, res.stdout + res.stderr
        all_completed(toml, prefix, DEVICES)

        before = sim.stats()
        sim.run(proxy.stop())  # the first address dies: links reset, nothing listens
        deadline = time.monotonic() + TIMEOUT
        while True:
            after = sim.stats()
            moved = [n for n in after if after[n].onlines > before[n].onlines]
            if len(moved) == DEVICES and sim.counts().online == DEVICES:
                break
            assert time.monotonic() < deadline, f"{len(moved)} moved; {sim.counts().line()}"
            time.sleep(0.2)
        resumed = sum(after[n].resumed - before[n].resumed for n in after)
        assert resumed == DEVICES, f"{resumed} of {DEVICES} resumed"
        all_completed(toml, prefix, DEVICES)

        proxy = ChaosProxy("127.0.0.1", prosody.port, listen_port=port, max_links=DEVICES * 2)
        sim.run(proxy.start())  # the first address returns
        time.sleep(QUIET)
        quiet = sim.stats()
        flapped = [n for n in quiet if quiet[n].drops != after[n].drops]
        assert not flapped and sim.counts().online == DEVICES, flapped
    finally:
        with contextlib.suppress(Exception):
            sim.run(proxy.stop())
        failed = sim.close()
    assert failed == 0, f"{failed} simulated devices stopped by themselves"

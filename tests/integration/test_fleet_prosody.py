"""``stanzalink fleet`` and :class:`stanzalink.fleet.Fleet` against a real
Prosody and real device agents: the devices subscribe to the controller,
the tool accepts them and lists them (online and offline, JSON and table),
runs a command on them (``--only``, a device offline, a timeout, the
concurrency bound, Ctrl-C), and the same from Python."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stanzalink.fleet import Fleet
from stanzalink.fleet.config import load_controller
from stanzalink_testing.prosody import Prosody, free_port, make_certs
from tests.fleet.devices import (
    AGENT_DIR,
    AgentThread,
    Overlap,
    controller_toml,
    fleet_cli,
    registry,
)

from .peers import device_config

ONLINE = ("fleet-a1", "fleet-a2", "fleet-a3", "fleet-b1")
GONE = "fleet-gone"


@dataclass
class Setup:
    server: Prosody
    toml: Path
    overlap: Overlap
    agents: AgentThread

    def jid(self, user: str) -> str:
        return f"{user}@{self.server.domain}"


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("fleet-prosody")
    ca, cert, key = make_certs(root)
    server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
    server.write_config(cert, key, modules=("lastactivity",))  # XEP-0012 for last_seen
    server.start()
    agents = AgentThread()
    try:
        server.register("fleetctl", "pw-ctl")
        ctl = f"fleetctl@{server.domain}"
        toml = controller_toml(root / "controller.toml", server, ctl, "pw-ctl")
        overlap = Overlap()
        reg = registry(overlap)
        for user in (*ONLINE, GONE):
            server.register(user, f"pw-{user}")
            cfg = device_config(server, f"{user}@{server.domain}", f"pw-{user}", {"admin": [ctl]})
            agents.start(cfg, commands=reg)
        s = Setup(server, toml, overlap, agents)
        # a first look accepts the subscriptions and records every device
        everyone = {s.jid(u) for u in (*ONLINE, GONE)}
        deadline = time.monotonic() + 60
        while True:
            res = fleet_cli("list", "--json", "--config", str(toml))
            seen = {d["device"] for d in lines(res.stdout) if d["online"]}
            if seen == everyone or time.monotonic() > deadline:
                break
        assert seen == everyone, (res.stdout, res.stderr)
        agents.stop(s.jid(GONE))
        yield s
    finally:
        agents.close()
        server.stop()


def test_list_json_online_offline(setup: Setup) -> None:
    res = fleet_cli("list", "--json", "--config", str(setup.toml))
    assert res.returncode == 0, res.stderr
    got = {d["device"]: d for d in lines(res.stdout)}
    assert set(got) == {setup.jid(u) for u in (*ONLINE, GONE)}
    for user in ONLINE:
        d = got[setup.jid(user)]
        assert set(d) == {"device", "online", "status", "version", "last_seen"}
        assert d["online"] is True
        assert str(d["version"]).startswith("stanzalink ")
        assert str(d["last_seen"]).endswith("Z")
    gone = got[setup.jid(GONE)]
    assert gone["online"] is False and gone["version"] == ""
    assert str(gone["last_seen"]).endswith("Z")  # from the server's last activity


def test_list_table(setup: Setup) -> None:
    res = fleet_cli("list", "--config", str(setup.toml))
    assert res.returncode == 0, res.stderr
    rows = res.stdout.splitlines()
    assert rows[0].split()[:3] == ["DEVICE", "ONLINE", "VERSION"]
    assert len(rows) == 1 + len(ONLINE) + 1
    assert any(r.startswith(setup.jid(GONE)) and " offline " in r for r in rows)
    assert sum(" online " in r for r in rows) == len(ONLINE)


def test_run_status_everywhere_json(setup: Setup) -> None:
    res = fleet_cli("run", "--json", "--config", str(setup.toml), "status")
    assert res.returncode == 1, res.stderr  # one device is offline
    got = {d["device"]: d for d in lines(res.stdout)}
    assert set(got) == {setup.jid(u) for u in (*ONLINE, GONE)}
    for user in ONLINE:
        d = got[setup.jid(user)]
        assert set(d) == {"device", "status", "text", "fields"}
        assert d["status"] == "completed", d
        assert "uptime" in str(d["text"]) and isinstance(d["fields"], dict) and d["fields"]
    assert got[setup.jid(GONE)]["status"] == "offline"
    assert "4 completed, 1 offline" in res.stderr


def test_run_only_table_exit_zero(setup: Setup) -> None:
    res = fleet_cli("run", "--config", str(setup.toml), "--only", "fleet-a*", "status")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = res.stdout.splitlines()
    assert rows[0].split()[:2] == ["DEVICE", "STATUS"]
    assert sorted(r.split()[0] for r in rows[1:]) == [setup.jid(u) for u in ONLINE[:3]]
    assert all(r.split()[1] == "completed" for r in rows[1:])


def test_run_unknown_command_and_no_match(setup: Setup) -> None:
    res = fleet_cli("run", "--json", "--config", str(setup.toml), "--only", "*-b1@*", "nosuch")
    assert res.returncode == 1
    (d,) = lines(res.stdout)
    assert d["status"] == "error" and "nosuch" in str(d["text"])
    res = fleet_cli("run", "--config", str(setup.toml), "--only", "nobody*", "status")
    assert res.returncode == 1 and "no device matched" in res.stderr


def wait_idle(overlap: Overlap) -> None:
    deadline = time.monotonic() + 20
    while overlap.now and time.monotonic() < deadline:
        time.sleep(0.05)
    overlap.peak = 0


def test_concurrency_bound(setup: Setup) -> None:
    wait_idle(setup.overlap)
    res = fleet_cli(
        "run", "--json", "--config", str(setup.toml), "--only", "fleet-[ab]*",
        "--concurrency", "2", "slow", "0.8",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert [d["status"] for d in lines(res.stdout)] == ["completed"] * len(ONLINE)
    assert setup.overlap.peak == 2
    wait_idle(setup.overlap)
    res = fleet_cli("run", "--json", "--config", str(setup.toml), "--only", "fleet-[ab]*",
                    "--concurrency", "1", "slow", "seconds=0.2")  # fmt: skip
    assert res.returncode == 0 and setup.overlap.peak == 1


def test_timeout(setup: Setup) -> None:
    t0 = time.monotonic()
    res = fleet_cli("run", "--json", "--config", str(setup.toml), "--only", "fleet-a1@*",
                    "--timeout", "1", "slow", "5")  # fmt: skip
    assert res.returncode == 1
    (d,) = lines(res.stdout)
    assert d["status"] == "timeout" and "1 s" in str(d["text"])
    assert time.monotonic() - t0 < 15


def test_ctrl_c_prints_what_finished(setup: Setup) -> None:
    wait_idle(setup.overlap)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stanzalink", "fleet", "run", "--json", "--config",
         str(setup.toml), "--only", "fleet-[ab]*", "--concurrency", "1", "slow", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=AGENT_DIR),
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first device finished
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    done = lines(first + rest)
    assert 1 <= len(done) < len(ONLINE)
    assert all(d["status"] == "completed" for d in done)
    assert "interrupted" in err


def test_python_api(setup: Setup) -> None:
    async def main() -> None:
        seen: list[str] = []
        async with Fleet(load_controller(setup.toml)) as fleet:
            devices = await fleet.devices()
            assert {d.jid for d in devices if d.online} == {setup.jid(u) for u in ONLINE}
            results = await fleet.run(
                "version", only="fleet-*", concurrency=3, timeout=20,
                on_result=lambda r: seen.append(r.device),
            )  # fmt: skip
        assert sorted(seen) == [r.device for r in results]
        by = {r.device: r for r in results}
        assert by[setup.jid(GONE)].status == "offline"
        for user in ONLINE:
            r = by[setup.jid(user)]
            assert r.status == "completed" and r.fields.get("stanzalink")

    asyncio.run(main())


def test_example_ci_check(setup: Setup) -> None:
    example = Path(AGENT_DIR).parent / "examples" / "fleet_check.py"
    env = dict(os.environ, PYTHONPATH=AGENT_DIR)
    ok = subprocess.run([sys.executable, str(example), str(setup.toml), "fleet-a*"],
                        capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 of 3 devices healthy" in ok.stdout
    bad = subprocess.run([sys.executable, str(example), str(setup.toml)],
                         capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert bad.returncode == 1 and "offline    " + setup.jid(GONE) in bad.stdout


def test_a_person_on_the_roster_is_not_a_device(setup: Setup) -> None:
    """A contact without the stanzalink caps node is asked by disco#info;
    a plain client (no bot identity, no commands) is left out."""
    from stanzalink.xml.builder import E

    from .peers import client_config, login

    setup.server.register("fleet-person", "pw-person")
    ctl = f"fleetctl@{setup.server.domain}"

    async def main() -> None:
        cfg = client_config(setup.server, setup.jid("fleet-person"), "pw-person")
        person, _ = await login(cfg)
        try:
            for kind in ("subscribe", "subscribed"):
                person.send(E("{jabber:client}presence", {"to": ctl, "type": kind}))
            person.send(E("{jabber:client}presence"))
            for _ in range(2):  # the first run accepts the subscription
                async with Fleet(load_controller(setup.toml)) as fleet:
                    devices = await fleet.devices(details=False)
                    resources = fleet._resources.get(setup.jid("fleet-person"), {})
            assert resources, "the person's presence reached the controller"
            assert all(r.device is False for r in resources.values())
            assert setup.jid("fleet-person") not in {d.jid for d in devices}
            assert {d.jid for d in devices if d.online} == {setup.jid(u) for u in ONLINE}
        finally:
            await person.close()

    asyncio.run(main())

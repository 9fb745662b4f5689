"""The simulator's template: ``{n}`` in ``[account]`` jid, password and
resource becomes each device's number; what cannot run is refused with a
message naming the key; each device gets its own copy of the config; and
the command line refuses a bad template before it connects anywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stanzalink.config import ConfigError
from stanzalink.simulate import Counts, Simulation, Template, rss_bytes
from tests.util import agent_pythonpath, python_cmd


def template(**account: object) -> dict[str, object]:
    acct: dict[str, object] = {"jid": "sim{n}@example.net", "password": "pw-{n}"}
    acct.update(account)
    return {
        "account": {k: v for k, v in acct.items() if v is not None},
        "server": {"host": "127.0.0.1", "port": 5222},
        "access": {"admin": ["ctl@example.net"]},
        "presence": {"status": "simulated"},
    }


def test_n_becomes_the_number_in_jid_password_and_resource() -> None:
    t = Template(template(resource="r{n}"))
    cfg = t.device(17)
    assert str(cfg.jid) == "sim17@example.net"
    assert cfg.password == "pw-17"
    assert cfg.section("account")["resource"] == "r17"
    assert cfg.access == {"admin": ["ctl@example.net"]}
    assert cfg.section("presence")["status"] == "simulated"
    # the checked template is device 1
    assert str(t.config.jid) == "sim1@example.net"


def test_a_password_without_n_is_shared_and_braces_stay_as_they_are() -> None:
    t = Template(template(password="{x}-same"))
    assert t.device(3).password == "{x}-same"
    assert t.device(4).password == "{x}-same"


def test_each_device_has_its_own_sections_and_shares_the_schema() -> None:
    t = Template(template())
    a, b = t.device(1), t.device(2)
    a.sections.setdefault("presence", {})["status"] = "changed on one device"
    a.access["admin"].append("other@example.net")
    assert b.section("presence")["status"] == "simulated"
    assert b.access == {"admin": ["ctl@example.net"]}
    assert a.schema is b.schema is t.config.schema


def test_a_jid_without_n_is_refused_for_more_than_one_device() -> None:
    t = Template(template(jid="one@example.net"))
    with pytest.raises(ConfigError, match=r"account.jid: 'one@example.net' has no \{n\}"):
        t.check_count(1, 2)
    t.check_count(1, 1)  # one device on one account is fine
    with pytest.raises(ConfigError, match=r"has no \{n\}"):
        Simulation(t, 5)


def test_refusals_name_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="account"):
        Template({"server": {"host": "127.0.0.1"}})
    with pytest.raises(ConfigError, match=r"account\.jid"):
        Template(template(jid="{n}"))  # "1" is no bare JID with a local part
    with pytest.raises(ConfigError, match=r"presence\.colour: unknown key"):
        Template({**template(), "presence": {"colour": "blue"}})
    t = Template(template())
    with pytest.raises(ConfigError, match="devices: must be at least 1"):
        t.check_count(1, 0)
    with pytest.raises(ConfigError, match="start"):
        t.check_count(0, 3)
    with pytest.raises(ConfigError, match="ramp"):
        Simulation(t, 3, ramp=0)


def test_register_can_be_turned_on_for_every_device() -> None:
    t = Template(template(), register=True)
    assert t.device(9).section("account")["register"] is True
    assert Template(template()).device(9).section("account")["register"] is False


def test_counts_before_anything_starts() -> None:
    sim = Simulation(Template(template()), 3, start=10)
    assert list(sim.numbers) == [10, 11, 12]
    counts = sim.counts()
    assert counts == Counts(3, pending=3)
    assert counts.line() == "3 devices: 0 online, 0 connecting, 0 offline, 3 not started"
    assert rss_bytes() > 0


def _simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*python_cmd(), "-m", "stanzalink", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": agent_pythonpath(), "PATH": "/usr/bin:/bin"},
    )


def test_the_command_refuses_a_template_without_n(tmp_path: Path) -> None:
    toml = tmp_path / "sim.toml"
    toml.write_text('[account]\njid = "one@example.net"\npassword = "x"\n')
    res = _simulate("--config", str(toml), "--devices", "3")
    assert res.returncode == 2
    assert "account.jid: 'one@example.net' has no {n}" in res.stderr
    res = _simulate("--config", str(toml), "--devices", "0")
    assert res.returncode == 2 and "must be at least 1" in res.stderr


def test_devices_with_no_server_wait_offline_and_stop_when_asked() -> None:
    """No server listens: every device keeps trying (connecting or offline,
    never stopped by itself); a stop ends them all, none counted failed."""
    import asyncio

    from stanzalink_testing.prosody import free_port

    raw = template()
    raw["server"] = {"host": "127.0.0.1", "port": free_port()}
    sim = Simulation(Template(raw), 5, ramp=100)

    async def main() -> tuple[Counts, int]:
        stop = asyncio.Event()
        run = asyncio.ensure_future(sim.run(stop))
        counts = await sim.wait(lambda c: c.pending == 0 and c.offline == 5, timeout=10)
        stop.set()
        return counts, await asyncio.wait_for(run, 30)

    counts, failed = asyncio.run(main())
    assert counts == Counts(5, offline=5)
    assert failed == 0
    assert sim.counts() == Counts(5, stopped=5)
    assert all(s.onlines == 0 for s in sim.stats().values())

"""A connected idle agent with the default config, against a real Prosody:
what happens at login (the roster's probes, the server's query of the caps
node, the vCard publication) loads none of the lazy features' code."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody

from ..test_lazy_load import NOT_AT_START
from ..util import python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration
AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")

# `stanzalink run` (config, log, agent), then the loaded modules once online
RUN = textwrap.dedent(
    """
    import asyncio, logging, sys
    from stanzalink.agent import Agent, load_config
    from stanzalink.cli import parse_args
    from stanzalink.cli.run import setup_run_logging
    parse_args(["run", "--config", sys.argv[1]])  # what `stanzalink run` parses with
    cfg = load_config(sys.argv[1])
    agent = Agent(cfg, recent_log=setup_run_logging(logging.INFO))
    async def main():
        task = asyncio.ensure_future(agent.run())
        await agent.client.wait_online(60)
        await asyncio.sleep(2)  # roster, probes, presence, caps query, vCard
        print(" ".join(sorted(sys.modules)), flush=True)
        agent.request_stop()
        await task
    asyncio.run(main())
    """
)


def test_a_connected_default_agent_loads_no_lazy_feature(prosody: Prosody, tmp_path: Path) -> None:
    dev, pw = new_account(prosody, "device")
    admin, _ = new_account(prosody, "alice")  # offline: the probe is answered unavailable
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{admin}"]\n'
    )
    out = subprocess.run(
        [*python_cmd(), "-c", RUN, str(cfg)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": AGENT_DIR},
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "online as" in out.stderr
    loaded = set(out.stdout.split())
    assert "stanzalink.xep.caps" in loaded
    assert sorted(set(NOT_AT_START) & loaded) == []

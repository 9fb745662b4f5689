"""``stanzalink run --config FILE``, logged in to a real Prosody and idle,
has never loaded argparse (nor gettext, nor the other commands' modules):
the command line every device runs is read without them, and the agent
keeps none of that for its whole life."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody

from ..util import agent_pythonpath, python_cmd
from .peers import new_account

pytestmark = pytest.mark.integration

# `stanzalink` with the words given; a line on stdin makes it print the
# modules it has loaded, then stop as systemctl stop does
RUN = textwrap.dedent(
    """
    import os, signal, sys, threading
    def report():
        sys.stdin.readline()
        print(" ".join(sorted(sys.modules)), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=report, daemon=True).start()
    from stanzalink.cli import main
    sys.argv = ["stanzalink", *sys.argv[1:]]
    sys.exit(main())
    """
)

NOT_LOADED = [
    "argparse",
    "gettext",
    "stanzalink.cli.parser",
    "stanzalink.cli.dump",
    "stanzalink.cli.http",
    "stanzalink.cli.simulate",
    "stanzalink.fleet.cli",
]


def test_an_idle_agent_never_loaded_argparse(prosody: Prosody, tmp_path: Path) -> None:
    dev, pw = new_account(prosody, "device")
    admin, _ = new_account(prosody, "alice")
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\nresource = "agent"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{admin}"]\n'
    )
    log = tmp_path / "stderr"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*python_cmd(), "-c", RUN, "run", "--config", str(cfg), "--log-level=info"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={"PYTHONPATH": agent_pythonpath()},
        )
    try:
        deadline = time.monotonic() + 60
        while " online as " not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(2)  # roster, probes, presence, caps query, vCard: idle
        out, _ = proc.communicate("\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # stopped as systemctl stop does
    assert proc.returncode == 0 and " online as " in log.read_text(), log.read_text()[-3000:]
    loaded = set(out.split())
    assert "stanzalink.xep.caps" in loaded  # the agent's own modules are there
    assert sorted(set(NOT_LOADED) & loaded) == []

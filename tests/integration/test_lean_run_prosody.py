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

from ..aio.test_sdnotify import Manager
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
    # systemd's Type=notify unit: the agent says when it is online
    manager = Manager(str(tmp_path / "notify"))
    try:
        proc = subprocess.Popen(
            [*python_cmd(), "-c", RUN, "run", "--config", str(cfg), "--log-level=info"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": agent_pythonpath(), "NOTIFY_SOCKET": str(tmp_path / "notify")},
        )
        try:
            manager.wait_for(f"STATUS=online as {dev}/agent", timeout=60)
            time.sleep(2)  # roster, probes, presence, caps query, vCard: idle
            out, err = proc.communicate("\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        manager.close()
    assert proc.returncode == 0, err[-3000:]
    assert "online as" in err and "STOPPING=1" in manager.lines()
    loaded = set(out.split())
    assert "stanzalink.xep.caps" in loaded  # the agent's own modules are there
    assert sorted(set(NOT_LOADED) & loaded) == []

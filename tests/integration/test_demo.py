"""The README's main job runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs() -> None:
    res = subprocess.run(
        [sys.executable, str(DEMO), "0.5"], capture_output=True, timeout=120, check=False
    )
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    assert "registered account device1 in-band" in out
    assert "online as device1@stanzalink.test/agent" in out
    assert "You are admin. Send `help` for the commands." in out
    assert "[controller] console reply (with XHTML-IM):" in out
    assert "*uptime*: " in out
    assert "device agent exited with status 0" in out

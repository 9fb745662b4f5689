"""`restart` where no service manager runs the agent (started by hand from a
shell): the agent starts again in place, the same process, and comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stanzalink_testing.prosody import Prosody

from .peers import new_account, slix_client

pytestmark = pytest.mark.integration
AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")


def test_restart_without_a_supervisor_starts_again_in_place(
    prosody: Prosody, tmp_path: Path
) -> None:
    dev, pw = new_account(prosody, "device")
    ctl, ctl_pw = new_account(prosody, "alice")
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        f'[account]\njid = "{dev}"\npassword = "{pw}"\nresource = "agent"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {prosody.port}\nca_file = "{prosody.ca}"\n'
        f'[access]\nadmin = ["{ctl}"]\n'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INVOCATION_ID", "NOTIFY_SOCKET", "STANZALINK_SUPERVISED")
    }
    env.update(PYTHONPATH=AGENT_DIR, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stanzalink", "run", "--config", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()

    def wait_for(text: str, count: int = 1, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while sum(text in ln for ln in list(lines)) < count:
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < end, f"no {text!r} in:\n" + "".join(lines)
            time.sleep(0.05)

    async def ask_restart() -> None:
        answers: asyncio.Queue[str] = asyncio.Queue()
        xmpp = await slix_client(prosody, ctl, ctl_pw)
        xmpp.add_event_handler(
            "message", lambda m: m["body"] and answers.put_nowait(str(m["body"]))
        )
        try:
            full = f"{dev}/agent"
            xmpp.send_message(mto=full, mbody="restart", mtype="chat")
            while "Restart the stanzalink agent now?" not in await asyncio.wait_for(
                answers.get(), 10
            ):
                pass
            xmpp.send_message(mto=full, mbody="yes", mtype="chat")
            assert "restarting the agent" in await asyncio.wait_for(answers.get(), 10)
        finally:
            xmpp.disconnect()

    try:
        wait_for("online as")
        asyncio.run(ask_restart())
        wait_for("starting again in place")
        # the same process, started again: a second start-up line, online again
        wait_for("starting: config", count=2)
        wait_for("online as", count=2)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

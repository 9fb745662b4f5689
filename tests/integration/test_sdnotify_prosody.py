"""What the service manager hears from the agent against a real Prosody:
READY=1 before the login, STATUS= following the session (online, offline
and why), STOPPING=1 on a requested stop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from stanzalink.agent import Agent
from stanzalink.aio.client import Client
from stanzalink.aio.sdnotify import Notifier
from stanzalink.cli import run_agent
from stanzalink.xep.ping import Ping
from stanzalink_testing.prosody import Prosody
from stanzalink_testing.sdnotify import NotifyManager

from .peers import client_config, device_config, new_account, until


def test_status_follows_the_session(
    prosody: Prosody, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stanzalink")
    dev, pw = new_account(prosody, "device")
    cfg = device_config(prosody, dev, pw, {"admin": [f"alice@{prosody.domain}"]})
    manager = NotifyManager(str(tmp_path / "notify"))
    online = f"STATUS=online as {dev}/agent"

    def offline() -> list[str]:
        return [line for line in manager.lines() if line.startswith("STATUS=offline: ")]

    async def main() -> None:
        agent = Agent(cfg, features=[Ping])
        task = asyncio.ensure_future(run_agent(agent, Notifier(manager.sock.getsockname())))
        try:
            await agent.client.wait_online(30)
            await until(lambda: online in manager.lines(), "STATUS online")
            # another client takes the device's resource: the server ends the agent's stream
            other = Client(client_config(prosody, dev, pw, resource="agent"))
            await other.start()
            try:
                await until(offline, "STATUS offline")
            finally:
                await other.close()
            agent.request_stop()
            await asyncio.wait_for(task, 30)
        finally:
            task.cancel()

    try:
        asyncio.run(main())
        manager.wait_for("STOPPING=1")
    finally:
        manager.close()
    lines = manager.lines()
    assert lines[0] == "READY=1" and lines.index("READY=1") < lines.index(online)
    # the reason the log gives
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("disconnected: ")]
    assert said and offline()[0] == "STATUS=offline: " + said[0].removeprefix("disconnected: ")
    assert "WATCHDOG=1" not in lines  # no WATCHDOG_USEC: no timer

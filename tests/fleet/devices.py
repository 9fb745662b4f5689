"""Real device agents on an event loop of their own (a thread), so that a
fleet test can run the ``stanzalink fleet`` command line as a separate
process against them, and a registry with a slow command that counts how
many of its runs overlap across every device."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stanzalink.agent import Agent
from stanzalink.commands import Arg, Invocation, Registry
from stanzalink.commands.builtin import install
from stanzalink.config import DeviceConfig
from tests.integration.peers import running_agent

AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")


class Overlap:
    """How many runs of the slow command are under way, and the most ever."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.runs = 0
        self.lock = threading.Lock()


def registry(overlap: Overlap) -> Registry:
    """The built-in commands and ``slow SECONDS`` (sleeps, counts overlaps)."""
    reg = install(Registry())

    @reg.command("slow", help="sleep", args=[Arg("seconds", float, "how long", default=0.5)])
    async def slow(inv: Invocation) -> str:
        with overlap.lock:
            overlap.now += 1
            overlap.runs += 1
            overlap.peak = max(overlap.peak, overlap.now)
        try:
            await asyncio.sleep(float(inv.args["seconds"]))
        finally:
            with overlap.lock:
                overlap.now -= 1
        return f"slept {inv.args['seconds']} s"

    return reg


class AgentThread:
    """An event loop in a thread that runs agents until each is stopped."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._stops: dict[str, tuple[asyncio.Event, concurrent.futures.Future[None]]] = {}

    def start(self, cfg: DeviceConfig, commands: Registry | None = None) -> Agent:
        """Run an agent for ``cfg`` (online when this returns)."""
        ready: concurrent.futures.Future[Agent] = concurrent.futures.Future()

        async def hold(stop: asyncio.Event) -> None:
            try:
                async with running_agent(cfg, commands=commands) as agent:
                    ready.set_result(agent)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        async def make() -> asyncio.Event:
            return asyncio.Event()

        stop = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5)
        done = asyncio.run_coroutine_threadsafe(hold(stop), self.loop)
        agent = ready.result(60)
        self._stops[str(cfg.jid)] = (stop, done)
        return agent

    def stop(self, jid: str) -> None:
        stop, done = self._stops.pop(jid)
        self.loop.call_soon_threadsafe(stop.set)
        done.result(60)

    def close(self) -> None:
        for jid in list(self._stops):
            self.stop(jid)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def agent_thread() -> Iterator[AgentThread]:
    t = AgentThread()
    try:
        yield t
    finally:
        t.close()


def controller_toml(
    path: Path, server: Any, jid: str, password: str, port: int | None = None
) -> Path:
    path.write_text(
        f'[account]\njid = "{jid}"\npassword = "{password}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port or server.port}\nca_file = "{server.ca}"\n'
    )
    return path


def fleet_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``stanzalink fleet ARGS`` as its own process."""
    env = dict(os.environ, PYTHONPATH=AGENT_DIR)
    return subprocess.run(
        [sys.executable, "-m", "stanzalink", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )

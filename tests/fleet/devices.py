"""Real device agents on an event loop of their own (a thread), so that a
fleet test can run the ``stanzalink fleet`` command line as a separate
process against them (one agent at a time, or a whole simulated fleet),
and a registry with a slow command that counts how
many of its runs overlap across every device."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from stanzalink.agent import Agent
from stanzalink.commands import Arg, Invocation, Registry
from stanzalink.commands.builtin import install
from stanzalink.config import DeviceConfig
from stanzalink.simulate import Counts, DeviceStats, Simulation
from tests.integration.peers import running_agent

T = TypeVar("T")
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


class SimulationThread:
    """A :class:`~stanzalink.simulate.Simulation` on an event loop in a
    thread, for tests that drive servers by blocking calls meanwhile.
    Without ``sim`` the loop runs and :meth:`start` starts one later (a
    test may first run something else there, such as a proxy).
    ``events`` collects (time.monotonic(), device number, event)."""

    def __init__(self, sim: Simulation | None = None) -> None:
        self.events: list[tuple[float, int, object]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stop_event = self.call(asyncio.Event)
        self.done: concurrent.futures.Future[int] | None = None
        if sim is not None:
            self.start(sim)

    def start(self, sim: Simulation) -> None:
        self.sim = sim
        sim.on_event = lambda n, ev: self.events.append((time.monotonic(), n, ev))
        self.done = asyncio.run_coroutine_threadsafe(sim.run(self.stop_event), self.loop)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on the simulation's loop (where its state changes)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Await ``coro`` on the simulation's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def counts(self) -> Counts:
        return self.call(self.sim.counts)

    def stats(self) -> dict[int, DeviceStats]:
        return self.call(lambda: {n: replace(s) for n, s in self.sim.stats().items()})

    def wait(self, check: Callable[[Counts], bool], timeout: float) -> Counts:
        """Poll until ``check(counts)`` holds; AssertionError with the counts
        after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            if check(counts):
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout:g} s: {counts.line()}")
            time.sleep(0.1)

    def close(self) -> int:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        try:
            failed = self.done.result(120) if self.done is not None else 0
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
        return failed

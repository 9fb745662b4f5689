"""Running a program for a command: no shell (``shell`` aside), a timeout,
an output limit, and killed when the command is cancelled.  The program
runs in a process group of its own, and the whole group is killed: a
``shell`` line's children (``sleep``, ``yes``) hold the output pipe and
would outlive their shell otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from stanzalink.clock import Clock, LoopClock
from stanzalink.commands.model import CommandError, Text


async def run_process(
    argv: list[str], timeout: float, limit: int = 65536, clock: Clock | None = None
) -> tuple[int | None, str, bool]:
    """Run ``argv`` (no shell): (exit status or None on timeout, output
    (stdout and stderr, at most ``limit`` bytes), truncated).  Killed on
    timeout (on ``clock``: the device's) and on cancellation."""
    clock = clock or LoopClock()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            process_group=0,
        )
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    out = bytearray()
    truncated = False
    rc: int | None = None

    async def read() -> None:
        nonlocal truncated
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            room = limit - len(out)
            if room > 0:
                out.extend(chunk[:room])
            if len(chunk) > room:
                truncated = True
        await proc.wait()

    try:
        await clock.wait_for(read(), timeout)
        rc = proc.returncode
    except TimeoutError:
        rc = None
    finally:
        if proc.returncode is None or rc is None:
            # the group: what the program started goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                # the kill is immediate; only a stuck pipe takes this long
                await clock.wait_for(_drain_and_wait(proc), 5)
    return rc, out.decode(errors="replace"), truncated


async def _drain_and_wait(proc: asyncio.subprocess.Process) -> None:
    """Wait for a killed program: read what is left in its pipe (a full
    pipe is never seen to close, so ``wait()`` alone would not return)."""
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass
    await proc.wait()


def outcome(name: str, rc: int | None, out: str, truncated: bool, timeout: float) -> list[Any]:
    res: list[Any] = []
    if out.strip():
        res.append(Text(out.rstrip("\n"), preformatted=True))
    if truncated:
        res.append("(output truncated)")
    if rc is None:
        res.append(f"{name}: stopped after {timeout:g} s")
    elif rc != 0:
        res.append(f"{name}: exit status {rc}")
    return res

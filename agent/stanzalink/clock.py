"""The clock features and commands take their time from.

A feature never reads the event loop's clock itself: every timeout and
timer goes through a :class:`Clock` it is given (``ctx.clock``).  The agent
gives :class:`LoopClock`, the event loop's; the conversation harness gives
:class:`stanzalink_testing.harness.ManualClock`, which a test moves forward
at once instead of waiting out a real timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["Clock", "LoopClock", "TimerHandle"]

T = TypeVar("T")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Where features get the time and their timers from (monotonic seconds)."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Call ``callback`` in ``delay`` seconds (unless cancelled first)."""

    async def sleep(self, delay: float) -> None: ...

    async def wait_for(self, aw: Awaitable[T], timeout: float | None) -> T:
        """``aw``, or TimeoutError (and ``aw`` cancelled) after ``timeout``
        seconds, like :func:`asyncio.wait_for`."""


class LoopClock:
    """The running event loop's clock: what the agent gives its features."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)

    async def wait_for(self, aw: Awaitable[T], timeout: float | None) -> T:
        return await asyncio.wait_for(aw, timeout)

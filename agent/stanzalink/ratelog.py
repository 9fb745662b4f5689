"""Log lines that a peer can trigger, at most one per cause per interval.

A peer that repeats a bad stanza thousands of times must cost the device a
log line a minute, not thousands: every place that logs because of what
someone else sent goes through a :class:`RateLimitedLog`.  The lines not
written are counted and the count is given with the next line written.
Bounded: it remembers at most ``max_keys`` causes (the oldest half is
forgotten when full).  One instance per owner (no process-wide state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self._last: dict[Hashable, tuple[float, int]] = {}  # key -> (time written, unwritten)

    def log(
        self,
        key: Hashable,
        level: int,
        msg: str,
        *args: Any,
        now: float | None = None,
        exc_info: Any = None,
    ) -> bool:
        """Write the line unless ``key`` was written less than ``interval``
        ago; returns whether it was written."""
        t = self.clock() if now is None else now
        last = self._last.get(key)
        if last is not None and t - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is None and len(self._last) >= self.max_keys:
            for old in list(self._last)[: self.max_keys // 2]:
                del self._last[old]
        self._last[key] = (t, 0)
        if last is not None and last[1]:
            msg += f" ({last[1]} more like it in the last {self.interval:g} s not logged)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

"""The agent's own recent log lines, kept in memory: what the console's
``log`` shows when no log file or journal is configured.

Bounded twice: at most ``max_lines`` lines and ``max_bytes`` characters (a
long traceback does not push everything else out unseen: it is cut).  Lines
are formatted like the file log (``2026-12-05 10:00:00,000 INFO name: text``,
the level word where ``log``'s level filter looks for it), with a peer's
control characters escaped (:mod:`stanzalink.logsafe`).
"""

from __future__ import annotations

import logging
from collections import deque

from stanzalink.logsafe import SafeFormatter

__all__ = ["FORMAT", "RecentLines"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_LINE = 4096  # characters of one record kept (a traceback included)


class RecentLines(logging.Handler):
    """A logging handler that keeps the last records as text lines."""

    def __init__(self, max_lines: int = 1000, max_bytes: int = 256 * 1024) -> None:
        super().__init__()
        self.setFormatter(SafeFormatter(FORMAT))
        self.max_bytes = max_bytes
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._size = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + " [cut]"
        for line in text.split("\n"):
            if len(self._lines) == self._lines.maxlen:
                self._size -= len(self._lines[0])
            self._lines.append(line)
            self._size += len(line)
        while self._size > self.max_bytes and self._lines:
            self._size -= len(self._lines.popleft())

    def lines(self) -> list[str]:
        """The kept lines, oldest first."""
        return list(self._lines)

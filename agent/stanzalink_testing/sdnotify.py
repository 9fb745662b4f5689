"""The service manager's end of a systemd notify socket (``NOTIFY_SOCKET``):
a bound datagram socket and a thread that stamps each datagram with the
time it came, so a test or a bench can read what the agent said (``READY=1``,
``STATUS=...``, ``WATCHDOG=1``) and when."""

from __future__ import annotations

import socket
import threading
import time


class NotifyManager:
    """Binds ``path`` and reads it until :meth:`close`."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, list[str]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode().split("\n")))

    def times(self, line: str) -> list[float]:
        """When each datagram holding ``line`` came (``time.monotonic``)."""
        return [t for t, lines in list(self.received) if line in lines]

    def lines(self) -> list[str]:
        return [line for _, lines in list(self.received) for line in lines]

    def wait_for(self, line: str, timeout: float = 10.0) -> float:
        """When ``line`` first came; waits up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.times(line):
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {line} within {timeout} s: {self.lines()}")

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.sock.close()

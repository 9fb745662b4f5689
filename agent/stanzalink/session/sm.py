"""XEP-0198 stream management bookkeeping: counters, the unacknowledged
queue and what survives a reconnect.  Pure data; the session core drives it."""

from __future__ import annotations

from collections import deque

from stanzalink._value import Record
from stanzalink.errors import LocalProtocolError, RemoteProtocolError

MOD = 2**32


class QueueFull(LocalProtocolError):
    """The bounded outbound queue is full: wait for acknowledgements
    (``Session.can_send``) before sending more."""


class StreamManagement(Record):
    """State kept across connections for resumption."""

    def __init__(self, max_unacked: int = 1000) -> None:
        self.max_unacked = max_unacked
        self.enabled = False
        self.resumable = False
        self.id: str | None = None
        self.location: str | None = None
        self.max_seconds: int | None = None
        self.h_in = 0  # stanzas received and handled on this SM session
        self.h_out = 0  # stanzas sent on this SM session
        self.acked = 0  # the last h the server acknowledged
        self.unacked: deque[bytes] = deque()
        self.requested_at = 0  # h_out when we last sent <r/>

    def room(self) -> int:
        return self.max_unacked - len(self.unacked)

    def sent(self, data: bytes) -> None:
        if len(self.unacked) >= self.max_unacked:
            raise QueueFull(f"{self.max_unacked} stanzas await acknowledgement")
        self.unacked.append(data)
        self.h_out = (self.h_out + 1) % MOD

    def received(self) -> None:
        self.h_in = (self.h_in + 1) % MOD

    def ack(self, h: int) -> int:
        """Apply a server ``h``; return how many stanzas it newly acknowledged."""
        if not 0 <= h < MOD:
            raise RemoteProtocolError("undefined-condition", f"h={h} is out of range")
        newly = (h - self.acked) % MOD
        if newly > len(self.unacked):
            raise RemoteProtocolError(
                "undefined-condition",
                f"the server acknowledged {newly} stanzas but only {len(self.unacked)} "
                "were unacknowledged (handled-count-too-high)",
            )
        for _ in range(newly):
            self.unacked.popleft()
        self.acked = h
        return newly

    def start(
        self, sm_id: str | None, resume: bool, location: str | None, max_s: int | None
    ) -> None:
        """<enabled/>: a new SM session; counters restart at zero.  Stanzas
        still unacknowledged from a previous session stay queued: the caller
        re-sends them (they count afresh)."""
        self.enabled = True
        self.resumable = resume and sm_id is not None
        self.id = sm_id
        self.location = location
        self.max_seconds = max_s
        self.h_in = 0
        self.h_out = 0
        self.acked = 0
        self.requested_at = 0

    def take_unacked(self) -> list[bytes]:
        """Everything not acknowledged, for re-sending on a new session."""
        items = list(self.unacked)
        self.unacked.clear()
        return items

    def forget(self) -> None:
        """Resumption is no longer possible (failed, or closed on purpose)."""
        self.enabled = False
        self.resumable = False
        self.id = None
        self.location = None

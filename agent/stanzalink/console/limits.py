"""Rate limits: a token bucket per account (``[console] rate`` commands a
second, ``burst`` at once), the buckets themselves bounded in number."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from stanzalink.jid import JID

MAX_BUCKETS = 1024


@dataclass
class Bucket:
    tokens: float
    stamp: float
    noticed: bool = False


class RateLimit:
    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self.buckets: OrderedDict[JID, Bucket] = OrderedDict()
        self.max_buckets = max_buckets

    def take(self, who: JID, now: float, rate: float, burst: int) -> tuple[bool, bool]:
        """(whether ``who`` may run a command now, whether to tell it that it
        may not: once, until it may again)."""
        b = self.buckets.get(who)
        if b is None:
            b = self.buckets[who] = Bucket(float(burst), now)
            while len(self.buckets) > self.max_buckets:
                self.buckets.popitem(last=False)
        self.buckets.move_to_end(who)
        b.tokens = min(float(burst), b.tokens + (now - b.stamp) * rate)
        b.stamp = now
        if b.tokens >= 1:
            b.tokens -= 1
            b.noticed = False
            return True, False
        if not b.noticed:
            b.noticed = True
            return False, True
        return False, False

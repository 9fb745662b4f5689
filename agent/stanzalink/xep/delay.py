"""XEP-0203 Delayed Delivery: how old a stanza is, from its ``<delay/>``
stamps (XEP-0082 date-times).

A server stamps ``<delay xmlns='urn:xmpp:delay' stamp='...'/>`` on what it
delivers late: a message from offline storage, and (Prosody) whatever it
re-sends when a stream is resumed, even a second later.  So a stamp alone
says nothing about how late a command is; its age does.  :func:`delay_of`
reads the stamps of a stanza (only its direct children: a stamp inside a
forwarded or carbon-copied payload is not this stanza's) and gives the age
of the oldest.

What counts as "unknown age" (:attr:`Delay.age` is None; the front ends
treat it like an old command, the safe side):

- a stamp that is not a strict XEP-0082 date-time
  (``YYYY-MM-DDThh:mm:ss[.fraction]`` and ``Z`` or ``+hh:mm``/``-hh:mm``);
  with several stamps, one unreadable one makes the whole stanza unknown;
- a stamp further in the future than ``skew`` seconds.  A stamp up to
  ``skew`` ahead is the server's clock running a little ahead of the
  device's and counts as age 0.  A device whose clock is wrong (no RTC,
  before NTP set it) sees every stamp far in the past or far in the future:
  its delayed commands all count as old until the clock is right, never as
  fresh.  A stanza without any stamp is fresh whatever the clock says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

NS = "urn:xmpp:delay"

_STAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d: 0-9 only
)


def parse_stamp(text: str | None) -> float | None:
    """A XEP-0082 DateTime as seconds since the epoch, or None when it is
    not one (strictly: no missing seconds, no missing zone, no leap second,
    no zone beyond ±14:00)."""
    if not text:
        return None
    m = _STAMP.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    if m.group(8):
        tz = UTC
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 14 or om > 59 or (oh == 14 and om):
            return None
        off = timedelta(hours=oh, minutes=om)
        tz = timezone(-off if m.group(9) == "-" else off)
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:  # month 13, February 30, hour 24, second 60 ...
        return None
    return dt.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


@dataclass(frozen=True)
class Delay:
    """The oldest ``<delay/>`` of a stanza, judged at arrival."""

    stamp: str  # as the server wrote it (cut to 64 characters, controls as "?")
    age: float | None  # seconds; None: unknown (unreadable or far-future stamp)

    def older_than(self, limit: float) -> bool:
        """Too old for a command that changes something (unknown: yes)."""
        return self.age is None or self.age > limit

    def describe(self) -> str:
        """``sent at STAMP, N s ago`` (or that the age is unknown)."""
        if self.age is None:
            return f"sent at {self.stamp or '(no stamp)'}, an unknown time ago"
        return f"sent at {self.stamp}, {self.age:.0f} s ago"


def delay_of(stanza: Any, now: float, skew: float = 0.0) -> Delay | None:
    """The delay of ``stanza`` (None: it carries no stamp, it is fresh).

    ``now`` is the wall clock (``time.time()``); ``skew`` how far in the
    future a stamp may be and still count as age 0."""
    stamps = [d.get("stamp") for d in stanza.findall(f"{{{NS}}}delay")]
    if not stamps:
        return None
    oldest: tuple[float, str] | None = None
    for raw in stamps:
        # shown in answers and logs: cut, and nothing that breaks a line
        shown = "".join(c if c.isprintable() else "?" for c in (raw or "")[:64])
        when = parse_stamp(raw)
        if when is None:
            return Delay(shown, None)
        if oldest is None or when < oldest[0]:
            oldest = (when, shown)
    assert oldest is not None
    age = now - oldest[0]
    if age < -skew:
        return Delay(oldest[1], None)
    return Delay(oldest[1], max(0.0, age))

"""XEP-0202 Entity Time: controllers may ask the device's clock (to see
drift, or the device's time zone).

``<tzo>`` is the device's UTC offset now (``+01:00``, ``Z`` never: the XEP
writes ``+00:00`` for UTC) and ``<utc>`` the time in UTC to the second
(XEP-0082 DateTime).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from stanzalink.access import Role
from stanzalink.xep.base import Feature, IQRoute
from stanzalink.xml import Element
from stanzalink.xml.plain import E, PlainElement, sub

NS = "urn:xmpp:time"


def local_now() -> dt.datetime:
    """The local time, aware of its UTC offset."""
    return dt.datetime.now(dt.UTC).astimezone()


def tzo(offset: dt.timedelta | None) -> str:
    seconds = int((offset or dt.timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class Time(Feature):
    name = "time"
    disco_features = (NS,)
    clock: Callable[[], dt.datetime] = staticmethod(local_now)

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("get", f"{{{NS}}}time", self._time, Role.VIEWER)]

    def _time(self, iq: Element, role: Role | None) -> PlainElement:
        now = self.clock()
        out = E(f"{{{NS}}}time")
        sub(out, f"{{{NS}}}tzo", text=tzo(now.utcoffset()))
        utc = now.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None)
        sub(out, f"{{{NS}}}utc", text=utc.isoformat() + "Z")
        return out

"""XEP-0199 XMPP Ping: controllers may ping the device (the session core
answers the server's own pings before they reach the agent)."""

from __future__ import annotations

from stanzalink.access import Role
from stanzalink.xep.base import Feature, IQRoute
from stanzalink.xml import Element
from stanzalink.xml.plain import PlainElement

NS = "urn:xmpp:ping"


class Ping(Feature):
    name = "ping"
    disco_features = (NS,)

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("get", f"{{{NS}}}ping", self._pong, Role.VIEWER)]

    def _pong(self, iq: Element, role: Role | None) -> PlainElement | None:
        return None  # an empty result is the answer (XEP-0199 §4.2)

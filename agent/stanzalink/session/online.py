"""Once online: each stanza counted for XEP-0198, the answers to the
session's own IQs taken out (the keepalive ping's, the password change's),
the server's XEP-0199 ping answered, and everything else handed to the
application as :class:`StanzaReceived`.  The answer to a password
change goes to :mod:`.password`, which holds that whole flow.

"From the server" is :func:`stanzalink.jid.from_own_server`, the rule
access control uses too: no ``from``, the domain, or the own bare JID.
The ping's answer is an empty result written by :func:`.wire.ping_result`
and sent through the stream-management counter like any stanza."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.jid import from_own_server
from stanzalink.session import sm_driver, wire
from stanzalink.session.events import StanzaReceived
from stanzalink.xml import Element

if TYPE_CHECKING:
    from stanzalink.session.core import Session

_Q = ns.q


def on_stanza(s: Session, el: Element, now: float) -> None:
    """A message, presence or IQ once online (or while ``<enable/>`` is
    answered, or while closing)."""
    if s.sm.enabled:
        s.sm.received()
    if el.tag == _Q(ns.CLIENT, "iq"):
        iq_id = el.get("id")
        change = s._pw_change
        if (
            change is not None
            and iq_id == change.iq_id
            and el.get("type") in ("result", "error")
            and from_own_server(s.config.jid, el.get("from"))
        ):
            from stanzalink.session import password  # loaded when the change began

            password.on_answer(s, el, now)
            return
        if (
            iq_id is not None
            and iq_id in s._pending_iq
            and el.get("type") in ("result", "error")
            and from_own_server(s.config.jid, el.get("from"))
        ):
            del s._pending_iq[iq_id]  # our keepalive ping's answer
            return
        if (
            el.get("type") == "get"
            and el.find(_Q(ns.PING, "ping")) is not None
            and from_own_server(s.config.jid, el.get("from"))
        ):
            sm_driver.send_bytes(s, wire.ping_result(el), now)
            return
    s._emit(StanzaReceived(el))

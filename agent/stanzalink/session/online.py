"""Once online: each stanza counted for XEP-0198, the answers to the
session's own IQs taken out (the keepalive ping's, the password change's),
the server's XEP-0199 ping answered, and everything else handed to the
application as :class:`StanzaReceived`.  Also the XEP-0077 §3.3 password
change as the session drives it (the requests and what the answers mean
are :mod:`.password`).

"From the server" is :func:`stanzalink.jid.from_own_server`, the rule
access control uses too: no ``from``, the domain, or the own bare JID.
The ping's answer is an empty result written by :func:`.wire.ping_result`
and sent through the stream-management counter like any stanza."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.errors import LocalProtocolError
from stanzalink.jid import from_own_server
from stanzalink.session import sasl, sm_driver, wire
from stanzalink.session.events import (
    PasswordChanged,
    PasswordChangeFailed,
    ScramKeysUpdated,
    StanzaReceived,
)
from stanzalink.session.machine import State
from stanzalink.session.sm import QueueFull
from stanzalink.xml import Element
from stanzalink.xml.serializer import tostring

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from stanzalink.session.core import Session

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name

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
            on_password_answer(s, el, now)
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


class PasswordChange:
    """A password change under way."""

    def __init__(self, iq_id: str, new: str, old: str | None) -> None:
        self.iq_id = iq_id
        self.new = new
        self.old = old
        self.form_sent = False
        self.data = b""  # the request as sent (to know whether it will be sent again)


def change_password(s: Session, new: str, now: float) -> None:
    """:meth:`Session.change_password`: the checks, then the request."""
    if s.state is not State.ONLINE:
        raise LocalProtocolError("the password can be changed only while online")
    if s._pw_change is not None:
        raise LocalProtocolError("a password change is already under way")
    if not sasl.saslprep(new):
        raise LocalProtocolError("the new password is empty")
    change = PasswordChange(f"slpw{next(s._ids)}", new, s.config.password)
    from stanzalink.session import password as pwchange  # loaded when first used

    iq = pwchange.request(s.config.jid.domain, s.config.jid.local or "", new)
    change.data = send_own(s, iq, change.iq_id, now)
    s._pw_change = change


def send_own(s: Session, iq: ET.Element, iq_id: str, now: float) -> bytes:
    """An IQ of ours while online: counted by stream management."""
    iq.set("id", iq_id)
    if not s.can_send:
        raise QueueFull(f"{s.config.max_unacked} stanzas are waiting to be sent or acknowledged")
    data = tostring(iq, default_ns=ns.CLIENT)
    sm_driver.send_bytes(s, data, now)
    return data


def on_password_answer(s: Session, el: Element, now: float) -> None:
    change = s._pw_change
    assert change is not None
    from stanzalink.session import password as pwchange

    result = pwchange.outcome(
        el,
        domain=s.config.jid.domain,
        username=s.config.jid.local or "",
        old=change.old,
        new=change.new,
        form_sent=change.form_sent,
    )
    if result.form is not None:
        change.iq_id = f"slpw{next(s._ids)}"
        change.form_sent = True
        change.data = send_own(s, result.form, change.iq_id, now)
        return
    s._pw_change = None
    if result.done:
        s.config.password = change.new
        if s.config.scram_keys:
            s.config.scram_keys.clear()  # derived from the old password
            s._emit(ScramKeysUpdated({}))
        s._emit(PasswordChanged())
        return
    log.warning("password change refused: %s", result.text)
    s._emit(PasswordChangeFailed(result.condition, result.text))


def password_change_lost(s: Session) -> None:
    """The connection ended without resumption: a request that went out
    and will not be sent again gets no answer."""
    change = s._pw_change
    if change is not None and change.data not in s._pending_out:
        s._pw_change = None
        s._emit(
            PasswordChangeFailed(
                "connection-lost",
                "the connection was lost before the server answered the password "
                "change: it may or may not have changed (the old password stays "
                "configured)",
            )
        )

"""XEP-0077 §3.3 in-band password change, sans-IO: the requests the device
sends and what the server's answers mean.

The simple request is ``<query><username/><password/></query>``.  A server
that wants more (XEP-0077 example 23) answers ``not-authorized`` with a data
form of type ``jabber:iq:register:changepassword``; the device fills in the
fields it knows (username, old password, new password) and submits it once.
A form that requires anything else cannot be filled by a device and is a
clear failure.  The server's errors are explained here.

The second half is the change as the
:class:`~stanzalink.session.core.Session` drives it (:func:`start`,
:func:`on_answer`, :func:`lost`): a rare operation, so this module loads
only when a change begins and an idle session never holds it.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink._value import Value, _set
from stanzalink.errors import LocalProtocolError
from stanzalink.session import sasl, sm_driver
from stanzalink.session.account_events import PasswordChanged, PasswordChangeFailed
from stanzalink.session.events import ScramKeysUpdated
from stanzalink.session.machine import State
from stanzalink.session.sm import QueueFull
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub
from stanzalink.xml.serializer import tostring

if TYPE_CHECKING:
    from stanzalink.session.core import Session

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name

_Q = ns.q
FORM_TYPE = "jabber:iq:register:changepassword"

REASONS = {
    "bad-request": "the server could not use the request (bad-request: "
    "malformed username or missing password)",
    "not-authorized": "the server does not consider this connection safe enough "
    "to change the password (not-authorized)",
    "not-allowed": "the server does not allow password changes (not-allowed)",
    "not-acceptable": "the server refused the new password (not-acceptable: too weak?)",
    "feature-not-implemented": "the server does not implement in-band password changes",
    "service-unavailable": "the server does not offer in-band password changes",
}


class Outcome(Value):
    """What an answer to a password change means: ``done``; or a ``form``
    to submit next; or a failure ``condition`` with ``text``."""

    __slots__ = ("condition", "done", "form", "text")

    done: bool
    form: ET.Element | None
    condition: str
    text: str

    def __init__(
        self,
        done: bool = False,
        form: ET.Element | None = None,
        condition: str = "",
        text: str = "",
    ) -> None:
        _set(self, "done", done)
        _set(self, "form", form)
        _set(self, "condition", condition)
        _set(self, "text", text)


def request(domain: str, username: str, new: str) -> ET.Element:
    """XEP-0077 example 18."""
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "set", "to": domain})
    q = sub(iq, _Q(ns.REGISTER, "query"))
    sub(q, _Q(ns.REGISTER, "username"), text=username)
    sub(q, _Q(ns.REGISTER, "password"), text=new)
    return iq


def _error(reply: Element) -> tuple[str, str]:
    err = reply.find(_Q(ns.CLIENT, "error"))
    cond, text = "undefined-condition", ""
    if err is not None:
        for child in err:
            if child.tag == _Q(ns.STANZAS_ERR, "text"):
                text = child.text or ""
            elif child.tag.startswith("{" + ns.STANZAS_ERR + "}"):
                cond = child.tag.split("}", 1)[1]
    return cond, text


def _form_submission(
    form: Element, domain: str, username: str, old: str | None, new: str
) -> ET.Element | str:
    """The filled-in form as an IQ, or why it cannot be filled."""
    known = {"FORM_TYPE": FORM_TYPE, "username": username, "password": new}
    if old is not None:
        known["old_password"] = old
    values: dict[str, str] = {}
    missing: list[str] = []
    for field in form.findall(_Q(ns.DATA_FORMS, "field")):
        var = field.get("var")
        if not var:
            continue
        if var in known:
            values[var] = known[var]
        elif field.find(_Q(ns.DATA_FORMS, "required")) is not None:
            missing.append(var)
    if missing:
        why = ", ".join(missing)
        if "old_password" in missing:
            why += " (the device keeps no password, only SCRAM keys)"
        return f"the server's password-change form needs fields the device cannot fill: {why}"
    values.setdefault("FORM_TYPE", FORM_TYPE)
    values.setdefault("password", new)
    iq = E(_Q(ns.CLIENT, "iq"), {"type": "set", "to": domain})
    q = sub(iq, _Q(ns.REGISTER, "query"))
    x = sub(q, _Q(ns.DATA_FORMS, "x"), {"type": "submit"})
    for var in ("FORM_TYPE", *[v for v in values if v != "FORM_TYPE"]):
        f = sub(x, _Q(ns.DATA_FORMS, "field"), {"var": var})
        sub(f, _Q(ns.DATA_FORMS, "value"), text=values[var])
    return iq


def outcome(
    reply: Element,
    *,
    domain: str,
    username: str,
    old: str | None,
    new: str,
    form_sent: bool,
) -> Outcome:
    """Interpret the server's answer to a request (or to a submitted form)."""
    if reply.get("type") == "result":
        return Outcome(done=True)
    cond, text = _error(reply)
    query = reply.find(_Q(ns.REGISTER, "query"))
    form = query.find(_Q(ns.DATA_FORMS, "x")) if query is not None else None
    if form is not None and form.get("type") == "form" and not form_sent:
        submission = _form_submission(form, domain, username, old, new)
        if isinstance(submission, str):
            return Outcome(condition=cond, text=submission)
        return Outcome(form=submission)
    why = REASONS.get(cond, f"the server refused the password change ({cond})")
    if text:
        why += f": {text}"
    return Outcome(condition=cond, text=why)


class PasswordChange:
    """A password change under way (``Session._pw_change``)."""

    def __init__(self, iq_id: str, new: str, old: str | None) -> None:
        self.iq_id = iq_id
        self.new = new
        self.old = old
        self.form_sent = False
        self.data = b""  # the request as sent (to know whether it will be sent again)


def start(s: Session, new: str, now: float) -> None:
    """:meth:`Session.change_password`: the checks, then the request."""
    if s.state is not State.ONLINE:
        raise LocalProtocolError("the password can be changed only while online")
    if s._pw_change is not None:
        raise LocalProtocolError("a password change is already under way")
    if not sasl.saslprep(new):
        raise LocalProtocolError("the new password is empty")
    change = PasswordChange(f"slpw{next(s._ids)}", new, s.config.password)
    iq = request(s.config.jid.domain, s.config.jid.local or "", new)
    change.data = _send(s, iq, change.iq_id, now)
    s._pw_change = change


def _send(s: Session, iq: ET.Element, iq_id: str, now: float) -> bytes:
    """An IQ of ours while online: counted by stream management."""
    iq.set("id", iq_id)
    if not s.can_send:
        raise QueueFull(f"{s.config.max_unacked} stanzas are waiting to be sent or acknowledged")
    data = tostring(iq, default_ns=ns.CLIENT)
    sm_driver.send_bytes(s, data, now)
    return data


def on_answer(s: Session, el: Element, now: float) -> None:
    """The server's answer to the request (or to the submitted form)."""
    change = s._pw_change
    assert change is not None
    result = outcome(
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
        change.data = _send(s, result.form, change.iq_id, now)
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


def lost(s: Session) -> None:
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

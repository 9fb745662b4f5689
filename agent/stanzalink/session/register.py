"""XEP-0077 in-band registration, tried once when the server refuses the
login and offers registration (``[account] register = true``): the form is
asked for, filled with the username and password (a form that requires
more is a clear failure) and submitted.  :mod:`.login` starts it; the
session's IQ handler brings the answers here (this module loads only when
a registration begins, so a device that has its account never holds it)
and logs in again after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.session import wire
from stanzalink.session.account_events import Registered
from stanzalink.session.events import Retry
from stanzalink.session.fail import fail_local
from stanzalink.session.machine import State
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub
from stanzalink.xml.serializer import tostring

if TYPE_CHECKING:
    from stanzalink.session.core import Session

_Q = ns.q

_WHY = {
    "conflict": "the account exists already and the password was refused",
    "not-acceptable": "the server refused the username or password (not acceptable)",
    "not-allowed": "the server does not allow in-band registration",
    "resource-constraint": "the server limits registrations; try again later",
}


def ask_form(s: Session, now: float) -> None:
    """Ask the server for its registration form (XEP-0077 example 1)."""
    s._advance("register")
    s.send_raw_iq(wire.own_iq("get", f'<query xmlns="{ns.REGISTER}"/>'), "register-form", now)


def on_iq(s: Session, el: Element, now: float) -> bool:
    """An IQ in the two registration states: the form or the outcome of
    the submission.  True when the account now exists (log in afresh)."""
    if s.state is State.REGISTER_FORM:
        on_form(s, el, now)
        return False
    return on_submit(s, el, now)


def on_form(s: Session, el: Element, now: float) -> None:
    if not s._own_iq(el, "register-form", now):
        return
    query = el.find(_Q(ns.REGISTER, "query"))
    if el.get("type") == "error" or query is None:
        fail_local(
            s,
            "not-authorized",
            "the login was refused and the server does not allow in-band registration",
            now,
            Retry.SLOW,
        )
        return
    if query.find(_Q(ns.REGISTER, "registered")) is not None:
        fail_local(
            s, "not-authorized", "the account exists but the password was refused", now, Retry.SLOW
        )
        return
    form = query.find(_Q(ns.DATA_FORMS, "x"))
    q = E(_Q(ns.REGISTER, "query"))
    username = s.config.jid.local or ""
    password = s.config.password or ""
    if form is not None:
        values = {"username": username, "password": password, "FORM_TYPE": ns.REGISTER}
        missing = [
            f.get("var")
            for f in form.findall(_Q(ns.DATA_FORMS, "field"))
            if f.find(_Q(ns.DATA_FORMS, "required")) is not None and f.get("var") not in values
        ]
        if missing:
            fail_local(
                s,
                "not-authorized",
                "in-band registration needs fields the device cannot fill: "
                + ", ".join(str(m) for m in missing),
                now,
                Retry.SLOW,
            )
            return
        x = sub(q, _Q(ns.DATA_FORMS, "x"), {"type": "submit"})
        for var, value in values.items():
            f = sub(x, _Q(ns.DATA_FORMS, "field"), {"var": var})
            sub(f, _Q(ns.DATA_FORMS, "value"), text=value)
    else:
        sub(q, _Q(ns.REGISTER, "username"), text=username)
        sub(q, _Q(ns.REGISTER, "password"), text=password)
    s._advance("submit")
    s.send_raw_iq(wire.own_iq("set", tostring(q).decode()), "register-submit", now)


def on_submit(s: Session, el: Element, now: float) -> bool:
    """The answer to our submission: True when the account now exists."""
    if not s._own_iq(el, "register-submit", now):
        return False
    if el.get("type") == "error":
        err = el.find(_Q(ns.CLIENT, "error"))
        cond = "undefined-condition"
        if err is not None:
            for child in err:
                if child.tag.startswith("{" + ns.STANZAS_ERR + "}") and not child.tag.endswith(
                    "}text"
                ):
                    cond = child.tag.split("}", 1)[1]
        why = _WHY.get(cond, f"registration failed: {cond}")
        fail_local(s, "not-authorized", why, now, Retry.SLOW)
        return False
    s._emit(Registered(s.config.jid.local or ""))
    s._sasl_tried.clear()  # a new account: every mechanism may be tried again
    return True

"""The SASL exchange (RFC 6120 §6) as the session drives it: pick the
mechanism (:func:`.sasl.select_mechanism`; the mechanisms live in
:mod:`.sasl`), send ``<auth/>``, answer challenges, check the server's
proof, keep the SCRAM keys it yields, fall back from refused stored keys
to the password, and register the account (:mod:`.register`) when the
login is refused and registration is allowed."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.errors import LocalProtocolError, RemoteProtocolError
from stanzalink.session import sasl, wire
from stanzalink.session.events import Authenticated, Retry, ScramKeysUpdated
from stanzalink.session.fail import fail_local, fail_remote
from stanzalink.session.sasl import Scram
from stanzalink.xml import Element

if TYPE_CHECKING:
    from stanzalink.session.core import Session

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name

_Q = ns.q


def start_sasl(s: Session, now: float) -> None:
    """``<auth/>`` with the best mechanism not tried yet on this connection."""
    tls = s.tls
    try:
        mech = sasl.select_mechanism(
            [m for m in s._offered_mechs if m not in s._sasl_tried],
            tls=tls is not None,
            tls_version=tls.version if tls else None,
            cb_types=tls.channel_bindings if tls else {},
            server_cb_types=s._offered_cb,
            have_client_cert=bool(tls and tls.client_certificate),
            allowed=s.config.sasl_mechanisms,
            username=s.config.jid.local or "",
            password=s.config.password,
            keys=s.config.scram_keys,
            all_offered=s._offered_mechs,
        )
    except LocalProtocolError as exc:
        text = str(exc)
        if not text.startswith("cannot log in"):
            text = f"cannot log in: {text}"
        fail_local(s, "policy-violation", text, now, Retry.SLOW)
        return
    except RemoteProtocolError as exc:
        fail_local(s, "policy-violation", f"login refused: {exc}", now, Retry.SLOW)
        return
    s._advance("auth")
    s._sasl = mech
    s._sasl_tried.add(mech.name)
    s._now_write(wire.auth(mech.name, mech.initial_response()), now)


def _data(s: Session, el: Element, now: float) -> bytes | None:
    text = (el.text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail_remote(s, "bad-format", "SASL data is not base64", now)
        return None


def on_challenge(s: Session, el: Element, now: float) -> None:
    data = _data(s, el, now)
    if data is None:
        return
    try:
        response = s._sasl.challenge(data)
    except RemoteProtocolError as exc:
        s._write(wire.ABORT)
        fail_local(s, "not-authorized", f"login aborted: {exc}", now, Retry.SLOW)
        return
    except LocalProtocolError as exc:  # stored keys that no longer fit, no password
        s._write(wire.ABORT)
        fail_local(s, "not-authorized", f"cannot log in: {exc}", now, Retry.SLOW)
        return
    s._now_write(wire.response(response), now)


def on_success(s: Session, el: Element, now: float) -> None:
    data = _data(s, el, now)
    if data is None:
        return
    try:
        s._sasl.success(data)
    except RemoteProtocolError as exc:
        # a server that cannot prove it knows the password is not our server
        fail_local(s, "not-authorized", f"the server's SASL proof is wrong: {exc}", now, Retry.SLOW)
        return
    s.authenticated = True
    s._emit(Authenticated(s._sasl.name, s._sasl.gs2_flag))
    mech = s._sasl
    if getattr(mech, "downgrade_protected", False):
        log.info("XEP-0474: the server's mechanism and channel-binding lists were verified")
    if isinstance(mech, Scram) and mech.keys is not None:
        base = mech.keys.mechanism
        if s.config.scram_keys.get(base) != mech.keys:
            s.config.scram_keys[base] = mech.keys
            s._emit(ScramKeysUpdated(dict(s.config.scram_keys)))
    s._advance("success")
    s._restart_stream(now)


def on_failure(s: Session, el: Element, now: float) -> None:
    condition = "not-authorized"
    text = ""
    for child in el:
        if child.tag == _Q(ns.SASL, "text"):
            text = child.text or ""
        elif child.tag.startswith("{" + ns.SASL + "}"):
            condition = child.tag.split("}", 1)[1]
    mech = s._sasl
    if (
        condition == "not-authorized"
        and isinstance(mech, Scram)
        and mech.used_stored_keys
        and mech.keys is not None
        and s.config.password is not None
    ):
        # the stored keys no longer work (same salt, new password?):
        # forget them and try once more with the password
        log.warning("the stored %s keys were refused; trying the password", mech.keys.mechanism)
        s.config.scram_keys.pop(mech.keys.mechanism, None)
        s._emit(ScramKeysUpdated(dict(s.config.scram_keys)))
        s._sasl_tried.discard(mech.name)
        start_sasl(s, now)
        return
    if (
        condition == "not-authorized"
        and s.config.register
        and not s._registered_once
        and s._register_offered
    ):
        # perhaps the account does not exist yet: register it (XEP-0077)
        s._registered_once = True
        from stanzalink.session import register  # loaded only to register

        register.ask_form(s, now)
        return
    detail = f" ({text})" if text else ""
    fail_local(
        s,
        condition,
        f"the server refused the login as {s.config.jid.bare}: {condition}{detail}",
        now,
        Retry.SLOW,
    )

"""Stream negotiation after the headers (RFC 6120 §4-7, XEP-0198 §3-5):
the server's header checked, its features read, STARTTLS, then (once
authenticated) resumption or bind, the legacy session, ``<enable/>``, and
going online.  SASL is :mod:`.login`'s part."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.jid import JID, InvalidJID
from stanzalink.session import login, sm_driver, wire
from stanzalink.session.events import Online, Retry, StartTLS
from stanzalink.session.fail import fail_local, fail_remote
from stanzalink.session.machine import State
from stanzalink.xml import Element, StreamOpen

if TYPE_CHECKING:
    from stanzalink.session.core import Session

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name

_Q = ns.q


def on_open(s: Session, ev: StreamOpen, now: float) -> None:
    """The server's stream header: its namespace, version and name checked."""
    if ev.nsmap.get("") != ns.CLIENT:
        fail_remote(
            s,
            "invalid-namespace",
            f"the server's content namespace is {ev.nsmap.get('')!r}, not jabber:client",
            now,
        )
        return
    version = ev.get("version") or "0.9"
    major = wire.digits(version.split(".")[0], 4)
    if major is None or major < 1:
        fail_remote(s, "unsupported-version", f"server stream version {version}", now)
        return
    sender = ev.get("from")
    if sender is not None:
        try:
            ok = JID.parse(sender) == JID(None, s.config.jid.domain)
        except InvalidJID:
            ok = False
        if not ok:
            fail_remote(
                s,
                "host-unknown",
                f"the server answers as {sender!r}, not {s.config.jid.domain}",
                now,
            )
            return
    s.stream_id = ev.get("id")
    s._advance("header")


def on_features(s: Session, el: Element, now: float) -> None:
    """``<stream:features>``: STARTTLS first, then SASL, then resume or bind."""
    s.server_features = el
    tls_offer = el.find(_Q(ns.TLS, "starttls"))
    mechs = el.find(_Q(ns.SASL, "mechanisms"))
    if s.tls is None:
        if tls_offer is not None:
            s._advance("starttls")
            s._now_write(wire.STARTTLS, now)
            return
        if s.config.require_tls:
            fail_local(
                s,
                "policy-violation",
                "the server does not offer STARTTLS and TLS is required "
                "(set server.require_tls = false only on a trusted network)",
                now,
                # before TLS anyone on the path can strip the offer: no
                # more than a transient fault (as every pre-TLS stream error)
                Retry.BACKOFF,
            )
            return
    if not s.authenticated:
        if mechs is None:
            fail_local(
                s, "policy-violation", "the server offers no SASL mechanism", now, Retry.SLOW
            )
            return
        s._offered_mechs = [m.text or "" for m in mechs.findall(_Q(ns.SASL, "mechanism"))]
        cb = el.find(_Q(ns.SASL_CB, "sasl-channel-binding"))
        s._offered_cb = (
            [c.get("type") or "" for c in cb.findall(_Q(ns.SASL_CB, "channel-binding"))]
            if cb is not None
            else None
        )
        s._register_offered = el.find(_Q(ns.REGISTER_FEATURE, "register")) is not None
        login.start_sasl(s, now)
        return
    # authenticated: resume or bind
    s._csi_offered = el.find(_Q(ns.CSI, "csi")) is not None
    sm_offered = el.find(_Q(ns.SM, "sm")) is not None
    sess = el.find(_Q(ns.SESSION, "session"))
    s._legacy_session = sess is not None and sess.find(_Q(ns.SESSION, "optional")) is None
    s._sm_offered = sm_offered and s.config.stream_management
    if s._sm_offered and s.sm.resumable and s.sm.id:
        s._advance("resume")
        s._now_write(wire.sm_resume(s.sm.h_in, s.sm.id), now)
        return
    if s.sm.resumable:
        sm_driver.requeue_after_lost_session(s)
    bind(s, now)


def on_proceed(s: Session, el: Element, now: float) -> None:
    s._advance("proceed")
    s._emit(StartTLS())


def on_tls_failure(s: Session, el: Element, now: float) -> None:
    fail_local(s, "policy-violation", "the server could not start TLS", now)


def bind(s: Session, now: float, resource: str | None = None) -> None:
    s._advance("bind")
    res = resource if resource is not None else s.config.resource
    s.send_raw_iq(wire.bind_request(res), "bind", now)


def on_bind(s: Session, el: Element, now: float) -> None:
    if not s._own_iq(el, "bind", now):
        return
    if el.get("type") == "error":
        if not s._bind_retried and s.config.resource:
            s._bind_retried = True
            log.warning("resource %r refused; asking the server for one", s.config.resource)
            bind(s, now, resource="")
            return
        fail_local(s, "not-authorized", "the server refused to bind a resource", now, Retry.SLOW)
        return
    bound = el.find(f"{{{ns.BIND}}}bind")  # two simple finds: no ElementPath
    jid_text = bound.findtext(f"{{{ns.BIND}}}jid") if bound is not None else None
    try:
        jid = JID.parse(jid_text or "")
    except InvalidJID:
        fail_remote(s, "bad-format", f"bind result {jid_text!r} is not a JID", now)
        return
    if jid.bare != s.config.jid.bare or jid.resource is None:
        fail_remote(
            s,
            "bad-format",
            f"the server bound {jid}, not a resource of {s.config.jid.bare}",
            now,
        )
        return
    s.jid = jid
    if s._legacy_session:
        s._advance("session")
        s.send_raw_iq(wire.session_request(), "session", now)
        return
    after_bind(s, now)


def on_legacy_session(s: Session, el: Element, now: float) -> None:
    if not s._own_iq(el, "session", now):
        return
    if el.get("type") == "error":
        fail_local(s, "not-authorized", "the server refused the session", now, Retry.SLOW)
        return
    after_bind(s, now)


def after_bind(s: Session, now: float) -> None:
    if s._sm_offered:
        s._advance("enable")
        s._now_write(wire.sm_enable(s.config.resume_max), now)
        return
    go_online(s, now, resumed=False)


# ---------------------------------------------------------------- XEP-0198
def on_sm_enabled(s: Session, el: Element, now: float) -> None:
    s.sm.start(
        el.get("id"),
        el.get("resume") in ("true", "1"),
        el.get("location"),
        wire.digits(el.get("max")),
    )
    go_online(s, now, resumed=False)


def on_sm_failed(s: Session, el: Element, now: float) -> None:
    if s.state is State.SM_RESUME:
        h = el.get("h")
        if h is not None:
            sm_driver.apply_ack(s, h, now)
            if s._in(State.DISCONNECTED):
                return
        sm_driver.requeue_after_lost_session(s)
        bind(s, now)
        return
    # <enable/> refused: go on without stream management
    s.sm.forget()
    go_online(s, now, resumed=False)


def on_sm_resumed(s: Session, el: Element, now: float) -> None:
    sm_driver.apply_ack(s, el.get("h") or "", now)
    if s._in(State.DISCONNECTED):
        return
    s._advance("online")
    s._negotiation_deadline = None
    if s._csi_offered and s.config.csi_inactive:
        # XEP-0352 (0.2.1): the CSI state does not survive resumption;
        # without this the server would hold what it should deliver
        s._now_write(wire.INACTIVE, now)
    for data in list(s.sm.unacked):
        s._now_write(data, now)  # already counted in h_out
    if s.sm.unacked:
        sm_driver.request_ack(s, now)
    s._emit(Online(s.jid or s.config.jid, resumed=True, stream_management=True))
    sm_driver.flush_pending(s, now)


def go_online(s: Session, now: float, resumed: bool) -> None:
    s._advance("online")
    s._negotiation_deadline = None
    if s._csi_offered and s.config.csi_inactive:
        s._now_write(wire.INACTIVE, now)
    assert s.jid is not None
    s._emit(Online(s.jid, resumed=resumed, stream_management=s.sm.enabled))
    sm_driver.flush_pending(s, now)

"""How a stream ends: the server's stream error or ``</stream:stream>``,
input a state does not expect, and stanzas the parser skipped over its
limits (never worth the connection).  Loaded when one of these first
happens: a session that logs in and stays online never runs this.  The
session's own ways to stop (:func:`fail_remote`, :func:`fail_local`) are
in :mod:`.fail` and importable from here as before."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stanzalink import ns
from stanzalink.jid import JID, InvalidJID
from stanzalink.session import wire
from stanzalink.session.events import Closed, Retry
from stanzalink.session.fail import fail_local, fail_remote
from stanzalink.session.machine import STANZA_STATES, STANZA_TAGS, State
from stanzalink.xml import Element, StanzaSkipped

if TYPE_CHECKING:
    from stanzalink.session.core import Session

__all__ = [
    "SKIP_REASONS",
    "TRANSIENT_CONDITIONS",
    "fail_local",
    "fail_remote",
    "on_skipped",
    "on_stream_close",
    "on_stream_error",
    "unexpected",
]

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name

_Q = ns.q
TRANSIENT_CONDITIONS = frozenset(
    {
        "connection-timeout",
        "internal-server-error",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "undefined-condition",
        "not-well-formed",
        "policy-violation",
    }
)
SKIP_REASONS = {
    "max_stanza_bytes": "larger than {} bytes",
    "max_depth": "elements nested deeper than {}",
    "max_attrs": "more than {} attributes on an element",
    "max_name_len": "a name longer than {} bytes",
}


def on_skipped(s: Session, ev: StanzaSkipped, now: float) -> None:
    """The parser dropped a stanza over its limits (depth, attributes,
    name length, bytes) and read on.  Anyone can send one (any account,
    through the server; stored offline, it comes again at every login),
    so it must never cost the connection: it counts for XEP-0198 like
    any stanza handled, an IQ request gets an error, and it is logged
    once a minute per sender.  Over-limit elements while negotiating, or
    nonzas, can only come from the server itself: a stream error."""
    what = SKIP_REASONS.get(ev.limit, ev.limit + " {}").format(ev.value)
    if s.state not in STANZA_STATES or (ev.tag and ev.tag not in STANZA_TAGS):
        fail_remote(s, "policy-violation", f"the server sent {ev.tag or 'an element'}: {what}", now)
        return
    if s.sm.enabled:
        s.sm.received()
    s.skipped += 1
    sender = ev.attrib.get("from")
    try:
        key = str(JID.parse(sender).bare) if sender else "(server)"
    except InvalidJID:
        key = sender[:256] if sender else "(server)"
    kind = (ev.tag or "{}stanza").split("}", 1)[1]
    from stanzalink.logsafe import escape_controls  # loaded for the first skipped stanza

    s._skip_log.log(
        key,
        logging.WARNING,
        "skipped a %s from %s: %s (bytes %d-%d of the stream)",
        kind,
        escape_controls((sender or "the server")[:256]),
        what,
        ev.offset,
        ev.end,
        now=now,
    )
    if ev.tag == _Q(ns.CLIENT, "iq") and ev.attrib.get("type") in ("get", "set"):
        reply = wire.over_limits_error(ev.attrib, sender, what)
        if s.queued < s.config.max_unacked // 2:  # errors never fill the queue
            s.send(reply, now)


def unexpected(s: Session, key: str, now: float) -> None:
    if s.state in (State.ONLINE, State.SM_ENABLE) and key.startswith("{jabber:client}"):
        cond = "unsupported-stanza-type"
    elif key == "open":
        cond = "not-well-formed"
    else:
        cond = "unsupported-stanza-type"
    fail_remote(s, cond, f"unexpected {key} in state {s.state.name}", now)


def on_stream_close(s: Session, now: float) -> None:
    if s.state is State.CLOSING:
        s._to_disconnected()
        return
    s._write(wire.CLOSE)
    s._to_disconnected()
    s._emit(
        Closed(
            "reset",
            "the server closed the stream",
            Retry.BACKOFF,
            by_peer=True,
            resume_location=s.sm.location if s.sm.resumable else None,
        )
    )


def on_stream_error(s: Session, el: Element, now: float) -> None:
    """The server ended the stream.  No condition ends the client for good:
    before TLS anyone on the path can write one (no certificate proves who
    sent it), so every one is transient there, a redirect is ignored and
    the stream-management session is kept; after TLS a refusal
    (``conflict``, ``not-authorized``...) retries slowly."""
    condition = "undefined-condition"
    text = ""
    redirect = None
    for child in el:
        if child.tag == _Q(ns.STREAMS_ERR, "text"):
            text = (child.text or "")[:200]
        elif child.tag.startswith("{" + ns.STREAMS_ERR + "}"):
            condition = child.tag.split("}", 1)[1][:64]
            if condition == "see-other-host":
                redirect = (child.text or "").strip()[:300] or None
    trusted = s.tls is not None
    if not trusted:
        retry = Retry.BACKOFF
        redirect = None
    elif condition in ("system-shutdown", "see-other-host"):
        retry = Retry.NOW
    elif condition in TRANSIENT_CONDITIONS:
        retry = Retry.BACKOFF
    else:
        retry = Retry.SLOW
    if trusted and condition in ("conflict", "not-authorized", "see-other-host"):
        s.sm.forget()
    s._write(wire.CLOSE)
    s._to_disconnected()
    message = f"the server ended the stream: {condition}" + (f" ({text})" if text else "")
    if not trusted:
        message += " (before TLS: not trusted, retrying)"
    elif condition == "conflict":
        resource = s.jid.resource if s.jid is not None else s.config.resource
        message = (
            f"another client took resource {resource or '(server-assigned)'} of "
            f"{s.config.jid.bare}" + (f" ({text})" if text else "")
        )
        log.error("%s: retrying slowly", message)
    s._emit(
        Closed(
            condition,
            message,
            retry,
            by_peer=True,
            redirect=redirect,
            resume_location=s.sm.location if s.sm.resumable else None,
        )
    )

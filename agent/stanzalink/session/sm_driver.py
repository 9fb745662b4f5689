"""XEP-0198 accounting on the wire: every stanza sent is counted and kept
until acknowledged, ``<r/>`` goes out after ``ack_every`` stanzas or
``ack_delay`` seconds, the server's ``<r/>`` is answered and its ``<a/>``
applied.  The bookkeeping itself is :mod:`.sm`; enabling and resuming are
part of negotiation (:mod:`.negotiation`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stanzalink.errors import RemoteProtocolError
from stanzalink.session import wire
from stanzalink.session.fail import fail_remote
from stanzalink.session.sm import MOD
from stanzalink.xml import Element

if TYPE_CHECKING:
    from stanzalink.session.core import Session


def send_bytes(s: Session, data: bytes, now: float) -> None:
    """A stanza on the wire, counted (and kept) when stream management is on."""
    s._now_write(data, now)
    if s.sm.enabled:
        s.sm.sent(data)
        unrequested = (s.sm.h_out - s.sm.requested_at) % MOD
        if unrequested >= s.config.ack_every:
            request_ack(s, now)
        elif s._ack_due is None:
            s._ack_due = now + s.config.ack_delay


def request_ack(s: Session, now: float) -> None:
    s._now_write(wire.SM_R, now)
    s.sm.requested_at = s.sm.h_out
    s._ack_due = None


def flush_pending(s: Session, now: float) -> None:
    """Online: what the application sent meanwhile goes out."""
    pending, s._pending_out = s._pending_out, []
    for data in pending:
        send_bytes(s, data, now)


def requeue_after_lost_session(s: Session) -> None:
    """Resumption failed: the unacknowledged stanzas go out again, first."""
    s._pending_out[:0] = s.sm.take_unacked()
    s.sm.forget()


def apply_ack(s: Session, h_text: str, now: float) -> None:
    h = wire.digits(h_text)
    if h is None:
        fail_remote(s, "bad-format", f"stream management h={h_text!r}", now)
        return
    try:
        s.sm.ack(h)
    except RemoteProtocolError as exc:
        fail_remote(s, exc.condition, exc.message, now)


def on_r(s: Session, el: Element, now: float) -> None:
    if s.sm.enabled:
        s._now_write(wire.sm_a(s.sm.h_in), now)


def on_a(s: Session, el: Element, now: float) -> None:
    apply_ack(s, el.get("h") or "", now)

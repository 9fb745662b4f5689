"""The session's two ways to stop itself: a fault of the server's
(:func:`fail_remote`: a stream error of ours) and a reason of our own
(:func:`fail_local`).  Every step of the login may need them; the rest of
how a stream ends is :mod:`.stream_errors`, loaded when first needed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stanzalink.session import wire
from stanzalink.session.events import Closed, Retry

if TYPE_CHECKING:
    from stanzalink.session.core import Session

log = logging.getLogger("stanzalink.session.core")  # the session logs under one name


def fail_remote(s: Session, condition: str, text: str, now: float) -> None:
    """The server broke the protocol: send a stream error and close."""
    log.warning("stream error %s: %s", condition, text)
    s._write(wire.stream_error(condition))
    s._to_disconnected()
    s._emit(Closed(condition, text, Retry.BACKOFF, by_peer=True))


def fail_local(
    s: Session, condition: str, text: str, now: float, retry: Retry = Retry.BACKOFF
) -> None:
    """We cannot go on (policy, credentials): close without blaming the server."""
    log.warning("%s: %s", condition, text)
    s._write(wire.CLOSE)
    s._to_disconnected()
    s._emit(Closed(condition, text, retry, by_peer=False))

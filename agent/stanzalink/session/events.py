"""Events the sans-IO session core hands to its adapter and application."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stanzalink.jid import JID
from stanzalink.session.sasl import ScramKeys
from stanzalink.xml.element import Element


class Retry(Enum):
    """How soon the adapter should reconnect after a connection ended."""

    NOW = "now"  # the server restarted cleanly, or told us where to go
    BACKOFF = "backoff"  # a transient fault: exponential backoff with jitter
    SLOW = "slow"  # credentials or configuration refused: long, capped backoff
    NEVER = "never"  # the application closed the session, or was replaced


@dataclass(frozen=True, slots=True)
class StartTLS:
    """The server said <proceed/>: upgrade the transport to TLS now, then call
    ``Session.tls_started()``.  No byte may be written until then."""


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The SASL login succeeded.  ``gs2_flag`` is SCRAM's channel-binding
    flag as sent (``n``, ``y`` or ``p=<type>``; empty for other mechanisms)."""

    mechanism: str
    gs2_flag: str = ""


@dataclass(frozen=True, slots=True)
class ScramKeysUpdated:
    """The SCRAM keys the session holds changed (learned at a login with the
    password, dropped after a refusal or a password change): all of them,
    by hash, for the adapter to store when configured to."""

    keys: dict[str, ScramKeys]


@dataclass(frozen=True, slots=True)
class Registered:
    """The account was created in-band (XEP-0077)."""

    username: str


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The server accepted the new password (XEP-0077 §3.3); the session's
    config now holds it, so reconnects log in with it."""


@dataclass(frozen=True, slots=True)
class PasswordChangeFailed:
    """The server refused the password change; the old password stays.
    ``condition`` is the stanza-error condition, ``text`` says why."""

    condition: str
    text: str


@dataclass(frozen=True, slots=True)
class Online:
    """The session can carry stanzas.  ``resumed``: stream management resumed
    the previous session (nothing was lost, presence is still set)."""

    jid: JID
    resumed: bool
    stream_management: bool


@dataclass(frozen=True, slots=True)
class StanzaReceived:
    """A message, presence or IQ for the application."""

    stanza: Element


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is over: the adapter closes the transport.

    ``condition`` is the RFC 6120 stream-error condition (sent or received)
    or a local reason such as ``connection-timeout``; ``text`` says what
    happened in words a person can act on.  ``by_peer`` tells whose fault.
    ``redirect`` is a see-other-host target ("host" or "host:port").
    """

    condition: str | None
    text: str
    retry: Retry
    by_peer: bool
    redirect: str | None = None
    resume_location: str | None = None

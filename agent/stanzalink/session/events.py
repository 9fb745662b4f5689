"""Events the sans-IO session core hands to its adapter and application.

The events of the two rare account operations of XEP-0077 (in-band
registration and the password change: ``Registered``, ``PasswordChanged``,
``PasswordChangeFailed``) are importable from here as well; they live in
:mod:`.account_events`, which loads with those operations (or when one of
them is first asked for here), so an idle session never holds them."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from stanzalink._value import Value, _set
from stanzalink.jid import JID
from stanzalink.session.sasl import ScramKeys
from stanzalink.xml.element import Element

if TYPE_CHECKING:
    from stanzalink.session.account_events import PasswordChanged as PasswordChanged
    from stanzalink.session.account_events import PasswordChangeFailed as PasswordChangeFailed
    from stanzalink.session.account_events import Registered as Registered


class Retry(Enum):
    """How soon the adapter should reconnect after a connection ended."""

    NOW = "now"  # the server restarted cleanly, or told us where to go
    BACKOFF = "backoff"  # a transient fault: exponential backoff with jitter
    SLOW = "slow"  # credentials or configuration refused: long, capped backoff
    NEVER = "never"  # the application closed the session (nothing the server sends gives this)


class StartTLS(Value):
    """The server said <proceed/>: upgrade the transport to TLS now, then call
    ``Session.tls_started()``.  No byte may be written until then."""

    __slots__ = ()


class Authenticated(Value):
    """The SASL login succeeded.  ``gs2_flag`` is SCRAM's channel-binding
    flag as sent (``n``, ``y`` or ``p=<type>``; empty for other mechanisms)."""

    __slots__ = (
        "gs2_flag",
        "mechanism",
    )

    mechanism: str
    gs2_flag: str

    def __init__(self, mechanism: str, gs2_flag: str = "") -> None:
        _set(self, "mechanism", mechanism)
        _set(self, "gs2_flag", gs2_flag)


class ScramKeysUpdated(Value):
    """The SCRAM keys the session holds changed (learned at a login with the
    password, dropped after a refusal or a password change): all of them,
    by hash, for the adapter to store when configured to."""

    __slots__ = ("keys",)

    keys: dict[str, ScramKeys]

    def __init__(self, keys: dict[str, ScramKeys]) -> None:
        _set(self, "keys", keys)


class Online(Value):
    """The session can carry stanzas.  ``resumed``: stream management resumed
    the previous session (nothing was lost, presence is still set)."""

    __slots__ = (
        "jid",
        "resumed",
        "stream_management",
    )

    jid: JID
    resumed: bool
    stream_management: bool

    def __init__(self, jid: JID, resumed: bool, stream_management: bool) -> None:
        _set(self, "jid", jid)
        _set(self, "resumed", resumed)
        _set(self, "stream_management", stream_management)


class StanzaReceived(Value):
    """A message, presence or IQ for the application."""

    __slots__ = ("stanza",)

    stanza: Element

    def __init__(self, stanza: Element) -> None:
        _set(self, "stanza", stanza)


class Closed(Value):
    """The connection is over: the adapter closes the transport.

    ``condition`` is the RFC 6120 stream-error condition (sent or received)
    or a local reason such as ``connection-timeout``; ``text`` says what
    happened in words a person can act on.  ``by_peer`` tells whose fault.
    ``redirect`` is a see-other-host target ("host" or "host:port").
    """

    __slots__ = (
        "by_peer",
        "condition",
        "redirect",
        "resume_location",
        "retry",
        "text",
    )

    condition: str | None
    text: str
    retry: Retry
    by_peer: bool
    redirect: str | None
    resume_location: str | None

    def __init__(
        self,
        condition: str | None,
        text: str,
        retry: Retry,
        by_peer: bool,
        redirect: str | None = None,
        resume_location: str | None = None,
    ) -> None:
        _set(self, "condition", condition)
        _set(self, "text", text)
        _set(self, "retry", retry)
        _set(self, "by_peer", by_peer)
        _set(self, "redirect", redirect)
        _set(self, "resume_location", resume_location)


def __getattr__(name: str) -> Any:
    # the account operations' events, importable from here as before
    if name in ("Registered", "PasswordChanged", "PasswordChangeFailed"):
        from stanzalink.session import account_events

        return getattr(account_events, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The events of XEP-0077's two rare account operations, in-band
registration (:mod:`.register`) and the password change (:mod:`.password`).
They are importable from :mod:`.events` like every other event; this module
loads only with those operations, so an idle session never holds them."""

from __future__ import annotations

from stanzalink._value import Value, _set


class Registered(Value):
    """The account was created in-band (XEP-0077)."""

    __slots__ = ("username",)

    username: str

    def __init__(self, username: str) -> None:
        _set(self, "username", username)


class PasswordChanged(Value):
    """The server accepted the new password (XEP-0077 §3.3); the session's
    config now holds it, so reconnects log in with it."""

    __slots__ = ()


class PasswordChangeFailed(Value):
    """The server refused the password change; the old password stays.
    ``condition`` is the stanza-error condition, ``text`` says why."""

    __slots__ = (
        "condition",
        "text",
    )

    condition: str
    text: str

    def __init__(self, condition: str, text: str) -> None:
        _set(self, "condition", condition)
        _set(self, "text", text)

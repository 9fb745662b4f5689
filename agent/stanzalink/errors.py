"""Exceptions shared by every layer.

Every error says whose fault it is: :class:`LocalProtocolError` when the
program using stanzalink asked for something impossible, and
:class:`RemoteProtocolError` when the peer broke the protocol; the latter
carries the RFC 6120 condition to send back (or that was received).
"""

from __future__ import annotations


class StanzalinkError(Exception):
    """Base class of every stanzalink exception."""


class LocalProtocolError(StanzalinkError):
    """The caller misused the API (a local bug, never the peer's fault)."""


class RemoteProtocolError(StanzalinkError):
    """The peer broke the protocol.

    ``condition`` is the RFC 6120 condition name (for example
    ``not-well-formed``) that describes the fault.
    """

    def __init__(self, condition: str, message: str) -> None:
        super().__init__(f"{condition}: {message}")
        self.condition = condition
        self.message = message


class StanzaError(StanzalinkError):
    """A stanza-level error (RFC 6120 §8.3): raised by a feature to answer a
    request with ``<error type=...><condition/></error>``, or received in
    answer to one (then ``stanza`` holds the error stanza)."""

    def __init__(
        self,
        condition: str,
        text: str = "",
        etype: str = "cancel",
        stanza: object | None = None,
    ) -> None:
        super().__init__(f"{condition}" + (f": {text}" if text else ""))
        self.condition = condition
        self.text = text
        self.etype = etype
        self.stanza = stanza

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

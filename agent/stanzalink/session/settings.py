"""The session's settings (:class:`SessionConfig`) and what the adapter
tells it about TLS (:class:`TLSInfo`)."""

from __future__ import annotations

from stanzalink._value import Record, Value, _set
from stanzalink.errors import LocalProtocolError
from stanzalink.jid import JID
from stanzalink.session import KEEPALIVE, KEEPALIVE_TIMEOUT
from stanzalink.session.sasl import ScramKeys


class TLSInfo(Value):
    """What the adapter knows about an established TLS layer."""

    __slots__ = ("channel_bindings", "client_certificate", "version")

    version: str  # "TLSv1.2", "TLSv1.3"
    channel_bindings: dict[str, bytes]
    client_certificate: bool

    def __init__(
        self,
        version: str,
        channel_bindings: dict[str, bytes] | None = None,
        client_certificate: bool = False,
    ) -> None:
        _set(self, "version", version)
        _set(self, "channel_bindings", {} if channel_bindings is None else channel_bindings)
        _set(self, "client_certificate", client_certificate)


class SessionConfig(Record):
    """The session's settings (``scram_keys``: SCRAM keys by hash, used when
    the server's salt and iteration count match; learned at each login, see
    session.keystore)."""

    def __init__(
        self,
        jid: JID,
        password: str | None = None,
        resource: str | None = None,
        register: bool = False,
        require_tls: bool = True,
        stream_management: bool = True,
        resume_max: int | None = 600,  # seconds we ask the server to keep the session
        csi_inactive: bool = True,
        keepalive: float = KEEPALIVE,  # seconds without inbound data before we probe
        keepalive_timeout: float | None = None,  # default: KEEPALIVE_TIMEOUT, at most keepalive
        whitespace_keepalive: float | None = None,  # seconds of outbound silence; None: off
        ack_every: int = 8,  # ask for an ack after this many unacknowledged stanzas
        ack_delay: float = 2.0,  # ... or this long after the first one
        max_unacked: int = 1000,
        close_timeout: float = 10.0,
        negotiation_timeout: float = 60.0,
        sasl_mechanisms: frozenset[str] | None = None,  # allowed; None: all we support
        scram_keys: dict[str, ScramKeys] | None = None,
        lang: str = "en",
        parser_limits: dict[str, int] | None = None,
    ) -> None:
        self.jid = jid
        self.password = password
        self.resource = resource
        self.register = register
        self.require_tls = require_tls
        self.stream_management = stream_management
        self.resume_max = resume_max
        self.csi_inactive = csi_inactive
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self.whitespace_keepalive = whitespace_keepalive
        self.ack_every = ack_every
        self.ack_delay = ack_delay
        self.max_unacked = max_unacked
        self.close_timeout = close_timeout
        self.negotiation_timeout = negotiation_timeout
        self.sasl_mechanisms = sasl_mechanisms
        self.scram_keys: dict[str, ScramKeys] = {} if scram_keys is None else scram_keys
        self.lang = lang
        self.parser_limits: dict[str, int] = {} if parser_limits is None else parser_limits
        if self.keepalive <= 0:
            raise LocalProtocolError("keepalive must be a positive number of seconds")

    @property
    def probe_timeout(self) -> float:
        """How long the keepalive probe's answer may take: a hung server is
        noticed within ``keepalive + probe_timeout`` seconds of silence."""
        if self.keepalive_timeout:
            return self.keepalive_timeout
        return min(self.keepalive, KEEPALIVE_TIMEOUT)

"""The XMPP client session (RFC 6120): a sans-IO state machine."""

KEEPALIVE = 300.0  # seconds without inbound data before the session probes the server

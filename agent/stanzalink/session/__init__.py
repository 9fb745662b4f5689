"""The XMPP client session (RFC 6120): a sans-IO state machine."""

"""The XMPP client session (RFC 6120): a sans-IO state machine."""

# The application-level probe (an XEP-0198 <r/>, else an XEP-0199 ping) is
# what notices a hung server (its process stopped while its kernel still
# answers TCP); a dead path is the kernel's TCP keepalive's job (aio.config),
# which costs no TLS record.  So the probe can be rare.
KEEPALIVE = 3600.0  # seconds without inbound data before the session probes the server
KEEPALIVE_TIMEOUT = 120.0  # seconds the probe's answer may take (at most keepalive)

"""stanzalink: an embedded Linux device on XMPP."""

__version__ = "0.1.0"

"""The agent's features, one module per XEP (see :mod:`stanzalink.xep.base`)."""

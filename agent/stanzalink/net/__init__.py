"""Feature I/O, below the features: the sockets of SOCKS5 bytestreams
(:mod:`~stanzalink.net.socks5`, :mod:`~stanzalink.net.s5b`) and the client
of the device's HTTP origin (:mod:`~stanzalink.net.http_origin`).

Nothing here speaks XMPP: these modules import only low layers (``errors``,
``jid``, ``logsafe``, ``xml``), never ``xep/``.  ``agent.py`` hands their
objects to the features that need them, through typed constructor arguments.
"""

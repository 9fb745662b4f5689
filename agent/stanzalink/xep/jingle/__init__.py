"""Jingle (XEP-0166) and what runs on it, one module per XEP:

* :mod:`~stanzalink.xep.jingle.core`: the ``jingle`` feature, which routes
  a peer's actions to its sessions, and
  :mod:`~stanzalink.xep.jingle.session`: one session, and what a transport
  and an application implement (XEP-0166);
* :mod:`~stanzalink.xep.jingle.file_transfer`: file transfer (XEP-0234);
* :mod:`~stanzalink.xep.jingle.ibb`: the In-Band Bytestreams transport (XEP-0261);
* :mod:`~stanzalink.xep.jingle.s5b` (the ``<transport/>`` elements),
  :mod:`~stanzalink.xep.jingle.s5b_negotiation` (one negotiation) and
  :mod:`~stanzalink.xep.jingle.s5b_transport` (the ``jingle-s5b``
  feature): the SOCKS5 transport (XEP-0260), whose dial policy and proxy
  cache are XEP-0065's (:class:`stanzalink.xep.bytestreams.S5BPolicy`).

The core is re-exported here: ``from stanzalink.xep.jingle import Jingle``.
"""

from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.session import NS, Application, JingleSession, Transport, TransportFailed

__all__ = ["NS", "Application", "Jingle", "JingleSession", "Transport", "TransportFailed"]

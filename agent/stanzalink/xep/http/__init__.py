"""XEP-0332 HTTP over XMPP: :mod:`~stanzalink.xep.http.codec` (requests and
responses to and from XML: headers, bodies, chunking rules), shared by the
device's feature :mod:`~stanzalink.xep.http.feature` and the controller's
client :mod:`stanzalink.fleet.http_client`.

The feature is re-exported here: ``from stanzalink.xep.http import Http``.
"""

from stanzalink.xep.http.feature import NS, Http, HttpProblem

__all__ = ["NS", "Http", "HttpProblem"]

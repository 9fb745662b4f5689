"""XEP-0332 HTTP over XMPP: :mod:`~stanzalink.xep.http.codec` (requests and
responses to and from XML: headers, bodies, chunking rules), shared by the
device's feature :mod:`~stanzalink.xep.http.feature` and the controller's
client :mod:`stanzalink.fleet.http_client`; what the feature needs from its
origin is :mod:`~stanzalink.xep.http.origin`.

The feature is re-exported here: ``from stanzalink.xep.http import Http``.
"""

from stanzalink.xep.http.codec import NS, HttpProblem
from stanzalink.xep.http.feature import Http

__all__ = ["NS", "Http", "HttpProblem"]

"""XEP-0332 HTTP over XMPP: :mod:`~stanzalink.xep.http.codec` (requests and
responses to and from XML: headers, bodies, chunking rules), shared by the
device's feature :mod:`~stanzalink.xep.http.feature` and the controller's
client :mod:`stanzalink.fleet.http_client`; what the feature needs from its
origin is :mod:`~stanzalink.xep.http.origin`.

The feature is re-exported here: ``from stanzalink.xep.http import Http``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stanzalink.xep.http.codec import NS, HttpProblem
    from stanzalink.xep.http.feature import Http


def __getattr__(name: str) -> Any:
    # imported when asked for: the agent reads [http]
    # (stanzalink.xep.http.settings) without loading the feature or the codec
    if name == "Http":
        from stanzalink.xep.http.feature import Http

        return Http
    if name in ("NS", "HttpProblem"):
        from stanzalink.xep.http import codec

        return getattr(codec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NS", "Http", "HttpProblem"]

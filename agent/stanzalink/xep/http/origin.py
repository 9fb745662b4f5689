"""What the XEP-0332 feature needs from the device's HTTP origin: an
awaitable call per request (:data:`Origin`) answering an
:class:`OriginResponse`, made by an :class:`OriginFactory` for a URL or a
WSGI application.  :mod:`stanzalink.net.http_origin` supplies them (the
agent passes its ``make_origin`` to the feature's constructor); the feature
never imports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, runtime_checkable


class OriginResponse(Protocol):
    status: int
    reason: str
    headers: list[tuple[str, str]]
    length: int | None
    body: AsyncIterator[bytes]

    async def read(self, limit: int) -> bytes: ...

    def close(self) -> None: ...


Origin = Callable[[str, str, list[tuple[str, str]], bytes], Awaitable[OriginResponse]]


@runtime_checkable
class ClosableOrigin(Protocol):
    """An origin that holds something to release when the feature stops
    (a WSGI application's worker threads)."""

    def close(self) -> None: ...


class OriginFactory(Protocol):
    """Makes the origin of a URL or of a WSGI application, with the feature's
    limits (:func:`stanzalink.net.http_origin.make_origin`)."""

    def __call__(
        self, spec: str | Callable[..., Iterable[bytes]], *, timeout: float, max_response_body: int
    ) -> Origin: ...

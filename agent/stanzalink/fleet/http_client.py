"""XEP-0332 HTTP over XMPP, controller side: ask a device's HTTP service
through an XMPP :class:`~stanzalink.aio.client.Client` (the wire format is
:mod:`stanzalink.xep.http.codec`, the one the device's feature uses).

>>> resp = await request(client, "device1@example.net/agent", "GET", "/api/status")
>>> resp.status, resp.reason, resp.header("Content-Type")
(200, 'OK', 'application/json')
>>> body = await resp.read()            # or: async for part in resp.body_stream

The JID must be the device's full JID: an IQ to a bare JID is answered by
the account's server, not by the device.  Request bodies go inline
(``<text>`` for textual types, else ``<base64>``) up to ``max_inline``
bytes (128 KiB: its base64 fits the 256 KiB stanzas Prosody and the device
accept), above that as chunkedBase64 messages of ``upload_chunk_size``
(up to ``max_upload``).  Response
bodies may come inline (text, base64, xml) or as chunkedBase64 messages;
the chunks are accepted only from the JID the request went to, put back
in ``nr`` order (up to 256 out of order), and bounded by ``max_body``
bytes and ``chunk_timeout`` seconds of silence.  Leaving a stream early
(``aclose``) or hitting a limit sends the device a ``<close streamId/>``
(and a ping, see :meth:`HttpClient._send_close`).  Transport failures
raise :class:`HttpTransportError`; an HTTP error status is a normal :class:`Response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import weakref
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from stanzalink.aio.client import Client, IQError
from stanzalink.errors import LocalProtocolError, StanzalinkError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.http.codec import (
    CHUNK,
    CLOSE,
    DATA,
    NS,
    RESP,
    HttpProblem,
    body_element,
    chunk_element,
    chunked_data,
    close_element,
    header,
    inline_body,
    parse_chunk,
    read_headers,
    request_element,
)
from stanzalink.xml import Element
from stanzalink.xml.builder import E

__all__ = ["HttpClient", "HttpTransportError", "Response", "request"]

log = logging.getLogger(__name__)

MAX_OUT_OF_ORDER = 256
MAX_EARLY = 64


class HttpTransportError(StanzalinkError):
    """The request did not get through, or the response broke off: an IQ
    error from the device or a server, a malformed response, a limit or a
    timeout.  ``condition`` is the stanza error condition when there was one."""

    def __init__(self, message: str, condition: str | None = None) -> None:
        super().__init__(message)
        self.condition = condition


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body_stream: AsyncIterator[bytes]
    version: str = "1.1"
    _stream: _Stream | None = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        """The first value of a header field (case-insensitive)."""
        return header(self.headers, name)

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([part async for part in self.body_stream])

    async def aclose(self) -> None:
        """Stop reading; a chunked stream still running is closed at the device."""
        if self._stream is not None:
            self._stream.abort("closed by the reader")


class _Stream:
    def __init__(self, owner: HttpClient, peer: str, sid: str, limit: int, timeout: float) -> None:
        self.owner, self.peer, self.sid = owner, peer, sid
        self.limit, self.timeout = limit, timeout
        self.parts: dict[int, tuple[bytes, bool]] = {}
        self.next = 0
        self.size = 0
        self.finished = False
        self.error: str | None = None
        self.event = asyncio.Event()

    def feed(self, nr: int, data: bytes, last: bool) -> None:
        if self.finished or nr < self.next or nr in self.parts:
            return  # a duplicate (or late) chunk
        if len(self.parts) >= MAX_OUT_OF_ORDER:
            self.abort(f"more than {MAX_OUT_OF_ORDER} chunks out of order")
            return
        self.size += len(data)
        if self.size > self.limit:
            self.abort(f"the body exceeds {self.limit} bytes")
            return
        self.parts[nr] = (data, last)
        self.event.set()

    def broken_off(self) -> None:
        self.error = "the device broke off the response"
        self._finish()

    def abort(self, why: str) -> None:
        if self.finished:
            return
        self.error = self.error or why
        self.owner._send_close(self.peer, self.sid)
        self._finish()

    def _finish(self) -> None:
        self.finished = True
        self.parts.clear()
        self.owner._streams.pop((self.peer, self.sid), None)
        self.event.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while True:
                if self.next in self.parts:
                    data, last = self.parts.pop(self.next)
                    self.next += 1
                    if last:
                        self._finish()
                    if data:
                        yield data
                    if last:
                        return
                    continue
                if self.finished:
                    raise HttpTransportError(self.error or "the response stream ended early")
                self.event.clear()
                try:
                    await asyncio.wait_for(self.event.wait(), self.timeout)
                except TimeoutError:
                    self.abort(f"no chunk for {self.timeout:g} s")
        finally:
            if not self.finished:
                self.abort("the reader stopped")


async def _inline(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


class HttpClient:
    """XEP-0332 requests over one client (one per client: :func:`for_client`)."""

    def __init__(
        self,
        client: Client,
        *,
        timeout: float = 60.0,
        chunk_timeout: float = 30.0,
        max_body: int = 16 << 20,
        max_inline: int = 131072,
        max_upload: int = 16 << 20,
        upload_chunk_size: int = 4096,
        max_streams: int = 32,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.chunk_timeout = chunk_timeout
        self.max_body = max_body
        self.max_inline = max_inline
        self.max_upload = max_upload
        self.upload_chunk_size = upload_chunk_size
        self.max_streams = max_streams
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._waiting: dict[str, int] = {}  # peers with a request out: their early chunks are kept
        self._early: dict[tuple[str, str], list[tuple[int, bytes, bool]]] = {}
        client.on_message(self._on_message)
        if client.config.csi_inactive:
            log.warning(
                "XEP-0332 client on a session that tells its server it is inactive "
                "(XEP-0352): servers hold back body-less messages such as response "
                "chunks; use csi_inactive=False for a controller"
            )

    async def request(
        self,
        jid: str | JID,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        body: bytes = b"",
        *,
        timeout: float | None = None,
        max_chunk_size: int | None = None,
    ) -> Response:
        try:
            peer = JID.parse(str(jid))
        except InvalidJID as exc:
            raise LocalProtocolError(f"not a JID: {jid!r}: {exc}") from None
        if len(body) > self.max_upload:
            raise LocalProtocolError(
                f"a request body of {len(body)} bytes is over max_upload ({self.max_upload})"
            )
        upload = os.urandom(9).hex() if len(body) > self.max_inline else None
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        if upload is not None:
            data: ET.Element | None = chunked_data(upload)
        else:
            data = body_element(body, header(pairs, "content-type"))
        req = request_element(method, path, pairs, data, max_chunk_size)
        iq = E("{jabber:client}iq", {"type": "set", "to": str(peer)}, req)
        key = str(peer)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            try:
                answer = asyncio.ensure_future(self.client.iq(iq, timeout or self.timeout))
                if upload is not None:
                    try:
                        for _ in range(100):  # the request goes out first: iq() gives it an id
                            await asyncio.sleep(0)
                            if iq.get("id") or answer.done():
                                break
                        await self._send_body(key, upload, body, answer)
                    except BaseException:
                        answer.cancel()
                        raise
                reply = await answer
            except IQError as exc:
                hint = " (is the JID the device's full JID?)" if peer.resource is None else ""
                raise HttpTransportError(
                    f"{peer} refused the request: {exc.condition}{hint}", exc.condition
                ) from None
            except TimeoutError:
                raise HttpTransportError(f"{peer} did not answer in time", None) from None
            return self._response(key, reply)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                for k in [k for k in self._early if k[0] == key]:
                    del self._early[k]

    async def _send_body(
        self, peer: str, sid: str, body: bytes, answer: asyncio.Future[Element]
    ) -> None:
        """A chunkedBase64 request body, after the request; stops when the
        answer comes first (a 413, a refusal).  A ping follows: servers hold
        body-less messages for a CSI-inactive device until an IQ arrives."""
        size = self.upload_chunk_size
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        for nr, piece in enumerate(pieces):
            last = nr == len(pieces) - 1
            msg = E("{jabber:client}message", {"to": peer}, chunk_element(sid, nr, piece, last))
            while not answer.done():
                try:
                    self.client.send(msg)
                    break
                except LocalProtocolError:  # the bounded outbound queue is full
                    await asyncio.sleep(0.05)
            if answer.done():
                return
            await asyncio.sleep(0)
        ping = {"type": "get", "to": peer, "id": "flush-" + sid}
        self.client.send(E("{jabber:client}iq", ping, E("{urn:xmpp:ping}ping")))

    def _response(self, peer: str, reply: Element) -> Response:
        resp = reply.find(RESP)
        code = resp.get("statusCode") if resp is not None else None
        if resp is None or code is None or not re.fullmatch(r"[0-9]{3}", code):
            raise HttpTransportError(f"{peer} answered without a valid <resp/>")
        try:
            headers = read_headers(resp)
            data = resp.find(DATA)
            inline = inline_body(data, self.max_body) if data is not None else b""
        except HttpProblem as exc:
            raise HttpTransportError(f"{peer}: {exc}") from None
        stream: _Stream | None = None
        if inline is None:
            assert data is not None
            chunked = data.find(f"{{{NS}}}chunkedBase64")
            sid = chunked.get("streamId") if chunked is not None else None
            if not sid:
                kind = next(iter(data)).tag
                raise HttpTransportError(f"{peer} sent the body as {kind}, which is not supported")
            if len(self._streams) >= self.max_streams:
                self._send_close(peer, sid)
                raise HttpTransportError(f"more than {self.max_streams} response streams open")
            stream = _Stream(self, peer, sid, self.max_body, self.chunk_timeout)
            self._streams[(peer, sid)] = stream
            for nr, part, last in self._early.pop((peer, sid), []):
                stream.feed(nr, part, last)
            body_stream = stream.__aiter__()
        else:
            body_stream = _inline(inline)
        return Response(
            int(code), resp.get("statusMessage") or "", headers, body_stream,
            resp.get("version") or "1.1", stream,
        )  # fmt: skip

    def _on_message(self, msg: Element) -> None:
        chunk = msg.find(CHUNK)
        close = msg.find(CLOSE) if chunk is None else None
        if chunk is None and close is None:
            return
        try:
            peer = str(JID.parse(msg.get("from") or ""))
        except InvalidJID:
            return
        el = chunk if chunk is not None else close
        assert el is not None
        sid = el.get("streamId") or ""
        stream = self._streams.get((peer, sid))
        if close is not None:
            if stream is not None:
                stream.broken_off()
            return
        assert chunk is not None
        nr, part, last = parse_chunk(chunk)
        if nr is None:  # not 1-9 ASCII digits (int() takes "²" and 5000 digits)
            return
        if part is None:
            if stream is not None:
                stream.abort("a chunk is not valid base64")
            return
        if stream is not None:
            stream.feed(nr, part, last)
        elif peer in self._waiting and sum(len(v) for v in self._early.values()) < MAX_EARLY:
            # a chunk before its response (a server that reorders): kept, bounded
            self._early.setdefault((peer, sid), []).append((nr, part, last))

    def _send_close(self, peer: str, sid: str) -> None:
        """``<close/>``, then a ping: a server holds body-less messages for a
        CSI-inactive device (as devices are by default) until an IQ comes."""
        with contextlib.suppress(StanzalinkError):
            self.client.send(E("{jabber:client}message", {"to": peer}, close_element(sid)))
            ping = {"type": "get", "to": peer, "id": "close-" + sid[:40]}
            self.client.send(E("{jabber:client}iq", ping, E("{urn:xmpp:ping}ping")))


_clients: weakref.WeakKeyDictionary[Client, HttpClient] = weakref.WeakKeyDictionary()


def for_client(client: Client, **limits: float) -> HttpClient:
    """The client's :class:`HttpClient` (created on first use with ``limits``)."""
    http = _clients.get(client)
    if http is None:
        http = _clients[client] = HttpClient(client, **limits)  # type: ignore[arg-type]
    return http


async def request(
    client: Client,
    jid: str | JID,
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
    body: bytes = b"",
    **kw: float,
) -> Response:
    """One XEP-0332 request through ``client`` (see :meth:`HttpClient.request`)."""
    return await for_client(client).request(jid, method, path, headers, body, **kw)  # type: ignore[arg-type]

"""XEP-0332 HTTP over XMPP transport, device side (the wire format is
:mod:`stanzalink.xep.http.codec`, shared with the controller): controllers send
``<req xmlns='urn:xmpp:http' method resource version>`` in an IQ set; the
device forwards it to its local origin (``[http] origin`` or a WSGI
application) and answers with ``<resp statusCode statusMessage version>``.

Headers travel as XEP-0131 ``<headers xmlns='http://jabber.org/protocol/shim'>``.
Bodies travel as ``<data>`` with ``<text>`` (textual types that are valid
XML text), ``<base64>``, or, above ``chunk_size`` bytes,
``<chunkedBase64 streamId>`` followed by ``<chunk streamId nr [last]>``
messages; the requester stops a stream with ``<close streamId>``.
Requests may carry ``<text>``, ``<base64>``, ``<xml>`` or ``<chunkedBase64>``
bodies (chunks that overtake their request are kept, bounded).

Access: every path needs the role of the longest ``paths`` prefix that
matches (case-sensitive, and again case-folded, with repeated slashes
merged and ``;parameters`` dropped: the strictest wins), else operator.
A controller whose role is too low gets ``service-unavailable``, the
answer a stranger or an unserved payload gets: nothing tells it whether
the path exists.  The origin learns who asks from the headers
``X-Stanzalink-From`` and ``X-Stanzalink-Role`` (a requester's own
values for them are dropped).

Hop-by-hop fields (Connection and those it names, Keep-Alive, Proxy-*, TE,
Trailer, Transfer-Encoding, Upgrade) are never forwarded either way; Host
and Content-Length of a request are set by the device.  The device answers
itself with 400 (bad target or body), 405 (TRACE), 501 (other methods),
408 (a chunked body that does not arrive within ``timeout``),
413 (body over ``max_request_body``), 431 (too many headers), 502 (origin
unreachable, broken, or body over ``max_response_body``), 504 (origin
slower than ``timeout``); ``resource-constraint`` when ``max_concurrent``
requests are running, or half of them for one account.  See docs/http.md.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import unquote

from stanzalink.access import Role
from stanzalink.errors import LocalProtocolError
from stanzalink.jid import JID, InvalidJID
from stanzalink.xep.base import Context, Feature, IQRoute, StanzaError
from stanzalink.xep.http.codec import (
    CHUNK,
    CLOSE,
    DATA,
    METHODS,
    NS,
    REQ,
    HttpProblem,
    body_element,
    chunk_element,
    chunked_data,
    close_element,
    header,
    inline_body,
    parse_chunk,
    read_headers,
    reason_phrase,
    resp_element,
    without_hop_by_hop,
)
from stanzalink.xep.http.origin import ClosableOrigin, Origin, OriginFactory, OriginResponse
from stanzalink.xep.http.settings import HTTP
from stanzalink.xml import Element
from stanzalink.xml.builder import E

log = logging.getLogger(__name__)

SET_BY_DEVICE = frozenset({"host", "content-length", "x-stanzalink-from", "x-stanzalink-role"})


def local_response(status: int, text: str, extra: Iterable[tuple[str, str]] = ()) -> ET.Element:
    """A response the device makes itself (the origin was not asked or failed)."""
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return resp_element(
        status, reason_phrase(status), [*headers, *extra], body_element(body, "text/plain")
    )


def request_path(resource: str) -> str | None:
    """The percent-decoded path of a request target, or None when the target
    is not origin-form or has what could move it past a prefix check (dot
    segments, encoded slashes or backslashes, NUL, a fragment)."""
    if resource == "*":
        return "*"
    if not resource.startswith("/") or "#" in resource or re.search(r"[\x00-\x20\x7f]", resource):
        return None
    raw = resource.split("?", 1)[0]
    if re.search(r"%(2f|5c|00)", raw, re.I):
        return None
    try:
        path = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        return None
    if "\\" in path or any(seg in (".", "..") for seg in path.split("/")):
        return None
    return path


# ------------------------------------------------------------------ the feature
class Http(Feature):
    name = "http"
    disco_features: ClassVar[tuple[str, ...]] = (NS,)
    config_sections = (HTTP,)

    def __init__(self, ctx: Context, *, origins: OriginFactory | None = None) -> None:
        """``origins`` makes the origin of a URL or a WSGI application
        (agent.py passes :func:`stanzalink.net.http_origin.make_origin`);
        without it nothing is served until :meth:`set_origin`."""
        super().__init__(ctx)
        cfg = HTTP.of(ctx.config)
        self.origin_url: str | None = cfg["origin"]
        self.wsgi_app_spec: str | None = cfg["wsgi_app"]
        self.max_request_body: int = cfg["max_request_body"]
        self.max_response_body: int = cfg["max_response_body"]
        self.timeout: float = cfg["timeout"]
        self.chunk_size: int = cfg["chunk_size"]
        self.max_concurrent: int = cfg["max_concurrent"]
        self.paths: dict[str, Role] = {p: Role.parse(r) for p, r in cfg["paths"].items()}
        self.default_role = self.paths.get("/", Role.OPERATOR)
        self.least_role = min([self.default_role, *self.paths.values()])
        self._factory: OriginFactory | None = None
        self._origin: Origin | None = None
        self._streams: dict[str, tuple[str, asyncio.Task[Any]]] = {}
        self._uploads: dict[tuple[str, str], _Upload] = {}
        self._early: dict[tuple[str, str], list[tuple[float, int, bytes, bool]]] = {}
        self._active = 0
        # one account (all its resources) holds at most half the slots
        self.max_per_account = max(1, self.max_concurrent // 2)
        self._per_account: dict[str, int] = {}
        if not (self.origin_url or self.wsgi_app_spec):
            self.disco_features = ()  # type: ignore[misc]  # nothing to serve: announce nothing
        if origins is not None:
            self._wire(origins)

    def _wire(self, factory: OriginFactory) -> None:
        self._factory = factory
        if self.wsgi_app_spec:
            module, _, attr = self.wsgi_app_spec.partition(":")
            try:
                app = getattr(importlib.import_module(module), attr or "application")
            except (ImportError, AttributeError) as exc:
                raise LocalProtocolError(
                    f"http.wsgi_app: cannot load {self.wsgi_app_spec!r}: {exc}"
                ) from exc
            self.set_wsgi_app(app)
        elif self.origin_url:
            self.set_origin(factory(self.origin_url, **self._limits()))

    def set_origin(self, origin: Origin) -> None:
        """Serve requests from ``origin`` (an awaitable callable, see
        :mod:`stanzalink.net.http_origin`)."""
        self._origin = origin
        if not self.disco_features:
            self.disco_features = (NS,)  # type: ignore[misc]
            self.ctx.update_presence()

    def set_wsgi_app(self, app: Callable[..., Iterable[bytes]]) -> None:
        """Serve requests from a WSGI application the product embeds (run in
        worker threads, with this feature's limits)."""
        if self._factory is None:
            raise LocalProtocolError("the agent has not wired the HTTP feature yet")
        self.set_origin(self._factory(app, **self._limits()))

    def _limits(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "max_response_body": self.max_response_body}

    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("set", REQ, self._serve, self.least_role)]

    def need(self, path: str) -> Role:
        """The role a path needs: the longest matching prefix, compared as is
        and case-folded, and both again with repeated slashes merged and
        ``;parameters`` cut from each segment (what many origins do before
        routing): the strictest of them."""
        merged = "/".join(seg.split(";", 1)[0] for seg in re.sub("/{2,}", "/", path).split("/"))
        best = []
        for p, fold in ((path, False), (path.lower(), True), (merged, False),
                        (merged.lower(), True)):  # fmt: skip
            length, found = -1, self.default_role
            for prefix, role in self.paths.items():
                key = prefix.lower() if fold else prefix
                if p.startswith(key) and len(key) > length:
                    found, length = role, len(key)
            best.append(found)
        return max(best)

    # -- serving a request
    async def _serve(self, iq: Element, role: Role | None) -> ET.Element:
        req = iq.find(REQ)
        assert req is not None
        method, resource, version = req.get("method"), req.get("resource"), req.get("version")
        if not method or resource is None or not re.fullmatch(r"\d\.\d", version or ""):
            raise StanzaError("bad-request", "req needs method, resource and version")
        sender = iq.get("from") or ""
        path = request_path(resource)
        need = self.need(path) if path not in (None, "*") else self.default_role
        role = self.ctx.access.check(sender, need, f"http {method} {path or resource[:60]}")
        if role is None or self._origin is None:
            raise StanzaError("service-unavailable")
        if self._active >= self.max_concurrent:
            raise StanzaError("resource-constraint", "too many HTTP requests at once", "wait")
        account = _account(sender)
        if self._per_account.get(account, 0) >= self.max_per_account:
            raise StanzaError("resource-constraint", "too many HTTP requests of yours", "wait")
        self._active += 1
        self._per_account[account] = self._per_account.get(account, 0) + 1
        streaming = False
        try:
            result, streaming = await self._forward(req, method, resource, path, sender, role)
            return result
        except HttpProblem as p:
            return local_response(p.status, str(p))
        finally:
            if not streaming:
                self._release(sender)

    def _release(self, sender: str) -> None:
        self._active -= 1
        account = _account(sender)
        left = self._per_account.get(account, 1) - 1
        if left > 0:
            self._per_account[account] = left
        else:
            self._per_account.pop(account, None)

    async def _forward(
        self, req: Element, method: str, resource: str, path: str | None, sender: str, role: Role
    ) -> tuple[ET.Element, bool]:
        if path is None:
            raise HttpProblem(400, "the resource must be a path without dot segments")
        if method not in METHODS:
            allow = [("Allow", ", ".join(METHODS))]
            if method == "TRACE":
                return local_response(405, "TRACE is not allowed", allow), False
            return local_response(501, f"{method} is not implemented", allow), False
        if path == "*" and method != "OPTIONS":
            raise HttpProblem(400, "* is a target for OPTIONS only")
        max_chunk = self.chunk_size
        if req.get("maxChunkSize") is not None:
            try:
                asked = int(req.get("maxChunkSize"))
            except ValueError:
                asked = 0
            if not 256 <= asked <= 65536:
                raise StanzaError("bad-request", "maxChunkSize must be 256..65536")
            max_chunk = min(max_chunk, asked)
        headers = read_headers(req)
        data = req.find(DATA)
        body = inline_body(data, self.max_request_body) if data is not None else b""
        if body is None:
            assert data is not None
            chunked = data.find(f"{{{NS}}}chunkedBase64")
            if chunked is None or not chunked.get("streamId"):
                raise HttpProblem(501, "request bodies: text, base64, xml or chunkedBase64")
            body = await self._upload(sender, chunked.get("streamId") or "")
        # "X_Stanzalink_From" would reach a WSGI or CGI-style origin as the
        # same variable as the device's own field: underscores count as dashes
        fwd = [
            (k, v)
            for k, v in without_hop_by_hop(headers)
            if k.lower().replace("_", "-") not in SET_BY_DEVICE
        ]
        fwd += [("X-Stanzalink-From", sender), ("X-Stanzalink-Role", str(role))]
        if any(
            not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", k) or "\n" in v or "\r" in v
            for k, v in fwd
        ):
            raise HttpProblem(400, "invalid header field")
        clock = self.ctx.clock
        deadline = clock.now() + self.timeout
        assert self._origin is not None
        try:
            resp = await clock.wait_for(self._origin(method, resource, fwd, body), self.timeout)
        except TimeoutError:
            log.warning("http %s %s: the origin did not answer in %s s", method, path, self.timeout)
            raise HttpProblem(504, f"the origin did not answer within {self.timeout:g} s") from None
        except OverflowError:
            raise HttpProblem(
                502, f"the response is larger than {self.max_response_body} bytes"
            ) from None
        except Exception as exc:
            log.warning("http %s %s: origin failed: %s", method, path, exc)
            raise HttpProblem(
                502, "the origin could not be reached or gave no valid answer"
            ) from None
        out = without_hop_by_hop(resp.headers)
        ctype = header(out, "content-type")
        if method == "HEAD" or resp.length == 0:
            resp.close()
            return resp_element(resp.status, resp.reason, out, None), False
        if resp.length is not None and resp.length > self.max_response_body:
            resp.close()
            raise HttpProblem(502, f"the response is larger than {self.max_response_body} bytes")
        source: AsyncIterator[bytes] = resp.body
        if resp.length is None or resp.length <= max_chunk:
            # unknown length: collected (bounded) so that too much is still a 502
            try:
                body = await clock.wait_for(
                    resp.read(self.max_response_body), max(0.0, deadline - clock.now())
                )
            except TimeoutError:
                resp.close()
                raise HttpProblem(
                    504, f"the origin did not answer within {self.timeout:g} s"
                ) from None
            except OverflowError:
                raise HttpProblem(
                    502, f"the response is larger than {self.max_response_body} bytes"
                ) from None
            except Exception as exc:
                log.warning("http %s %s: origin failed: %s", method, path, exc)
                raise HttpProblem(502, "the origin broke off the response") from None
            if len(body) <= max_chunk:
                return resp_element(resp.status, resp.reason, out, body_element(body, ctype)), False
            source = _one(body)
        sid = os.urandom(9).hex()
        task = self.ctx.spawn(
            self._pump(sid, sender, source, max_chunk, resp), f"http-stream-{sid}"
        )
        self._streams[sid] = (sender, task)
        task.add_done_callback(functools.partial(self._stream_done, sid, sender))
        data_el = chunked_data(sid)
        # the result is sent before the task's first chunk: the IQ reply goes
        # out as soon as this handler returns, before the task first runs
        return resp_element(resp.status, resp.reason, out, data_el), True

    def _stream_done(self, sid: str, sender: str, _task: object = None) -> None:
        self._streams.pop(sid, None)
        self._release(sender)

    async def _pump(
        self, sid: str, to: str, source: AsyncIterator[bytes], size: int, resp: OriginResponse
    ) -> None:
        nr = 0
        pending = b""
        try:
            async for part in source:
                pending += part
                while len(pending) > size:  # keep one piece back: it may be the last
                    await self._send_chunk(sid, to, nr, pending[:size], False)
                    pending, nr = pending[size:], nr + 1
            await self._send_chunk(sid, to, nr, pending, True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("http stream %s to %s broken off: %s", sid, to, exc)
            msg = E("{jabber:client}message", {"to": to}, close_element(sid))
            self._send_soon(msg)
        finally:
            resp.close()

    async def _send_chunk(self, sid: str, to: str, nr: int, data: bytes, last: bool) -> None:
        msg = E("{jabber:client}message", {"to": to}, chunk_element(sid, nr, data, last),
                E("{urn:xmpp:hints}no-store"), E("{urn:xmpp:hints}no-copy"))  # fmt: skip
        deadline = self.ctx.clock.now() + self.timeout
        while True:  # the outbound queue is bounded: wait for room, up to the timeout
            try:
                self.ctx.send(msg)
                return
            except LocalProtocolError:
                if self.ctx.clock.now() > deadline:
                    raise
                await self.ctx.clock.sleep(0.05)

    def _send_soon(self, msg: ET.Element) -> None:
        try:
            self.ctx.send(msg)
        except LocalProtocolError:
            log.warning("http: could not send %s", msg.tag)

    # -- a chunked request body (chunks may overtake their request: kept, bounded)
    async def _upload(self, sender: str, sid: str) -> bytes:
        key = (sender, sid)
        if key in self._uploads:
            raise HttpProblem(400, "this streamId is already in use")
        up = self._uploads[key] = _Upload(self.max_request_body)
        for _, nr, part, last in self._early.pop(key, []):
            up.feed(nr, part, last)
        try:
            await self.ctx.clock.wait_for(up.done.wait(), self.timeout)
        except TimeoutError:
            raise HttpProblem(408, f"the body did not arrive within {self.timeout:g} s") from None
        finally:
            del self._uploads[key]
        if up.problem is not None:
            raise up.problem
        return bytes(up.data)

    def _chunk_in(self, sender: str, chunk: Element) -> None:
        nr, part, last = parse_chunk(chunk)
        if part is None:
            part, nr = b"", None
        key = (sender, chunk.get("streamId") or "")
        up = self._uploads.get(key)
        if up is not None:
            if nr is None:
                up.fail(HttpProblem(400, "a chunk without a valid nr or base64"))
            else:
                up.feed(nr, part, last)
            return
        now = self.ctx.now()
        for k in [k for k, v in self._early.items() if now - v[0][0] > self.timeout]:
            del self._early[k]  # expired
        held = sum(len(v) for v in self._early.values())
        size = sum(len(c[2]) for v in self._early.values() for c in v)
        if nr is not None and held < 64 and size + len(part) <= self.max_request_body:
            self._early.setdefault(key, []).append((now, nr, part, last))

    # -- chunks of request bodies; the requester stops a response stream
    def on_message(self, msg: Element, role: Role) -> bool:
        close = msg.find(CLOSE)
        if close is None:
            chunk = msg.find(CHUNK)
            if chunk is None:
                return False
            if role >= self.least_role:  # one no path admits never uploads a body
                self._chunk_in(msg.get("from") or "", chunk)
            return True
        entry = self._streams.get(close.get("streamId") or "")
        if entry is not None and entry[0] == msg.get("from"):
            entry[1].cancel()
        return True

    async def stop(self) -> None:
        for _, task in list(self._streams.values()):
            task.cancel()
        if isinstance(self._origin, ClosableOrigin):
            self._origin.close()


def _account(sender: str) -> str:
    try:
        return str(JID.parse(sender).bare)
    except InvalidJID:
        return sender


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Upload:
    """A chunkedBase64 request body being put together in ``nr`` order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: dict[int, tuple[bytes, bool]] = {}
        self.next = 0
        self.data = bytearray()
        self.problem: HttpProblem | None = None
        self.done = asyncio.Event()

    def fail(self, problem: HttpProblem) -> None:
        self.problem = problem
        self.parts.clear()
        self.done.set()

    def feed(self, nr: int, part: bytes, last: bool) -> None:
        if self.done.is_set() or nr < self.next or nr in self.parts:
            return  # finished, or a duplicate
        if len(self.parts) >= 256:
            return self.fail(HttpProblem(400, "more than 256 chunks out of order"))
        if len(self.data) + len(part) + sum(len(p) for p, _ in self.parts.values()) > self.limit:
            return self.fail(HttpProblem(413, f"the body is larger than {self.limit} bytes"))
        self.parts[nr] = (part, last)
        while self.next in self.parts:
            part, last = self.parts.pop(self.next)
            self.data += part
            self.next += 1
            if last:
                self.done.set()
                return

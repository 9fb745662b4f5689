"""Where the device's XEP-0332 requests go: a local HTTP/1.1 origin
reached over asyncio streams, or a WSGI application run in worker threads.

Both are *origins*: an awaitable callable

    await origin(method, target, headers, body) -> HTTPResponse

that the :mod:`stanzalink.xep.http.feature` feature calls (it never imports this
module; :func:`make_origin` is handed to it by the agent).  ``target`` is
the request target as the controller sent it (``/path?query``), ``headers``
a list of (name, value) pairs already free of hop-by-hop fields, ``body``
the whole request body.

The HTTP client speaks HTTP/1.1 with ``Connection: close`` (one request per
connection; nothing to keep in step across requests), decodes chunked
transfer coding, honours Content-Length, and bounds everything it reads:
the status line and each header line (8 KiB), the header count (100), the
time to the response head (``timeout``), and each body read (``timeout``).
It raises :class:`OriginError` when the origin cannot be reached or breaks
the protocol, :class:`TimeoutError` when it is too slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["HTTPOrigin", "HTTPResponse", "OriginError", "WSGIOrigin", "make_origin"]

MAX_LINE = 8192
MAX_HEADERS = 100
READ_SIZE = 65536
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NO_BODY_STATUS = (204, 304)


class OriginError(Exception):
    """The origin could not be reached or did not speak HTTP/1.1 (a 502)."""


@dataclass
class HTTPResponse:
    """The origin's answer: status, headers as received, and the body as
    an async iterator of byte strings (``length`` from Content-Length when
    the origin gave one; None when the body ends with the connection or is
    chunked)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    length: int | None
    body: AsyncIterator[bytes]
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    async def read(self, limit: int) -> bytes:
        """The whole body; OverflowError once it exceeds ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for part in self.body:
            size += len(part)
            if size > limit:
                self.close()
                raise OverflowError(f"the response body exceeds {limit} bytes")
            parts.append(part)
        return b"".join(parts)

    def close(self) -> None:
        self._close()


def check_headers(headers: Iterable[tuple[str, str]]) -> None:
    """Refuse names that are not HTTP tokens and values with line breaks
    or control characters (no header injection into the origin request)."""
    for name, value in headers:
        if not _TOKEN.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(f"invalid value for header {name}")


class HTTPOrigin:
    """An HTTP/1.1 origin: ``http://host:port[/base]`` (or ``https://``)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin {url!r}: expected http://host[:port][/base]")
        if parts.query or parts.fragment:
            raise ValueError(f"origin {url!r}: no query or fragment allowed")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.base = parts.path.rstrip("/")
        default_port = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if self.port == default_port else f"{host}:{self.port}"
        self.timeout = timeout

    async def __call__(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> HTTPResponse:
        if not _TOKEN.match(method):
            raise ValueError(f"invalid method {method!r}")
        if (
            (target != "*" and not target.startswith("/"))
            or _BAD_VALUE.search(target)
            or " " in target
        ):
            raise ValueError(f"invalid request target {target!r}")
        check_headers(headers)
        path = self.base + target if target != "*" else target
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return await asyncio.wait_for(self._exchange(method, head, body), self.timeout)

    async def _exchange(self, method: str, head: bytes, body: bytes) -> HTTPResponse:
        ctx = ssl.create_default_context() if self.tls else None
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=ctx, limit=MAX_LINE
            )
        except OSError as exc:
            raise OriginError(f"cannot connect to {self.url}: {exc}") from None
        try:
            writer.write(head + body)
            await writer.drain()
            while True:
                status, reason, headers = await _read_head(reader)
                if not 100 <= status < 200 or status == 101:
                    break  # 1xx interim answers (100 Continue) are skipped
        except BaseException as exc:
            writer.close()
            if isinstance(exc, (OSError, asyncio.IncompleteReadError, ValueError)):
                raise OriginError(f"{self.url}: {exc or type(exc).__name__}") from None
            raise
        if status == 101:
            writer.close()
            raise OriginError(f"{self.url}: the origin switched protocols")
        fields = {k.lower(): v for k, v in headers}
        length: int | None = None
        chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in _NO_BODY_STATUS:
            body_iter = _empty()
            length = 0 if method != "HEAD" else _content_length(fields)
            writer.close()
        elif chunked:
            body_iter = _chunked(reader, writer, self.timeout)
        else:
            length = _content_length(fields)
            body_iter = _sized(reader, writer, length, self.timeout)
        return HTTPResponse(status, reason, headers, length, body_iter, writer.close)


def _content_length(fields: dict[str, str]) -> int | None:
    value = fields.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise OriginError(f"invalid Content-Length {value!r}")
    return int(value)


async def _readline(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise ValueError("a line of the response is too long") from None
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ValueError("the origin closed the connection without answering") from None
        raise ValueError("the response ends in the middle of a line") from None
    return line.rstrip(b"\r\n")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    status_line = (await _readline(reader)).decode("latin-1")
    m = re.match(r"^HTTP/1\.[01] (\d{3})(?: (.*))?$", status_line)
    if m is None:
        raise ValueError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    headers: list[tuple[str, str]] = []
    while True:
        line = (await _readline(reader)).decode("latin-1")
        if not line:
            break
        if len(headers) >= MAX_HEADERS:
            raise ValueError(f"more than {MAX_HEADERS} header fields")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise ValueError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return int(m.group(1)), m.group(2) or "", headers


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _sized(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int | None, timeout: float
) -> AsyncIterator[bytes]:
    try:
        left = length
        while left is None or left > 0:
            n = READ_SIZE if left is None else min(READ_SIZE, left)
            data = await asyncio.wait_for(reader.read(n), timeout)
            if not data:
                if left is not None:
                    raise OriginError(f"the origin closed the connection {left} bytes early")
                return
            if left is not None:
                left -= len(data)
            yield data
    finally:
        writer.close()


async def _chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
) -> AsyncIterator[bytes]:
    try:
        while True:
            try:
                line = await asyncio.wait_for(_readline(reader), timeout)
            except ValueError as exc:
                raise OriginError(str(exc)) from None
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise OriginError(f"invalid chunk size {size_text[:20]!r}") from None
            if size == 0:
                for _ in range(MAX_HEADERS):  # trailer fields: read and dropped
                    if not await asyncio.wait_for(_readline(reader), timeout):
                        return
                raise OriginError("too many trailer fields")
            while size > 0:
                data = await asyncio.wait_for(reader.read(min(size, READ_SIZE)), timeout)
                if not data:
                    raise OriginError("the origin closed the connection inside a chunk")
                size -= len(data)
                yield data
            if await asyncio.wait_for(_readline(reader), timeout) != b"":
                raise OriginError("a chunk does not end with CRLF")
    except ValueError as exc:
        raise OriginError(str(exc)) from None
    finally:
        writer.close()


class WSGIOrigin:
    """A WSGI application (PEP 3333) as the origin, run in a bounded pool of
    worker threads.  The body the application returns is collected in the
    worker up to ``max_response_body`` bytes (then the request fails with
    OverflowError); a call that takes longer than ``timeout`` is answered
    with a timeout while its thread finishes on its own (threads cannot be
    stopped), occupying one of the ``workers`` until it does."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        timeout: float = 30.0,
        max_response_body: int = 4 << 20,
        workers: int = 4,
        server_name: str = "stanzalink",
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.max_response_body = max_response_body
        self.server_name = server_name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stanzalink-wsgi")

    async def __call__(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> HTTPResponse:
        check_headers(headers)
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, self._run, method, target, headers, body)
        status, reason, out_headers, data = await asyncio.wait_for(fut, self.timeout)
        if method == "HEAD":
            data = b""

        async def one() -> AsyncIterator[bytes]:
            if data:
                yield data

        return HTTPResponse(status, reason, out_headers, len(data), one())

    def _run(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        path, _, query = target.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": "0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            if "_" in name:
                continue  # would be taken for the dashed name (PEP 3333 has no way to tell)
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                key = "HTTP_" + key
                environ[key] = environ[key] + "," + value if key in environ else value
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if started and not exc_info:
                raise AssertionError("start_response called twice")
            started[:] = [status, list(response_headers)]
            return written.append

        result = self.app(environ, start_response)
        size = 0
        try:
            for part in result:
                written.append(part)
                size += len(part)
                if size > self.max_response_body:
                    raise OverflowError(f"the response body exceeds {self.max_response_body} bytes")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise OriginError("the WSGI application did not call start_response")
        code, _, reason = str(started[0]).partition(" ")
        if not (code.isdigit() and len(code) == 3):
            raise OriginError(f"the WSGI application gave status {started[0]!r}")
        data = b"".join(written)
        if len(data) > self.max_response_body:
            raise OverflowError(f"the response body exceeds {self.max_response_body} bytes")
        return int(code), reason, started[1], data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pool.shutdown(wait=False, cancel_futures=True)


def make_origin(
    spec: str | Callable[..., Iterable[bytes]], *, timeout: float, max_response_body: int
) -> HTTPOrigin | WSGIOrigin:
    """An origin for a URL (``http://127.0.0.1:8080``) or a WSGI application."""
    if isinstance(spec, str):
        return HTTPOrigin(spec, timeout=timeout)
    return WSGIOrigin(spec, timeout=timeout, max_response_body=max_response_body)

"""A real HTTP/1.1 origin for the XEP-0332 tests: ThreadingHTTPServer on
127.0.0.1, port 0, serving the XEP's own example resources and a few that
test limits (slow, large, chunked, dripping)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TURTLE = (
    "@prefix dc: <http://purl.org/dc/elements/1.1/>.\n@base <http://example.org/>.\n\n"
    '<xep> dc:title "HTTP over XMPP";\n      dc:creator <PeterWaher>;\n      dc:publisher <XSF>.'
)
SPARQL_RESULT = (
    '<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head><variable name="title"/>'
    '<variable name="creator"/></head><results><result><binding name="title"><literal>'
    "HTTP over XMPP</literal></binding></result></results></sparql>"
)


def big(n: int) -> bytes:
    """n bytes that are not text (every byte value, a counter mixed in)."""
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, ctype: str = "text/plain", **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close, X-Hop")
        self.send_header("X-Hop", "hop-by-hop, named by Connection")
        self.send_header("Keep-Alive", "timeout=5")
        for k, v in extra.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, body: bytes) -> None:
        self.server.seen.append(  # type: ignore[attr-defined]
            {"method": self.command, "path": self.path, "headers": list(self.headers.items()),
             "body": body}
        )  # fmt: skip

    def do_GET(self) -> None:
        body = self._body()
        self._record(body)
        path = self.path
        if path == "/rdf/xep":
            self._send(200, TURTLE.encode(), "text/turtle")
        elif path.startswith("/big/"):
            self._send(200, big(int(path[5:])), "application/octet-stream")
        elif path.startswith("/chunked/"):
            data = big(int(path[9:]))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 1000):
                part = data[i : i + 1000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
            self.close_connection = True
        elif path.startswith("/drip/"):
            pieces = int(path[6:])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(pieces * 300))
            self.end_headers()
            for _ in range(pieces):
                self.wfile.write(b"d" * 300)
                self.wfile.flush()
                time.sleep(0.1)
        elif path == "/control":
            self._send(200, b"ok", X_Bad="a\x01b", X_Good="fine")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif path == "/headers":
            self._send(200, json.dumps(list(self.headers.items())).encode(), "application/json")
        elif path.startswith(("/api/", "/admin/", "/ADMIN/")):
            self._send(200, f"content of {path}".encode())
        else:
            self._send(404, b"no such resource", Server="test-origin")

    def do_HEAD(self) -> None:
        self._record(b"")
        if self.path == "/video/video1.m4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", "12345678")
            self.end_headers()
        else:
            self._send(404, b"no such resource")

    def do_POST(self) -> None:
        body = self._body()
        self._record(body)
        if self.path.startswith("/sparql/"):
            self._send(200, SPARQL_RESULT.encode(), "application/sparql-results+xml")
        else:
            self._send(200, body, self.headers.get("Content-Type") or "application/octet-stream")

    def do_PUT(self) -> None:
        self._record(self._body())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PATCH(self) -> None:
        self._record(self._body())
        self.send_response(204)
        self.send_header("Content-Location", self.path)
        self.send_header("ETag", "e0023aa4e")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self) -> None:
        self._record(self._body())
        self._send(403, b"You're not allowed to change the home page!")

    def do_OPTIONS(self) -> None:
        self._record(self._body())
        self.send_response(200)
        self.send_header("Allow", "OPTIONS, GET, HEAD, POST, PUT, DELETE")
        self.send_header("Content-Length", "0")
        self.end_headers()


class Origin:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def seen(self) -> list[dict[str, Any]]:
        return self.server.seen  # type: ignore[attr-defined, no-any-return]


@contextmanager
def running_origin() -> Iterator[Origin]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield Origin(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

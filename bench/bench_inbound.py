"""The full inbound path: socket (or TLS) bytes to parser events.

    python bench/bench_inbound.py            # 20,000 stanzas, best of 5
    python bench/bench_inbound.py --quick    # 2,000 stanzas, best of 2

A sender thread writes the benchmark corpus (bench/corpus.py) over a
loopback TCP connection, plain or TLS; the receiver is an asyncio
BufferedProtocol that hands each read to a StreamParser and counts the
stanzas.  Two receive buffers are timed side by side in one run:

- ``bytearray``: a Python bytearray the transport writes into, parsed
  through a memoryview of it (the receive path before the ring);
- ``ring``: the receive ring of stanzalink.xml.ring (the C ring when the
  native module is built), parsed where the transport wrote it (the client's
  path now).

Per stanza it reports the input bytes the Python side copied between the
transport's buffer and the tokenizer, and the bytes of the packed arena
copied into Python (the one copy per feed; ``sl_tok_pack`` makes the same
amount in C before it).  ``bench/run.py`` runs it and puts the table into
README.md (so does ``--readme`` here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import corpus
from readme import markers
from stanzalink.xml import Element, StreamClose, StreamParser, _native
from stanzalink.xml.ring import receive_buffer

READ_BUFFER = 65536  # the client's default read_buffer
START, END = markers("inbound")


class _Count:
    def __init__(self, parser: StreamParser) -> None:
        self.parser = parser
        self.stanzas = 0
        self.closed = False
        self.input_copied = 0
        self.arena_copied = 0
        impl: Any = parser._impl
        if parser.backend == "native":
            feed = impl._feed

            def counting(data: Any, max_events: int = 0) -> Any:
                packed = feed(data, max_events)
                if packed is not None:
                    self.arena_copied += len(packed[2])
                return packed

            impl._feed = counting
            parser._feed_events = impl.feed_events
        else:
            # the expat backend copies its input into a bytes object first
            feed_events = impl.feed_events

            def copying(data: Any, max_events: int = 0) -> Any:
                self.input_copied += len(data)
                return feed_events(data, max_events)

            parser._feed_events = copying

    def events(self, data: memoryview) -> None:
        for ev in self.parser.feed(data):
            if isinstance(ev, Element):
                self.stanzas += 1
            elif isinstance(ev, StreamClose):
                self.closed = True


class _BytearrayProtocol(asyncio.BufferedProtocol):
    """The receive path before the ring: one bytearray, parsed through a view."""

    def __init__(self, count: _Count, done: asyncio.Future[None]) -> None:
        self.count = count
        self.done = done
        self.view = memoryview(bytearray(READ_BUFFER))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.count.events(self.view[:nbytes])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _RingProtocol(asyncio.BufferedProtocol):
    """The client's receive path: the ring, drained on every read."""

    def __init__(self, count: _Count, done: asyncio.Future[None]) -> None:
        self.count = count
        self.done = done
        self.ring = receive_buffer(READ_BUFFER)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.ring.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        ring = self.ring
        ring.commit(nbytes)
        try:
            while ring.readable:
                view = ring.peek()
                self.count.events(view)
                ring.consume(len(view))
        finally:
            ring.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


PROTOCOLS: dict[str, Callable[[_Count, asyncio.Future[None]], asyncio.BufferedProtocol]] = {
    "bytearray": _BytearrayProtocol,
    "ring": _RingProtocol,
}


def _serve(data: bytes, server_ctx: ssl.SSLContext | None) -> tuple[int, threading.Thread]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    def run() -> None:
        conn, _ = lsock.accept()
        lsock.close()
        if server_ctx is not None:
            conn = server_ctx.wrap_socket(conn, server_side=True)
        with conn:
            conn.sendall(data)
            if server_ctx is not None:
                conn.unwrap()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


async def _one(
    kind: str, backend: str, data: bytes, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None
) -> tuple[float, _Count]:
    loop = asyncio.get_running_loop()
    port, thread = _serve(data, tls[0] if tls else None)
    done: asyncio.Future[None] = loop.create_future()
    count = _Count(StreamParser(backend))
    t0 = time.perf_counter()
    transport, _ = await loop.create_connection(
        lambda: PROTOCOLS[kind](count, done),
        "127.0.0.1",
        port,
        ssl=tls[1] if tls else None,
        server_hostname=corpus.DOMAIN if tls else None,
    )
    await done
    elapsed = time.perf_counter() - t0
    transport.close()
    thread.join()
    return elapsed, count


def _tls_contexts(d: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    from stanzalink_testing.prosody import make_certs

    ca, cert, key = make_certs(d, corpus.DOMAIN)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(ca))
    return server, client


def run(n: int, reps: int) -> dict[str, Any]:
    data = corpus.generate(n)
    backends = ["native", "expat"] if _native.AVAILABLE else ["expat"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tls = _tls_contexts(Path(tmp))
        for transport in ("tcp", "tls"):
            for backend in backends:
                best: dict[str, float] = {}
                counts: dict[str, _Count] = {}
                for _ in range(reps):  # interleaved, so load drifts hit both
                    for kind in PROTOCOLS:
                        elapsed, count = asyncio.run(
                            _one(kind, backend, data, tls if transport == "tls" else None)
                        )
                        if count.stanzas != n or not count.closed:
                            raise RuntimeError(
                                f"{kind}/{backend}/{transport}: {count.stanzas} of {n} stanzas"
                            )
                        best[kind] = min(best.get(kind, elapsed), elapsed)
                        counts[kind] = count
                for kind in PROTOCOLS:
                    c = counts[kind]
                    rows.append(
                        {
                            "transport": transport,
                            "backend": backend,
                            "buffer": kind,
                            "stanzas_per_s": n / best[kind],
                            "input_copied_per_stanza": c.input_copied / n,
                            "arena_copied_per_stanza": c.arena_copied / n,
                        }
                    )
    return {"stanzas": n, "bytes": len(data), "repetitions": reps, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Inbound path, socket bytes to events ({result['stanzas']:,} stanzas, "
        f"{result['bytes'] / 1e6:.1f} MB over loopback, best of {result['repetitions']}; "
        "`python bench/bench_inbound.py`):",
        "",
        "| transport | parser | receive buffer | stanzas/s | input bytes copied / stanza "
        "| arena bytes copied / stanza |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['transport']} | {r['backend']} | {r['buffer']} | "
            f"{r['stanzas_per_s']:,.0f} | {r['input_copied_per_stanza']:.0f} | "
            f"{r['arena_copied_per_stanza']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 stanzas, best of 2")
    ap.add_argument("--stanzas", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--readme", action="store_true", help="put the table into README.md")
    args = ap.parse_args(argv)
    n, reps = (2_000, 2) if args.quick else (args.stanzas, args.reps)
    result = run(n, reps)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.readme:
        from readme import replace_section

        if not replace_section("inbound", markdown(result)):
            print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

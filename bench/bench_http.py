"""HTTP over XMPP (XEP-0332) benchmark: the same requests to the same local
origin, once through Prosody and the device agent, once straight to the
origin, in one run.

- the origin: a ThreadingHTTPServer on 127.0.0.1 in this process, serving
  a small JSON document (/small, 200 bytes) and a binary one (/large,
  64 KiB, which the device sends as chunkedBase64 messages of 4 KiB);
- through XMPP: a device agent (``stanzalink run``, its own process)
  on a throwaway loopback Prosody; this process asks it with the
  stanzalink controller API (``stanzalink.fleet.http_client``);
- direct: this process asks the origin with the HTTP/1.1 client the device
  itself uses (``stanzalink.net.http_origin``), so the difference is what
  XMPP adds (two TLS hops, the server, XML, base64).

Each run is done twice: Prosody as shipped, and with
``network_settings = { nagle = false }``.  Requests are bounded:
``--requests`` sequential ones (latency), the same number 8 at a time
(rate), and ``--large`` sequential large ones.  The device allows one
account half of ``[http] max_concurrent``, so the bench sets that to 16:
8 at a time from the one controller.

Usage: python bench/bench_http.py [--requests 300] [--large 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from configs import account_toml  # noqa: E402
from stanzalink_testing.prosody import Prosody, throwaway_prosody  # noqa: E402

SMALL = json.dumps({"status": "ok", "uptime": 123456, "load": [0.1, 0.2, 0.3],
                    "name": "device1", "pad": "x" * 100}).encode()  # fmt: skip
LARGE = bytes(i % 251 for i in range(65536))
CONCURRENCY = 8
# Prosody as Debian ships it, and with Nagle's algorithm off on its sockets
# (0.12's net.server_epoll leaves it on: a burst of chunk messages then
# waits for the controller's ACKs)
SERVER_SETUPS = [("default", ""), ("nagle_off", "network_settings = { nagle = false }")]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body, ctype = (SMALL, "application/json") if self.path == "/small" else (
            LARGE, "application/octet-stream")  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Origin(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections 8 clients open at once


async def measure(
    call: Callable[[str], Awaitable[bytes]], path: str, n: int, concurrency: int, want: bytes
) -> dict[str, float]:
    latencies: list[float] = []
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            queue.pop()
            t0 = time.perf_counter()
            body = await call(path)
            latencies.append(time.perf_counter() - t0)
            if body != want:
                raise RuntimeError(f"{path}: wrong body ({len(body)} bytes)")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": n,
        "concurrency": concurrency,
        "seconds": round(elapsed, 4),
        "requests_per_s": round(n / elapsed, 1),
        "median_ms": round(statistics.median(latencies) * 1000, 3),
        "p90_ms": round(latencies[int(len(latencies) * 0.9) - 1] * 1000, 3),
    }


async def run(server: Prosody, origin_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.fleet.http_client import HttpClient
    from stanzalink.jid import JID
    from stanzalink.net.http_origin import HTTPOrigin

    device = f"device1@{server.domain}"
    ctl = Client(ClientConfig(
        jid=JID.parse(f"ctl@{server.domain}"), password="ctl-pw", resource="bench",
        host="127.0.0.1", port=server.port, ca_file=str(server.ca), reconnect=False,
        csi_inactive=False,  # an inactive client gets body-less messages (chunks) late
    ))  # fmt: skip
    await ctl.start()
    await ctl.wait_online(30)
    http = HttpClient(ctl, timeout=30, chunk_timeout=30)
    direct = HTTPOrigin(origin_url, timeout=30)

    async def via_xmpp(path: str) -> bytes:
        resp = await http.request(device + "/agent", "GET", path)
        return await resp.read()

    async def via_direct(path: str) -> bytes:
        resp = await direct("GET", path, [], b"")
        return await resp.read(1 << 20)

    # warm up both paths (TLS sessions, imports, the origin's threads)
    for _ in range(10):
        await via_xmpp("/small")
        await via_direct("/small")
    rows: dict[str, Any] = {}
    for name, path, n, conc, want in (
        ("small_sequential", "/small", args.requests, 1, SMALL),
        ("small_concurrent", "/small", args.requests, CONCURRENCY, SMALL),
        ("large_sequential", "/large", args.large, 1, LARGE),
    ):
        x = await measure(via_xmpp, path, n, conc, want)
        d = await measure(via_direct, path, n, conc, want)
        rows[name] = {
            "body_bytes": len(want),
            "xmpp": x,
            "direct": d,
            "rate_ratio_xmpp_to_direct": round(x["requests_per_s"] / d["requests_per_s"], 4),
            "latency_ratio_xmpp_to_direct": round(x["median_ms"] / d["median_ms"], 2),
        }
        print(name, json.dumps(rows[name]), flush=True)
    await ctl.close()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=300, help="small requests per row")
    p.add_argument("--large", type=int, default=30, help="64 KiB requests per row")
    p.add_argument("--chunk-size", type=int, default=4096, help="the device's [http] chunk_size")
    p.add_argument("--json", default=str(ROOT / "bench/results/http.json"))
    args = p.parse_args()
    if not 1 <= args.requests <= 2000 or not 1 <= args.large <= 300:
        p.error("bounded: --requests 1..2000, --large 1..300")
    origin = Origin(("127.0.0.1", 0), Handler)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    origin_url = f"http://127.0.0.1:{origin.server_address[1]}"
    runs: dict[str, Any] = {}
    try:
        for name, extra in SERVER_SETUPS:
            print(f"== prosody {name}", flush=True)
            runs[name] = {"prosody_config": extra, "rows": one_run(origin_url, extra, args)}
    finally:
        origin.shutdown()
    out = {
        "benchmark": "http over xmpp (XEP-0332) vs direct HTTP/1.1 to the same origin",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "setup": {"server": "prosody (loopback, TLS)", "chunk_size": args.chunk_size,
                  "max_concurrent": 2 * CONCURRENCY,
                  "direct_client": "stanzalink.net.http_origin (Connection: close)"},
        "runs": runs,
    }  # fmt: skip
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


def one_run(origin_url: str, extra: str, args: argparse.Namespace) -> Any:
    """A fresh Prosody (with ``extra`` config) and device agent; the rows."""
    with throwaway_prosody(prefix="stanzalink-bench-http-", extra=extra) as server:
        root, ca = server.root, server.ca
        agent = None
        try:
            server.register("device1", "device-pw")
            server.register("ctl", "ctl-pw")
            config = root / "device.toml"
            where = {"domain": server.domain, "port": server.port, "ca": ca}
            config.write_text(
                account_toml(where, "device1", "ctl", password="device-pw", resource="agent")
                + f'[http]\norigin = "{origin_url}"\nchunk_size = {args.chunk_size}\n'
                f"max_concurrent = {2 * CONCURRENCY}\n"
                f'max_response_body = {1 << 20}\n\n[log]\nlevel = "warning"\n'
            )
            env = {**os.environ, "PYTHONPATH": str(ROOT / "agent")}
            agent = subprocess.Popen(
                [sys.executable, "-m", "stanzalink", "run", "--config", str(config)], env=env
            )
            return asyncio.run(asyncio.wait_for(_wait_then_run(server, origin_url, args), 600))
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait(15)


async def _wait_then_run(server: Prosody, origin_url: str, args: argparse.Namespace) -> Any:
    # the device comes online in its own process: ask until it answers
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.fleet.http_client import HttpClient, HttpTransportError
    from stanzalink.jid import JID

    probe = Client(ClientConfig(
        jid=JID.parse(f"ctl@{server.domain}"), password="ctl-pw", resource="probe",
        host="127.0.0.1", port=server.port, ca_file=str(server.ca), reconnect=False,
        csi_inactive=False,  # an inactive client gets body-less messages (chunks) late
    ))  # fmt: skip
    await probe.start()
    await probe.wait_online(30)
    for _ in range(100):
        try:
            await HttpClient(probe, timeout=5).request(
                f"device1@{server.domain}/agent", "GET", "/small"
            )
            break
        except HttpTransportError:
            await asyncio.sleep(0.3)
    else:
        raise RuntimeError("the device never answered")
    await probe.close()
    return await run(server, origin_url, args)


if __name__ == "__main__":
    sys.exit(main())

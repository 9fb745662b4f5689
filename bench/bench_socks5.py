"""SOCKS5 bytestream benchmark: the same bytes, the same run, three ways.

- ``proxy65``: device -> controller through Prosody's mod_proxy65 on
  loopback (XEP-0065 mediated: disco, offer, connect, activate), the data
  ended by the sender's close;
- ``direct``: device -> controller through stanzalink's own streamhost
  (SOCKS5 handshake on loopback, no relay);
- ``tcp``: plain loopback TCP with asyncio streams, the floor.

Each row reports the median of ``--reps`` transfers of ``--mib`` MiB
(SHA-256 checked every time), and for proxy65 the negotiation time and the
CPU seconds Prosody spent relaying.  Bounded: at most 100 MiB and 10
repetitions, and the whole run stops after ``--timeout`` seconds.

Usage: python bench/bench_socks5.py [--mib 10] [--reps 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from stanzalink.aio.client import Client, ClientConfig  # noqa: E402
from stanzalink.jid import JID  # noqa: E402
from stanzalink.net.socks5 import Socks5Stream, StreamHostServer, connect  # noqa: E402
from stanzalink.xep import bytestreams as s5b  # noqa: E402
from stanzalink.xml import Element  # noqa: E402
from stanzalink_testing.prosody import Prosody, free_port, make_certs  # noqa: E402

PROXY = "proxy.stanzalink.test"
CHUNK = 64 * 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def send(w: Any, data: bytes) -> None:
    view = memoryview(data)
    for i in range(0, len(data), CHUNK):
        w.write(view[i : i + CHUNK])
        await w.drain()
    w.close()


async def receive(r: Any, n: int) -> str:
    h, got = hashlib.sha256(), 0
    while block := await r.read(256 * 1024):
        h.update(block)
        got += len(block)
    if got != n:
        raise RuntimeError(f"received {got} of {n} bytes")
    return h.hexdigest()


async def timed(sender: Socks5Stream, receiver: Socks5Stream, data: bytes, want: str) -> float:
    t0 = time.perf_counter()
    _, got = await asyncio.gather(send(sender.writer, data), receive(receiver.reader, len(data)))
    dt = time.perf_counter() - t0
    if got != want:
        raise RuntimeError("SHA-256 mismatch")
    await receiver.close()
    return dt


async def tcp_row(data: bytes, want: str) -> float:
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        done.set_result(await receive(r, len(data)))
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=256 * 1024)
    port = server.sockets[0].getsockname()[1]
    t0 = time.perf_counter()
    _, w = await asyncio.open_connection("127.0.0.1", port)
    await send(w, data)
    got = await done
    dt = time.perf_counter() - t0
    server.close()
    await server.wait_closed()
    if got != want:
        raise RuntimeError("SHA-256 mismatch")
    return dt


async def direct_row(data: bytes, want: str) -> float:
    host = StreamHostServer()
    h, port = await host.start()
    dst = s5b.dst_addr("bench", "a@stanzalink.test/x", "b@stanzalink.test/y")
    waiting = host.expect(dst)
    t0 = time.perf_counter()
    client = await connect(h, port, dst)
    server_side = await waiting
    await timed(client, server_side, data, want)
    dt = time.perf_counter() - t0
    await host.close()
    return dt


class ProxyPair:
    """Two stanzalink clients on a Prosody with mod_proxy65; the controller
    is the XEP-0065 requester and receiver, the device the target and sender."""

    def __init__(self, p: Prosody) -> None:
        self.p = p
        self.device = Client(self.cfg("device1", "agent"))
        self.ctl = Client(self.cfg("alice", "bench"))
        self.streams: asyncio.Queue[Socks5Stream] = asyncio.Queue()

    def cfg(self, user: str, res: str) -> ClientConfig:
        p = self.p
        return ClientConfig(jid=JID.parse(f"{user}@{p.domain}"), password=f"{user}-pw",
                            host="127.0.0.1", port=p.port, resource=res, reconnect=False,
                            ca_file=str(p.ca))  # fmt: skip

    async def start(self) -> None:
        async def on_offer(iq: Element) -> object:
            offer = s5b.parse_offer(iq)
            host = offer.streamhosts[0]
            dst = s5b.dst_addr(offer.sid, iq.get("from"), str(self.device.jid))
            self.streams.put_nowait(await connect(host.host, host.port, dst))
            return s5b.streamhost_used(iq, offer.sid, host.jid)

        self.device.on_iq(s5b.QUERY, on_offer, types=("set",))
        for c in (self.device, self.ctl):
            await c.start()
            await c.wait_online(30)

    async def bytestream(self) -> tuple[Socks5Stream, Socks5Stream, float]:
        """(device side, controller side, negotiation seconds)."""
        t0 = time.perf_counter()
        assert self.ctl.jid is not None and self.device.jid is not None
        proxies = await s5b.discover_proxies(self.ctl.iq, self.p.domain)
        sid = "bench-" + os.urandom(4).hex()
        reply = await self.ctl.iq(s5b.offer(str(self.device.jid), sid, proxies), 20)
        used = s5b.parse_streamhost_used(reply, proxies)
        mine = await connect(used.host, used.port, s5b.dst_addr(sid, self.ctl.jid, self.device.jid))
        theirs = await asyncio.wait_for(self.streams.get(), 10)
        await self.ctl.iq(s5b.activate(used.jid, sid, str(self.device.jid)), 20)
        return theirs, mine, time.perf_counter() - t0

    async def close(self) -> None:
        await self.ctl.close()
        await self.device.close()


def prosody_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "prosody"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown"


async def run(p: Prosody, mib: int, reps: int) -> dict[str, Any]:
    data = os.urandom(mib * 1024 * 1024)
    want = hashlib.sha256(data).hexdigest()
    rows: dict[str, list[float]] = {"proxy65": [], "direct": [], "tcp": []}
    negotiation: list[float] = []
    prosody_cpu: list[float] = []
    pair = ProxyPair(p)
    await pair.start()
    assert p.proc is not None
    try:
        for _ in range(reps):
            rows["tcp"].append(await tcp_row(data, want))
            rows["direct"].append(await direct_row(data, want))
            dev, ctl, neg = await pair.bytestream()
            negotiation.append(neg)
            cpu0 = cpu_seconds(p.proc.pid)
            rows["proxy65"].append(await timed(dev, ctl, data, want))
            prosody_cpu.append(cpu_seconds(p.proc.pid) - cpu0)
    finally:
        await pair.close()
    out: dict[str, Any] = {}
    for name, times in rows.items():
        med = statistics.median(times)
        out[name] = {"seconds": times, "median_s": round(med, 4),
                     "MiB_per_s": round(mib / med, 1)}  # fmt: skip
    out["proxy65"]["negotiation_ms_median"] = round(statistics.median(negotiation) * 1000, 1)
    out["proxy65"]["prosody_cpu_s_median"] = round(statistics.median(prosody_cpu), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "socks5.json"))
    args = ap.parse_args()
    mib, reps = min(max(args.mib, 1), 100), min(max(args.reps, 1), 10)
    with tempfile.TemporaryDirectory(prefix="sl-bench-s5-") as tmp:
        root = Path(tmp)
        ca, cert, key = make_certs(root)
        p = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        proxy_port = free_port()
        p.write_config(cert, key, extra=f"""
proxy65_ports = {{ {proxy_port} }}
proxy65_interfaces = {{ "127.0.0.1" }}
Component "{PROXY}" "proxy65"
  proxy65_address = "127.0.0.1"
""")  # fmt: skip
        p.start()
        try:
            for user in ("device1", "alice"):
                p.register(user, f"{user}-pw")
            results = asyncio.run(asyncio.wait_for(run(p, mib, reps), args.timeout))
        finally:
            p.stop()
    doc = {
        "what": f"{mib} MiB one way, median of {reps}, SHA-256 checked each time",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "prosody": prosody_version()},
        "mib": mib,
        "reps": reps,
        "results": results,
    }  # fmt: skip
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    for name, r in results.items():
        extra = ""
        if name == "proxy65":
            extra = (f"  (negotiation {r['negotiation_ms_median']} ms,"
                     f" Prosody CPU {r['prosody_cpu_s_median']} s)")  # fmt: skip
        print(f"{name:8} {r['median_s'] * 1000:8.1f} ms  {r['MiB_per_s']:7.1f} MiB/s{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

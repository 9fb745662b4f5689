"""File transfer benchmark: a 10 MiB file from a controller to the device
over Jingle + IBB and over Jingle + SOCKS5 (XEP-0260) through Prosody's
mod_proxy65 on loopback, next to plain loopback TCP (the same file read,
sent, written, fsync'ed and hashed) as the ceiling, in the same run.

Both ends of the Jingle transfer are stanzalink agents running the
project's modules (``xep/ibb.py`` and the ``xep/jingle/`` package: core,
IBB and SOCKS5 transports, file transfer); the controller runs in
a child process so the two ends do not share one Python thread, as on real
machines.

Usage: python bench/bench_files.py [--mib N] [--blocks 4096,16384] [--reps R] [--json FILE]
                                   [--no-socks5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from stanzalink.xep.ibb import Ibb  # noqa: E402
from stanzalink.xep.jingle.s5b_transport import JingleS5B  # noqa: E402
from stanzalink_testing.prosody import Prosody, free_port, make_certs  # noqa: E402

FEATURES = [
    "stanzalink.xep.ibb:Ibb",
    "stanzalink.xep.jingle:Jingle",
    "stanzalink.xep.jingle.s5b_transport:JingleS5B",  # serves only with [files] socks5
    "stanzalink.xep.jingle.ibb:JingleIBB",
    "stanzalink.xep.hashes:Hashes",
    "stanzalink.xep.jingle.file_transfer:Files",
]


def proxy65_config(port: int, domain: str) -> str:
    """mod_proxy65 as a component under the domain (so disco finds it)."""
    return f"""
proxy65_ports = {{ {port} }}
proxy65_interfaces = {{ "127.0.0.1" }}
Component "proxy.{domain}" "proxy65"
  proxy65_address = "127.0.0.1"
"""


def agent_for(
    server: dict[str, Any],
    user: str,
    peer: str,
    inbox: str,
    export: str = "/",
    socks5: bool = False,
) -> Any:
    from stanzalink.agent import Agent, load_feature
    from stanzalink.config import DeviceConfig
    from stanzalink.jid import JID

    cfg = DeviceConfig(
        jid=JID.parse(f"{user}@{server['domain']}"),
        password=f"{user}-pw",
        access={"operator": [f"{peer}@{server['domain']}"]},
        sections={
            "account": {"resource": "agent"},
            "server": {"host": "127.0.0.1", "port": server["port"], "ca_file": server["ca"]},
            "files": {"inbox": inbox, "min_free": 0, "export": [export], "socks5": socks5},
        },
    )
    return Agent(cfg, features=[load_feature(f) for f in FEATURES])


async def run_agent(a: Any, stop: asyncio.Event) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(a.run(stop))
    await a.client.wait_online(30)
    s5b = a.feature(JingleS5B)
    if s5b.active:  # proxy discovery done before the clock starts
        deadline = time.monotonic() + 30
        while s5b.proxies is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    return task


CHILD = """
import asyncio, json, sys, time
sys.path.insert(0, {agent!r})
sys.path.insert(0, {bench!r})
from bench_files import agent_for, run_agent
from stanzalink.xep.jingle.ibb import IBBTransport
from stanzalink.xep.ibb import Ibb
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.s5b_transport import JingleS5B
server = json.loads({server!r})

async def main():
    IBBTransport.block_size = {block}
    Ibb.window = {window}
    a = agent_for(server, "ctl", "device", {inbox!r}, {export!r}, socks5={socks5})
    stop = asyncio.Event()
    task = await run_agent(a, stop)
    print("online", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = time.perf_counter()
    res = await a.feature(Files).offer_file("device@" + server["domain"] + "/agent", {src!r})
    took = time.perf_counter() - t0
    stop.set()
    await task
    s5b = a.feature(JingleS5B)
    print(json.dumps({{"ok": res.ok, "reason": res.reason, "seconds": took,
                      "bytes": res.transferred, "s5b_established": s5b.established,
                      "s5b_failed": s5b.failed}}), flush=True)

asyncio.run(main())
"""


async def jingle_ibb(
    server: dict[str, Any],
    src: Path,
    block: int,
    tmp: Path,
    window: int = 4,
    run: int = 0,
    socks5: bool = False,
) -> dict[str, Any]:
    """One transfer; ``socks5``: both ends with ``[files] socks5`` (the IBB
    block size then only matters if it fell back)."""
    inbox = tmp / f"inbox-{block}-{window}-{run}-{socks5}"
    inbox.mkdir()
    dev = agent_for(server, "device", "ctl", str(inbox), socks5=socks5)
    dev.feature(Ibb).max_block = max(block, 4096)
    stop = asyncio.Event()
    task = await run_agent(dev, stop)
    code = CHILD.format(
        agent=str(ROOT / "agent"),
        bench=str(ROOT / "bench"),
        server=json.dumps(server),
        block=block,
        window=window,
        inbox=str(tmp / "ctl-inbox"),
        export=str(src.parent),
        src=str(src),
        socks5=socks5,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"online"
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), 600)
    await proc.wait()
    stop.set()
    await task
    res = json.loads(line)
    landed = inbox / src.name
    res["verified"] = landed.exists() and _sha(landed) == _sha(src)
    res["mib_s"] = res["bytes"] / (1 << 20) / res["seconds"]
    res["block_size"] = block
    res["window"] = window
    if socks5:
        # the bytes went through the proxy, not a fallback
        res["verified"] = res["verified"] and res["s5b_established"] == 1 and res["s5b_failed"] == 0
        del res["block_size"], res["window"]
    return res


async def plain_tcp(src: Path, tmp: Path) -> dict[str, Any]:
    """The ceiling: the same bytes over one loopback TCP connection, written,
    fsync'ed and hashed on arrival."""
    dest = tmp / "tcp.bin"
    dest.unlink(missing_ok=True)
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        h = hashlib.sha256()
        with open(dest, "wb") as out:
            while chunk := await reader.read(65536):
                out.write(chunk)
                h.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        writer.close()
        done.set_result(h.hexdigest())

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t0 = time.perf_counter()
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    with open(src, "rb") as fh:
        while block := fh.read(65536):
            w.write(block)
            await w.drain()
    w.close()
    digest = await done
    took = time.perf_counter() - t0
    server.close()
    size = src.stat().st_size
    return {
        "seconds": took,
        "bytes": size,
        "mib_s": size / (1 << 20) / took,
        "verified": digest == _sha(src),
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median time, with every run's MiB/s beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    best = dict(ordered[len(ordered) // 2])
    best["runs_mib_s"] = [round(r["mib_s"], 3) for r in runs]
    best["verified"] = all(r["verified"] and r.get("ok", True) for r in runs)
    return best


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=10)
    ap.add_argument("--blocks", default="4096,16384")
    ap.add_argument("--reps", type=int, default=3, help="runs of each case; the median is kept")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "files.json"))
    ap.add_argument("--no-socks5", action="store_true", help="skip the Jingle SOCKS5 row")
    args = ap.parse_args()
    blocks = [int(b) for b in args.blocks.split(",")]
    with tempfile.TemporaryDirectory(prefix="sl-bench-files-") as d:
        tmp = Path(d)
        (tmp / "ctl-inbox").mkdir()
        src = tmp / "payload.bin"
        src.write_bytes(os.urandom(args.mib << 20))
        root = tmp / "prosody"
        root.mkdir()
        ca, cert, key = make_certs(root)
        prosody = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        prosody.write_config(cert, key, extra=proxy65_config(free_port(), prosody.domain))
        prosody.start()
        try:
            for user in ("device", "ctl"):
                prosody.register(user, f"{user}-pw")
            server = {"domain": prosody.domain, "port": prosody.port, "ca": str(prosody.ca)}

            async def run() -> dict[str, Any]:
                out: dict[str, Any] = {}
                tcp = [await plain_tcp(src, tmp) for _ in range(args.reps)]
                out["tcp_loopback"] = _median(tcp)
                for b in blocks:
                    runs = []
                    for i in range(args.reps):
                        runs.append(await jingle_ibb(server, src, b, tmp, run=i))
                    out[f"ibb_prosody_block_{b}"] = _median(runs)
                if not args.no_socks5:
                    runs = []
                    for i in range(args.reps):
                        runs.append(await jingle_ibb(server, src, 4096, tmp, run=i, socks5=True))
                    out["s5b_proxy65"] = _median(runs)
                return out

            results = asyncio.run(run())
        finally:
            prosody.stop()
    out = {
        "what": f"{args.mib} MiB file, controller -> device; Jingle file transfer over IBB "
        "(window 4 IQs) and over SOCKS5 (XEP-0260, Prosody's mod_proxy65) through Prosody "
        "on loopback vs plain loopback TCP, same run",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "results": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    ok = all(r.get("verified") and r.get("ok", True) for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

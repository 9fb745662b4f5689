"""How long the client takes to notice a dead link and a hung server, with
real intervals (the long variant of tests/integration/test_keepalive_prosody.py,
which uses seconds).

In a network namespace made for the run (``unshare -n``), against a real
Prosody: the client connects with the given ``[connection]`` values, stays
idle a while, then

1. every packet to and from the server's port is dropped (nftables, input
   hook on loopback): the kernel's TCP keepalive must end the connection
   within idle + interval x count;
2. the path restored and the client back online, Prosody is SIGSTOPped: the
   application probe must end it within keepalive + keepalive_timeout.

The times are counted from the last data the client received.  With the
defaults (300/30/4, 3600 + 120) the run takes about 70 minutes; ``--no-hung``
leaves the second part out.  The kernel's timers may fire up to 1/8 of
their length late (its timer wheel batches long timers): exit status 1 only
when a bound is missed by more than that and 2 s.  Needs root and ``nft``.

Usage: python bench/bench_keepalive.py [--idle 300] [--interval 30] [--count 4]
       [--keepalive 3600] [--keepalive-timeout 120] [--no-hung] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from netns import loopback_up, run_inside

ROOT = Path(__file__).resolve().parent.parent


async def _until(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("not within the bound and its margin")
        await asyncio.sleep(0.05)


async def measure(args: argparse.Namespace, prosody: Any) -> dict[str, Any]:
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.jid import JID
    from stanzalink.session.events import Closed, Online
    from stanzalink_testing.netfilter import drop_path, restore_path

    cfg = ClientConfig(
        jid=JID.parse(f"device@{prosody.domain}"), password="device-pw", resource="bench",
        host="127.0.0.1", port=prosody.port, ca_file=str(prosody.ca), backoff_base=0.1,
        keepalive=args.keepalive, keepalive_timeout=args.keepalive_timeout,
        tcp_keepalive_idle=args.idle, tcp_keepalive_interval=args.interval,
        tcp_keepalive_count=args.count,
    )  # fmt: skip
    events: list[tuple[float, object]] = []
    client = Client(cfg)
    client.on_event(lambda ev: events.append((time.monotonic(), ev)))
    await client.start()
    await client.wait_online(30)
    settings = {k: v for k, v in vars(args).items() if k not in ("inner", "json")}
    out: dict[str, Any] = {"settings": settings}

    def closed_since(mark: int) -> Closed | None:
        return next((e for _, e in events[mark:] if isinstance(e, Closed)), None)

    def online_since(mark: int) -> bool:
        return any(isinstance(e, Online) for _, e in events[mark:])

    # 1. a dead link
    await asyncio.sleep(args.settle)
    last_rx = client.session._last_rx  # the adapter's clock: the loop's monotonic time
    drop_path(prosody.port)
    mark = len(events)
    bound = args.idle + args.interval * args.count
    await _until(lambda: closed_since(mark) is not None, bound + 30)
    closed = closed_since(mark)
    assert closed is not None
    when = next(t for t, e in events[mark:] if e is closed)
    out["dead_link"] = {
        "seconds_since_last_data": when - last_rx,
        "bound": bound,
        "condition": closed.condition,
    }
    restore_path()
    mark = len(events)
    await _until(lambda: online_since(mark), 60)
    # 2. a hung server
    if not args.no_hung:
        await asyncio.sleep(args.settle)
        last_rx = client.session._last_rx
        mark = len(events)
        os.kill(prosody.proc.pid, signal.SIGSTOP)
        try:
            timeout = client.config.probe_timeout
            bound = args.keepalive + timeout
            await _until(lambda: closed_since(mark) is not None, bound + 30)
        finally:
            os.kill(prosody.proc.pid, signal.SIGCONT)
        closed = closed_since(mark)
        assert closed is not None
        when = next(t for t, e in events[mark:] if e is closed)
        out["hung_server"] = {
            "seconds_since_last_data": when - last_rx,
            "bound": bound,
            "condition": closed.condition,
        }
        mark = len(events)
        await _until(lambda: online_since(mark), 90)
    await client.close()
    return out


def inner(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "agent"))
    from stanzalink_testing.prosody import throwaway_prosody

    loopback_up()
    with throwaway_prosody(prefix="stanzalink-keepalive-") as prosody:
        prosody.register("device", "device-pw")
        return asyncio.run(measure(args, prosody))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=300)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--keepalive", type=float, default=3600.0)
    ap.add_argument("--keepalive-timeout", type=float, default=None)
    ap.add_argument("--settle", type=float, default=5.0, help="idle seconds before each fault")
    ap.add_argument("--no-hung", action="store_true")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.inner:
        print(json.dumps(inner(args)), flush=True)
        return 0
    result = run_inside(__file__, sys.argv[1:])
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    # the kernel's timer wheel may fire a long timer up to 1/8 of it late
    ok = all(
        result[k]["seconds_since_last_data"] <= result[k]["bound"] * 1.125 + 2
        for k in ("dead_link", "hung_server")
        if k in result
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

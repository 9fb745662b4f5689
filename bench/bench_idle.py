"""Idle benchmark: what a connected, idle client costs per hour on the wire
and in wake-ups, stanzalink beside slixmpp in one run.

Clients connect at once to one Prosody, each on a port of its own:
stanzalink's session client, slixmpp's client (both with their defaults)
and the whole agent (``stanzalink run`` with every feature on) under the
systemd unit's settings: its watchdog on (``NOTIFY_SOCKET`` a datagram
socket of this bench's, ``WATCHDOG_USEC`` packaging/stanzalink.service's
``WatchdogSec=``, scaled like every other timer), and the same agent with
the unit's earlier ``WatchdogSec=60s`` beside it ("agent_watchdog60s") to
show what a watchdog with a timer of its own cost.  Each runs in its own
process.  Everything runs in a network namespace made for the
run (``unshare -n``: loopback only, nothing else on it), where nftables
counts every packet to and from each port in the output hook: IP and TCP
headers included, both directions, the kernel's own keepalive segments and
ACKs too.  Wake-ups are the voluntary context switches of each client
process (all its threads; each time it went to sleep, it woke once) from
/proc/PID/task/*/status over the same window; all context switches, the
involuntary ones too (preempted on a busy machine), are given beside.

Timers are scaled so that an hour takes --hour-seconds (default 60 s):
stanzalink's probe interval and timeout, slixmpp's whitespace keepalive
interval, and the kernel's TCP keepalive times, which the kernel counts in
whole seconds: each is scaled and rounded up to at least 1 s (300 s -> 5 s,
30 s -> 1 s instead of 0.5; the interval and count only matter once the
server stops answering, which it does not here).  The counts over
--hours scaled hours are divided by that number.  The agents' watchdog
pings (``WATCHDOG=1`` datagrams) are counted too.

Needs root (or ``unshare -rn``), ``nft`` and Prosody.
Usage: python bench/bench_idle.py [--hour-seconds 60] [--hours 2] [--json FILE]
       [--tree PATH (the source tree whose agent/ is measured; default this one)]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from configs import full_config
from netns import loopback_up, run_inside

ROOT = Path(__file__).resolve().parent.parent
SLIXMPP_WHITESPACE = 300.0  # slixmpp's default whitespace keepalive interval
# tcp_keepalive_idle values for the NAT table: stanzalink session clients with
# the default otherwise (--nat; a mobile NAT may drop a mapping idle 2-5 min)
NAT_IDLES = (60, 120, 180, 240, 300, 600)
UNIT = ROOT / "packaging" / "stanzalink.service"
OLD_WATCHDOG = 60.0  # the unit's WatchdogSec= before the pings rode the keepalive


def unit_watchdog() -> float:
    """The unit's ``WatchdogSec=`` in seconds."""
    for line in UNIT.read_text().splitlines():
        if line.startswith("WatchdogSec="):
            value = line.split("=", 1)[1].strip()
            units = {"s": 1, "min": 60, "h": 3600}
            for suffix, mult in sorted(units.items(), key=lambda kv: -len(kv[0])):
                if value.endswith(suffix):
                    return float(value[: -len(suffix)]) * mult
            return float(value)
    raise RuntimeError(f"no WatchdogSec= in {UNIT}")


CHILD = r"""
import asyncio, json, math, sys
server = json.loads(sys.argv[1]); lib = sys.argv[2]; scale = float(sys.argv[3])
user = sys.argv[5]; override = json.loads(sys.argv[6])
async def main():
    if lib == "stanzalink":
        from stanzalink.aio.client import Client, ClientConfig
        from stanzalink.jid import JID
        import stanzalink.session as s
        import stanzalink.aio.config as ac
        kw = dict(keepalive=s.KEEPALIVE * scale)
        if hasattr(s, "KEEPALIVE_TIMEOUT"):
            kw["keepalive_timeout"] = s.KEEPALIVE_TIMEOUT * scale
        for key, name in (("tcp_keepalive_idle", "TCP_KEEPALIVE_IDLE"),
                          ("tcp_keepalive_interval", "TCP_KEEPALIVE_INTERVAL")):
            if hasattr(ac, name):
                kw[key] = max(1, math.ceil(override.get(key, getattr(ac, name)) * scale))
        print(json.dumps({"settings": kw}), flush=True)
        c = Client(ClientConfig(jid=JID.parse(user + "@" + server["domain"]), password=user + "-pw",
                   resource="idle", host="127.0.0.1", port=server["port"],
                   ca_file=server["ca"], reconnect=False, **kw))
        await c.start(); await c.wait_online(30)
    else:
        import slixmpp
        c = slixmpp.ClientXMPP(user + "@" + server["domain"] + "/idle", user + "-pw")
        c.ca_certs = server["ca"]
        c.whitespace_keepalive_interval = float(sys.argv[4]) * scale
        print(json.dumps({"settings": {"whitespace_keepalive_interval":
                                       c.whitespace_keepalive_interval}}), flush=True)
        ready = asyncio.get_running_loop().create_future()
        c.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(1))
        c.connect("127.0.0.1", server["port"]); await asyncio.wait_for(ready, 30)
    print(json.dumps({"online": True}), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def ctx_switches(pid: int, kinds: tuple[str, ...] = ("voluntary", "nonvoluntary")) -> int:
    """Context switches of every thread of ``pid``: voluntary ones (the
    process went to sleep: each is one wake-up later) and involuntary ones
    (preempted while running: more of them on a busy machine, no wake-up)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                key = line.split(":", 1)[0]
                if key.endswith("ctxt_switches") and key.removesuffix("_ctxt_switches") in kinds:
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def nft(*args: str, input: str | None = None) -> str:
    out = subprocess.run(["nft", *args], input=input, capture_output=True, text=True, check=True)
    return out.stdout


def counters() -> dict[str, dict[str, int]]:
    data = json.loads(nft("-j", "list", "counters", "table", "inet", "idle"))
    out = {}
    for item in data["nftables"]:
        if "counter" in item:
            c = item["counter"]
            out[c["name"]] = {"packets": c["packets"], "bytes": c["bytes"]}
    return out


def agent_config(
    root: Path, server: dict[str, Any], scale: float, tree: Path, name: str = "agent"
) -> Path:
    """Every feature on, as examples/device.toml has them, timers scaled."""
    sys.path.insert(0, str(tree / "agent"))
    import stanzalink.aio.config as ac
    import stanzalink.session as s

    conn = [f"keepalive = {s.KEEPALIVE * scale}"]
    if hasattr(s, "KEEPALIVE_TIMEOUT"):
        conn.append(f"keepalive_timeout = {s.KEEPALIVE_TIMEOUT * scale}")
    if hasattr(ac, "TCP_KEEPALIVE_IDLE"):
        conn.append(f"tcp_keepalive_idle = {max(1, math.ceil(ac.TCP_KEEPALIVE_IDLE * scale))}")
        conn.append(
            f"tcp_keepalive_interval = {max(1, math.ceil(ac.TCP_KEEPALIVE_INTERVAL * scale))}"
        )
    return full_config(
        root / name,
        server,
        name,
        name="idle bench",
        admin="sl",
        resource="idle",
        connection=conn,
        file="agent.toml",
    )


def inner(args: argparse.Namespace) -> dict[str, Any]:
    """In the namespace: loopback up, counters, Prosody, the clients, the window."""
    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree / "agent"))
    from stanzalink_testing.prosody import Prosody, free_port, make_certs
    from stanzalink_testing.sdnotify import NotifyManager

    loopback_up()
    scale = args.hour_seconds / 3600.0
    env = {**os.environ, "PYTHONPATH": str(tree / "agent"), "PYTHONHASHSEED": "0"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "agent" / "stanzalink")], check=True
    )
    with tempfile.TemporaryDirectory(prefix="stanzalink-idle-") as tmp:
        root = Path(tmp)
        ca, cert, key = make_certs(root)
        clients: dict[str, tuple[str, str, dict[str, int]]] = {  # name: kind, user, override
            "stanzalink": ("stanzalink", "sl", {}),
            "slixmpp": ("slixmpp", "slix", {}),
        }
        if args.nat:
            for idle in NAT_IDLES:
                clients[f"idle{idle}"] = ("stanzalink", f"nat{idle}", {"tcp_keepalive_idle": idle})
        # the whole agent under the unit's watchdog, and under the earlier 60 s one
        agents = {"agent": unit_watchdog(), "agent_watchdog60s": OLD_WATCHDOG}
        names = [*clients, *agents]
        ports = {name: free_port() for name in names}
        prosody = Prosody(root=root, port=ports["stanzalink"], tls_port=free_port(), ca=ca)
        prosody.write_config(
            cert, key, extra="c2s_ports = { " + ", ".join(str(p) for p in ports.values()) + " }"
        )
        rules = ["table inet idle {"]
        for name in ports:
            rules += [f"  counter {name}_up {{}}", f"  counter {name}_down {{}}"]
        rules.append("  chain out { type filter hook output priority 0; policy accept;")
        for name, port in ports.items():
            rules += [
                f'    tcp dport {port} counter name "{name}_up"',
                f'    tcp sport {port} counter name "{name}_down"',
            ]
        rules += ["  }", "}"]
        nft("-f", "-", input="\n".join(rules) + "\n")
        prosody.start()
        procs: dict[str, subprocess.Popen[str]] = {}
        notify: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        try:
            for _kind, user, _ in clients.values():
                prosody.register(user, f"{user}-pw")
            for name in agents:
                prosody.register(name, f"{name}-pw")
            for name, (kind, user, override) in clients.items():
                server = {"domain": prosody.domain, "port": ports[name], "ca": str(ca)}
                procs[name] = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        json.dumps(server),
                        kind,
                        repr(scale),
                        repr(SLIXMPP_WHITESPACE),
                        user,
                        json.dumps(override),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            for name, watchdog in agents.items():
                server = {"domain": prosody.domain, "port": ports[name], "ca": str(ca)}
                cfg = agent_config(root, server, scale, tree, name)
                conn = cfg.read_text().split("[connection]\n")[1].split("[")[0].strip()
                usec = round(watchdog * scale * 1e6)
                settings[name] = f"{conn}\nWatchdogSec={watchdog:g}s (WATCHDOG_USEC={usec})"
                notify[name] = NotifyManager(str(root / f"{name}.notify"))
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "stanzalink", "run", "--config", str(cfg)],
                    stdout=subprocess.DEVNULL,
                    stderr=open(root / f"{name}.log", "w"),  # noqa: SIM115 - closed with the dir
                    env={**env, "NOTIFY_SOCKET": str(root / f"{name}.notify"),
                         "WATCHDOG_USEC": str(usec)},
                    text=True,
                )  # fmt: skip
            for lib in clients:
                out = procs[lib].stdout
                assert out is not None
                while True:
                    line = out.readline()
                    if not line:
                        raise RuntimeError(f"{lib} client exited before it was online")
                    msg = json.loads(line)
                    if "settings" in msg:
                        settings[lib] = msg["settings"]
                    if msg.get("online"):
                        break
            deadline = time.monotonic() + 30
            for name in agents:
                log = root / f"{name}.log"
                while "online" not in log.read_text():
                    if time.monotonic() > deadline or procs[name].poll() is not None:
                        raise RuntimeError(f"{name} not online:\n" + log.read_text())
                    time.sleep(0.2)
            time.sleep(args.settle)  # login, roster, presence, vCard publication settle
            c0 = counters()
            w0 = {lib: ctx_switches(p.pid) for lib, p in procs.items()}
            v0 = {lib: ctx_switches(p.pid, ("voluntary",)) for lib, p in procs.items()}
            t0 = time.monotonic()
            time.sleep(args.hour_seconds * args.hours)
            t1 = time.monotonic()
            elapsed = t1 - t0
            pings = {
                n: sum(t0 <= t < t1 for t in ns.times("WATCHDOG=1")) for n, ns in notify.items()
            }
            c1 = counters()
            w1 = {lib: ctx_switches(p.pid) for lib, p in procs.items()}
            v1 = {lib: ctx_switches(p.pid, ("voluntary",)) for lib, p in procs.items()}
            for lib, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{lib} exited during the window")
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(10)
            for ns in notify.values():
                ns.close()
            prosody.stop()
    hours = elapsed / args.hour_seconds
    results: dict[str, Any] = {}
    for lib in names:
        up = {k: c1[f"{lib}_up"][k] - c0[f"{lib}_up"][k] for k in ("packets", "bytes")}
        down = {k: c1[f"{lib}_down"][k] - c0[f"{lib}_down"][k] for k in ("packets", "bytes")}
        results[lib] = {
            "wire_bytes_per_hour": (up["bytes"] + down["bytes"]) / hours,
            "packets_per_hour": (up["packets"] + down["packets"]) / hours,
            "up_bytes_per_hour": up["bytes"] / hours,
            "down_bytes_per_hour": down["bytes"] / hours,
            # wake-ups: the voluntary context switches (each sleep ends in one)
            "wakeups_per_hour": (v1[lib] - v0[lib]) / hours,
            "context_switches_per_hour": (w1[lib] - w0[lib]) / hours,
            "settings": settings.get(lib),
        }
        if lib in pings:
            results[lib]["watchdog_pings_per_hour"] = pings[lib] / hours
    return results


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hour-seconds", type=float, default=60.0, help="one scaled hour")
    ap.add_argument("--hours", type=float, default=2.0, help="scaled hours measured")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--tree", default=str(ROOT))
    ap.add_argument("--nat", action="store_true", help="also the tcp_keepalive_idle table")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "idle.json"))
    args = ap.parse_args()
    if args.inner:
        print(json.dumps(inner(args)), flush=True)
        return 0
    if shutil.which("nft") is None:
        print("bench_idle: needs nft (nftables) to count the packets", file=sys.stderr)
        return 2
    results = run_inside(__file__, sys.argv[1:])
    sl, sx = results["stanzalink"], results["slixmpp"]
    doc = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "hour_seconds": args.hour_seconds,
        "hours": args.hours,
        "results": results,
        "ratios": {
            # None where slixmpp sent nothing in the window (unscaled, under 300 s)
            "wire_bytes_fraction": _ratio(sl["wire_bytes_per_hour"], sx["wire_bytes_per_hour"]),
            "agent_wire_bytes_fraction": _ratio(
                results["agent"]["wire_bytes_per_hour"], sx["wire_bytes_per_hour"]
            ),
        },
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Session benchmark: stanzalink's client against slixmpp, the same work
through the same Prosody on loopback, side by side in one run.

- message rate, one way, between two clients of the same library;
- round-trip latency (a message and its echo), median and 99th percentile;
- time from process start to a bound session (a fresh Python process each);
- resident memory of a connected idle client (VmRSS of that process);
- idle traffic on the wire (IP and TCP headers, both directions) and
  wake-ups an hour with each library's defaults, measured by
  bench/bench_idle.py (nftables counters in a network namespace; needs
  root and nft) with every timer of both libraries scaled down by the same
  factor (an hour in --idle-seconds), then scaled back.

Usage: python bench/bench_session.py [--messages N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from readme import busy_machine, write_section  # noqa: E402
from stanzalink_testing.prosody import throwaway_prosody  # noqa: E402

SM = True  # both libraries with stream management for rate and latency (the device's setup)
DEFAULT_KEEPALIVE = 300.0  # stanzalink's default probe interval
SLIXMPP_WHITESPACE = 300.0  # slixmpp's default whitespace keepalive interval
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sched(pid: int | str) -> tuple[float, float]:
    """Seconds a (single-threaded) process spent on a CPU and waiting in the
    run queue for one, from /proc/PID/schedstat (0, 0 where missing)."""
    try:
        run, wait, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


def own_cpu() -> float:
    """CPU seconds of this process, to the nanosecond (``os.times`` counts
    10 ms ticks: a short run could read 0)."""
    return time.process_time()


def server_cpu(pid: int) -> float:
    """The (single-threaded) server's CPU seconds: its scheduler's run time,
    to the nanosecond, or its ticks where the kernel keeps no schedstat."""
    run, _ = sched(pid)
    return run or proc_cpu(pid)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------ clients
async def sl_client(server: dict[str, Any], user: str, resource: str, **kw: Any) -> Any:
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.jid import JID

    cfg = ClientConfig(
        jid=JID.parse(f"{user}@{server['domain']}"),
        password=f"{user}-pw",
        resource=resource,
        host="127.0.0.1",
        port=kw.pop("port", server["port"]),
        ca_file=server["ca"],
        reconnect=False,
        max_unacked=kw.pop("max_unacked", 1000),
        **kw,
    )
    c = Client(cfg)
    await c.start()
    await c.wait_online(30)
    return c


async def slix_client(server: dict[str, Any], user: str, resource: str, port: int | None = None,
                      scale: float = 1.0, sm: bool = False) -> Any:  # fmt: skip
    import slixmpp

    x = slixmpp.ClientXMPP(f"{user}@{server['domain']}/{resource}", f"{user}-pw")
    x.ca_certs = server["ca"]
    x.whitespace_keepalive_interval = SLIXMPP_WHITESPACE * scale
    if sm:
        x.register_plugin("xep_0198")  # stream management, as the device uses it
    ready = asyncio.get_running_loop().create_future()
    x.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(1))
    x.connect("127.0.0.1", port or server["port"])
    await asyncio.wait_for(ready, 30)
    return x


# ------------------------------------------------------------------ throughput and latency
async def rate_and_latency(
    lib: str, server: dict[str, Any], n: int, pings: int
) -> dict[str, float]:
    """One-way rate between two clients of ``lib`` (both in this process),
    with the CPU time this process (both clients) and the server spent on
    those ``n`` messages; then round trips."""
    from stanzalink.xml import E

    got = 0
    done = asyncio.get_running_loop().create_future()
    echo_wait: asyncio.Future[float] | None = None

    if lib == "stanzalink":
        a = await sl_client(server, "alice", "a", max_unacked=5000, stream_management=SM)
        b = await sl_client(server, "bob", "b", stream_management=SM)

        def on_b(msg: Any) -> None:
            nonlocal got
            body = msg.findtext("{jabber:client}body") or ""
            if body.startswith("ping"):
                b.send(
                    E(
                        "{jabber:client}message",
                        {"to": msg.get("from")},
                        E("{jabber:client}body", text="pong"),
                    )
                )
                return
            got += 1
            if got == n and not done.done():
                done.set_result(time.perf_counter())

        def on_a(msg: Any) -> None:
            if echo_wait is not None and not echo_wait.done():
                echo_wait.set_result(time.perf_counter())

        b.on_message(on_b)
        a.on_message(on_a)
        to_b = f"bob@{server['domain']}/b"
        c0, s0 = own_cpu(), server_cpu(server["pid"])
        q0, r0 = sched("self"), sched(server["pid"])
        t0 = time.perf_counter()
        for i in range(n):
            while not a.session.can_send:
                await asyncio.sleep(0.001)
            a.send(
                E("{jabber:client}message", {"to": to_b}, E("{jabber:client}body", text=f"m{i}"))
            )
            if i % 200 == 0:
                await asyncio.sleep(0)
        t1 = await asyncio.wait_for(done, 120)
        c1, s1 = own_cpu(), server_cpu(server["pid"])
        q1, r1 = sched("self"), sched(server["pid"])
        rtts = []
        for _ in range(pings):
            echo_wait = asyncio.get_running_loop().create_future()
            s = time.perf_counter()
            a.send(E("{jabber:client}message", {"to": to_b}, E("{jabber:client}body", text="ping")))
            rtts.append(await asyncio.wait_for(echo_wait, 10) - s)
        await a.close()
        await b.close()
    else:
        a = await slix_client(server, "alice", "a", sm=SM)
        b = await slix_client(server, "bob", "b", sm=SM)

        def on_b_slix(msg: Any) -> None:
            nonlocal got
            body = str(msg["body"])
            if body.startswith("ping"):
                b.send_message(mto=msg["from"], mbody="pong")
                return
            got += 1
            if got == n and not done.done():
                done.set_result(time.perf_counter())

        def on_a_slix(msg: Any) -> None:
            if echo_wait is not None and not echo_wait.done():
                echo_wait.set_result(time.perf_counter())

        b.add_event_handler("message", on_b_slix)
        a.add_event_handler("message", on_a_slix)
        to_b = f"bob@{server['domain']}/b"
        c0, s0 = own_cpu(), server_cpu(server["pid"])
        q0, r0 = sched("self"), sched(server["pid"])
        t0 = time.perf_counter()
        for i in range(n):
            a.send_message(mto=to_b, mbody=f"m{i}")
            if i % 200 == 0:
                await asyncio.sleep(0)
        t1 = await asyncio.wait_for(done, 120)
        c1, s1 = own_cpu(), server_cpu(server["pid"])
        q1, r1 = sched("self"), sched(server["pid"])
        rtts = []
        for _ in range(pings):
            echo_wait = asyncio.get_running_loop().create_future()
            s = time.perf_counter()
            a.send_message(mto=to_b, mbody="ping")
            rtts.append(await asyncio.wait_for(echo_wait, 10) - s)
        a.disconnect()
        b.disconnect()
        await asyncio.sleep(0.2)
    rtts.sort()
    return {
        "messages_per_s": n / (t1 - t0),
        # CPU per message: both clients (sender and receiver) and the server
        "client_cpu_us_per_msg": (c1 - c0) / n * 1e6,
        "server_cpu_us_per_msg": (s1 - s0) / n * 1e6,
        # share of the wall time each side was on a CPU (1.0: one core busy),
        # and waiting for one (runnable, but the CPUs were taken)
        "client_busy": (c1 - c0) / (t1 - t0),
        "server_busy": (s1 - s0) / (t1 - t0),
        "client_cpu_wait": (q1[1] - q0[1]) / (t1 - t0),
        "server_cpu_wait": (r1[1] - r0[1]) / (t1 - t0),
        "rtt_median_ms": statistics.median(rtts) * 1000,
        "rtt_p99_ms": rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000,
    }


# ------------------------------------------------------------ start-up and memory (child process)
CHILD = r"""
import asyncio, json, os, sys, time
sys.path.insert(0, {agent!r})
server = json.loads({server!r})
started = float(sys.argv[1])
async def main():
    if {lib!r} == "stanzalink":
        from stanzalink.aio.client import Client, ClientConfig
        from stanzalink.jid import JID
        c = Client(ClientConfig(jid=JID.parse("carol@" + server["domain"]), password="carol-pw",
                   host="127.0.0.1", port=server["port"], ca_file=server["ca"], reconnect=False))
        await c.start(); await c.wait_online(30)
    else:
        import slixmpp
        c = slixmpp.ClientXMPP("carol@" + server["domain"], "carol-pw")
        c.ca_certs = server["ca"]
        ready = asyncio.get_running_loop().create_future()
        c.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(1))
        c.connect("127.0.0.1", server["port"]); await asyncio.wait_for(ready, 30)
    online = time.time()
    cpu = os.times()  # this process's CPU time so far: less sensitive to a loaded machine
    await asyncio.sleep(2)  # idle, connected
    rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
    print(json.dumps({{"startup_s": online - started, "startup_cpu_s": cpu.user + cpu.system,
                      "rss_kib": int(rss)}}), flush=True)
    if {lib!r} == "stanzalink": await c.close()
    else: c.disconnect(); await asyncio.sleep(0.2)
asyncio.run(main())
"""


def startup_and_memory(lib: str, server: dict[str, Any], reps: int) -> dict[str, float]:
    code = CHILD.format(agent=str(ROOT / "agent"), server=json.dumps(server), lib=lib)
    starts, cpus, rss = [], [], []
    for _ in range(reps):
        t = time.time()
        out = subprocess.run(
            [sys.executable, "-c", code, repr(t)], capture_output=True, timeout=60, check=True
        )
        res = json.loads(out.stdout.decode().strip().splitlines()[-1])
        starts.append(res["startup_s"])
        cpus.append(res["startup_cpu_s"])
        rss.append(res["rss_kib"])
    return {
        "startup_ms": statistics.median(starts) * 1000,
        "startup_cpu_ms": statistics.median(cpus) * 1000,
        "idle_rss_mib": statistics.median(rss) / 1024,
    }


def startup_instructions(lib: str, server: dict[str, Any]) -> float:
    """Instructions the start-up child executes (start, bound session, 2 s
    idle, close), counted by valgrind's callgrind: a measure a loaded
    machine barely changes (timers that fire while the child is slow add a
    little).  Needs valgrind; the timings under it mean nothing."""
    code = CHILD.format(agent=str(ROOT / "agent"), server=json.dumps(server), lib=lib)
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = subprocess.run(
        [*valgrind, sys.executable, "-c", code, repr(time.time())],
        capture_output=True,
        timeout=300,
        check=True,
    )
    for line in out.stderr.decode().splitlines():
        if "Collected :" in line:
            return float(line.rsplit(":", 1)[1])
    raise RuntimeError("callgrind printed no instruction count")


# ------------------------------------------------------------------ idle (scaled)
def idle_wire(hour_seconds: float, hours: float) -> dict[str, dict[str, float]]:
    """Idle traffic on the wire and wake-ups per hour, each library with its
    defaults (bench/bench_idle.py: a network namespace of its own, nftables
    counting IP and TCP headers both ways, every timer scaled)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "bench_idle.py"),
             "--hour-seconds", str(hour_seconds), "--hours", str(hours), "--json", out.name],
            check=True, capture_output=True, timeout=60 + 3 * hour_seconds * hours,
        )  # fmt: skip
        got = json.loads(Path(out.name).read_text())["results"]
    return {
        lib: {
            "idle_bytes_per_hour": got[lib]["wire_bytes_per_hour"],
            "idle_packets_per_hour": got[lib]["packets_per_hour"],
            "idle_wakeups_per_hour": got[lib]["wakeups_per_hour"],
        }
        for lib in ("stanzalink", "slixmpp", "agent")
    }


# ------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--pings", type=int, default=300)
    ap.add_argument("--reps", type=int, default=5, help="start-ups per library and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians taken)")
    ap.add_argument(
        "--callgrind", action="store_true", help="also count start-up instructions (valgrind)"
    )
    ap.add_argument("--idle-seconds", type=float, default=60.0, help="one scaled hour")
    ap.add_argument("--idle-hours", type=float, default=2.0, help="scaled hours measured")
    ap.add_argument("--readme", action="store_true", help="rewrite the README's session table")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "session.json"))
    ap.add_argument("--readme-only", action="store_true", help="the README from --json, no run")
    args = ap.parse_args()
    if args.readme_only:
        write_readme(json.loads(Path(args.json).read_text()), Path(args.json).with_suffix(".png"))
        return 0
    results: dict[str, dict[str, float]] = {"stanzalink": {}, "slixmpp": {}}
    rounds: dict[str, dict[str, list[float]]] = {"stanzalink": {}, "slixmpp": {}}
    load_before = load_average()
    # an installed package has its bytecode compiled (pip, Yocto and Buildroot
    # all do it), as slixmpp's has in site-packages: compare like with like
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "agent" / "stanzalink")], check=True
    )
    with throwaway_prosody(
        prefix="stanzalink-bench-", extra='limits = { c2s = { rate = "100mb/s" } }'
    ) as prosody:
        for user in ("alice", "bob", "carol", "dave"):
            prosody.register(user, f"{user}-pw")
        assert prosody.proc is not None
        server = {
            "domain": prosody.domain,
            "port": prosody.port,
            "ca": str(prosody.ca),
            "pid": prosody.proc.pid,
        }
        # interleaved rounds, the order alternating, so that a change in
        # the machine's load falls on both libraries alike
        for r in range(args.rounds):
            for lib in ("stanzalink", "slixmpp")[:: 1 if r % 2 == 0 else -1]:
                got = asyncio.run(rate_and_latency(lib, server, args.messages, args.pings))
                got.update(startup_and_memory(lib, server, args.reps))
                for k, v in got.items():
                    rounds[lib].setdefault(k, []).append(v)
                print(lib, {k: round(v, 2) for k, v in got.items()}, flush=True)
        for lib in rounds:
            results[lib].update({k: statistics.median(v) for k, v in rounds[lib].items()})
            if args.callgrind:
                results[lib]["startup_instructions_m"] = startup_instructions(lib, server) / 1e6
    idle = idle_wire(args.idle_seconds, args.idle_hours)
    for lib in ("stanzalink", "slixmpp"):
        results[lib].update(idle[lib])
    load_after = load_average()
    sl, sx = results["stanzalink"], results["slixmpp"]
    extra: dict[str, float] = {}
    if args.callgrind:
        extra["startup_instructions_fraction"] = (
            sl["startup_instructions_m"] / sx["startup_instructions_m"]
        )
    ratios = {
        "message_rate_x": sl["messages_per_s"] / sx["messages_per_s"],
        # the rate each library's clients could carry if the server cost
        # nothing: inverse of their CPU per message
        "client_rate_x": sx["client_cpu_us_per_msg"] / sl["client_cpu_us_per_msg"],
        "startup_fraction": sl["startup_ms"] / sx["startup_ms"],
        "startup_cpu_fraction": sl["startup_cpu_ms"] / sx["startup_cpu_ms"],
        "idle_memory_fraction": sl["idle_rss_mib"] / sx["idle_rss_mib"],
        "idle_traffic_fraction": sl["idle_bytes_per_hour"] / sx["idle_bytes_per_hour"],
        **extra,
    }
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "messages": args.messages,
        "idle_scaled_hour_s": args.idle_seconds,
        "idle_scaled_hours": args.idle_hours,
        "agent_idle": idle["agent"],
        "rounds": args.rounds,
        "startups_per_round": args.reps,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,  # 1, 5, 15 minutes
        "load_average_after": load_after,
        "results": results,
        "per_round": rounds,
        "ratios": ratios,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    if args.readme:
        write_readme(out, Path(args.json).with_suffix(".png"))
    return 0


ROWS = [
    ("messages/s, one way, through Prosody", "messages_per_s", "{:,.0f}"),
    ("client CPU per message, sender + receiver (µs)", "client_cpu_us_per_msg", "{:.0f}"),
    ("Prosody CPU per message (µs)", "server_cpu_us_per_msg", "{:.0f}"),
    ("round trip, median (ms)", "rtt_median_ms", "{:.2f}"),
    ("round trip, 99th percentile (ms)", "rtt_p99_ms", "{:.2f}"),
    ("process start to bound session (ms)", "startup_ms", "{:.0f}"),
    ("CPU time of that process until bound (ms)", "startup_cpu_ms", "{:.0f}"),
    ("instructions, start-up child start to close (M)", "startup_instructions_m", "{:,.0f}"),
    ("connected idle client, RSS (MiB)", "idle_rss_mib", "{:.1f}"),
    ("idle traffic on the wire with defaults (bytes/hour)", "idle_bytes_per_hour", "{:,.0f}"),
    ("idle wake-ups with defaults (per hour)", "idle_wakeups_per_hour", "{:.1f}"),
]


def write_readme(out: dict[str, Any], png: Path) -> None:
    sl, sx = out["results"]["stanzalink"], out["results"]["slixmpp"]
    r = out["ratios"]
    lines = [
        f"Measured with `python bench/bench_session.py` on {out['date']} (Python {out['python']}), "
        f"Prosody 0.12 on loopback, {out['messages']:,} messages, bytecode compiled for both "
        "libraries as installed packages have it, both with stream "
        "management for rate and latency; idle traffic with each library's defaults, counted "
        "on the wire (IP and TCP headers, both directions, by nftables in a network namespace "
        "of bench/bench_idle.py), every timer scaled so that an hour took "
        f"{out['idle_scaled_hour_s']:.0f} s (the kernel's keepalive in whole seconds), over "
        f"{out['idle_scaled_hours']:g} such hours; medians of "
        f"{out['rounds']} interleaved rounds ({out['startups_per_round']} start-ups each). "
        "Numbers: [bench/results/session.json](bench/results/session.json).",
        "",
        "| | stanzalink | slixmpp |",
        "|---|---:|---:|",
    ]
    rows = [row for row in ROWS if row[1] in sl]
    lines += [f"| {label} | {fmt.format(sl[k])} | {fmt.format(sx[k])} |" for label, k, fmt in rows]
    server_limit = sl["server_busy"] > sl["client_busy"]
    instr = (
        f", instructions {r['startup_instructions_fraction']:.2f}"
        if "startup_instructions_fraction" in r
        else ""
    )
    lines += [
        "",
        "| goal | target | measured | met |",
        "|---|---:|---:|---|",
        f"| message rate vs slixmpp | ≥ 3x (where the server is not the limit) | "
        f"{r['client_rate_x']:.2f}x by client CPU per message "
        f"({r['message_rate_x']:.2f}x through Prosody) | "
        f"{'yes' if r['client_rate_x'] >= 3 else '**no**'} |",
        f"| start-up time vs slixmpp | ≤ 0.5 | {r['startup_fraction']:.2f} "
        f"(CPU time {r['startup_cpu_fraction']:.2f}{instr}) | "
        f"{'yes' if r['startup_fraction'] <= 0.5 else '**no**'} |",
        f"| idle memory vs slixmpp | ≤ 0.7 | {r['idle_memory_fraction']:.2f} | "
        f"{'yes' if r['idle_memory_fraction'] <= 0.7 else '**no**'} |",
        f"| idle traffic on the wire vs slixmpp | ≤ 1 | {r['idle_traffic_fraction']:.2f} | "
        f"{'yes' if r['idle_traffic_fraction'] <= 1 else '**no**'} |",
        "",
        f"{'Prosody' if server_limit else 'The client'} is the limit of stanzalink's rate: while "
        f"the {out['messages']:,} messages went through, the Prosody process was on a CPU "
        f"{sl['server_busy']:.0%} of the time and waiting in the run queue for one "
        f"{sl['server_cpu_wait']:.0%}, the process with both stanzalink clients on a CPU "
        f"{sl['client_busy']:.0%} (for slixmpp: Prosody {sx['server_busy']:.0%} + "
        f"{sx['server_cpu_wait']:.0%} waiting, its clients {sx['client_busy']:.0%}); "
        "from /proc/PID/stat and /proc/PID/schedstat. Prosody also spends "
        f"{sl['server_cpu_us_per_msg']:.0f} µs of CPU per message against "
        f"{sl['client_cpu_us_per_msg']:.0f} µs for stanzalink's sender and receiver together, "
        "so the client CPU per message is what measures the clients where the server is "
        "not the limit.",
    ]
    lines += busy_machine(
        out,
        " Wall-clock figures (rate, round trips, start-up) suffer from it more than the "
        "CPU times do.",
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = 4
        nrows = -(-len(rows) // cols)
        fig, grid = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
        axes = [ax for row in grid for ax in row]
        for ax, (label, k, fmt) in zip(axes, rows, strict=False):
            bars = ax.bar(["stanzalink", "slixmpp"], [sl[k], sx[k]], color=["#2b7", "#999"])
            ax.bar_label(bars, labels=[fmt.format(sl[k]), fmt.format(sx[k])], fontsize=7)
            ax.set_title(label, fontsize=8, wrap=True)
            ax.tick_params(labelsize=7)
            ax.margins(y=0.15)
        for ax in axes[len(rows) :]:
            ax.set_visible(False)
        fig.suptitle(
            f"stanzalink and slixmpp through Prosody on loopback, {out['date']}", fontsize=9
        )
        fig.tight_layout()
        fig.savefig(png, dpi=90)
        lines += ["", f"![session benchmark](bench/results/{png.name})"]
    except ImportError:
        pass
    write_section("session", lines, "session benchmark")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

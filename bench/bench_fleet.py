"""Fleet benchmark: many simulated devices on a two-node ejabberd cluster
on this machine, through a node's crash.

One process runs the devices (:mod:`stanzalink.simulate`: whole agents,
every feature on, both nodes in ``[server] hosts``, node a first) on one
event loop; the cluster is the test kit's (``stanzalink_testing.cluster``:
two Debian ejabberd nodes on loopback, Mnesia-clustered).  Measured, in
order:

- **all online**: seconds from starting every device at once (or at
  ``--ramp`` a second) until the last one is online (accounts made
  beforehand through the admin API, so this is logins, not registrations);
- **memory per simulated device**: the simulator's RSS once all are
  online, minus its RSS before the first device (the template checked and
  every module imported), over the number of devices;
- **server memory per device**: both ejabberd VMs' RSS (``beam.smp``) with
  all devices online minus before, over the number of devices;
- **fleet run status at concurrency 50**: the wall time of ``stanzalink
  fleet run --concurrency 50 status`` (its own process, logging in,
  finding the devices, running the command on each), after a ``fleet
  list`` has accepted the devices' subscriptions;
- **failover**: node a (where every device is) is SIGKILLed; the devices
  online second by second, the logins completed per second on node b
  (each a TCP connect, TLS handshake, SASL and bind, or a resumption), and
  the seconds until the last device is back;
- **CPU**: the seconds of CPU the simulator and each ejabberd VM used in
  each phase, beside the wall time, to tell which side was the limit.

Results: bench/results/fleet.json, the failover curve in
bench/results/fleet_failover.png (matplotlib, requirements-bench.txt).

Usage: python bench/bench_fleet.py [--devices 1000] [--ramp PER_SECOND]
       [--json FILE] [--png FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from stanzalink.session.events import Closed, Online  # noqa: E402
from stanzalink.simulate import Simulation, Template, rss_bytes  # noqa: E402
from stanzalink_testing.cluster import EjabberdCluster, available  # noqa: E402
from stanzalink_testing.ejabberd import Ejabberd  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def beam_pids(node: Ejabberd) -> list[int]:
    """The Erlang VM of a node: beam.smp in the node's process group."""
    if node.proc is None:
        return []
    pgid = node.proc.pid
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and comm.startswith("beam"):
            out.append(int(entry))
    return out


def proc_rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Meter:
    """CPU seconds of this process and of both nodes' VMs, by phase."""

    def __init__(self, cluster: EjabberdCluster) -> None:
        self.cluster = cluster
        self.pids = {name: beam_pids(cluster.node(name)) for name in ("a", "b")}
        self.last = self.read()
        self.phases: dict[str, dict[str, float]] = {}

    def read(self) -> dict[str, float]:
        t = os.times()
        out = {"wall": time.monotonic(), "simulator": t.user + t.system}
        for name, pids in self.pids.items():
            out[f"node {name}"] = sum(proc_cpu(p) for p in pids)
        return out

    def phase(self, name: str) -> dict[str, float]:
        now = self.read()
        spent = {k: round(now[k] - self.last.get(k, 0.0), 2) for k in now}
        # a killed node reads 0: what it used before it died is unknown here
        spent = {k: max(v, 0.0) for k, v in spent.items()}
        self.phases[name] = spent
        self.last = now
        return spent

    def refresh(self, name: str) -> None:
        self.pids[name] = beam_pids(self.cluster.node(name))
        self.last[f"node {name}"] = sum(proc_cpu(p) for p in self.pids[name])

    def server_rss(self) -> dict[str, int]:
        return {name: sum(proc_rss(p) for p in pids) for name, pids in self.pids.items()}


def fleet(*args: str, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "agent"))
    began = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "stanzalink", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return time.monotonic() - began, res


async def main_async(args: argparse.Namespace, cluster: EjabberdCluster) -> dict[str, Any]:
    n_dev = args.devices
    log(f"registering {n_dev} accounts through the admin API")
    cluster.register("ctl", "pw-ctl")
    for n in range(1, n_dev + 1):
        cluster.a.register(f"bf{n}", f"pw-{n}")
    ctl = Path(args.tmp) / "controller.toml"
    ctl.write_text(
        f'[account]\njid = "ctl@{cluster.domain}"\npassword = "pw-ctl"\n\n'
        f'[server]\nhosts = ["127.0.0.1:{cluster.b.port}", "127.0.0.1:{cluster.a.port}"]\n'
        f'ca_file = "{cluster.ca}"\n'
    )
    template = Template({
        "account": {"jid": f"bf{{n}}@{cluster.domain}", "password": "pw-{n}", "resource": "sim"},
        "server": {"hosts": [f"127.0.0.1:{cluster.a.port}", f"127.0.0.1:{cluster.b.port}"],
                   "ca_file": str(cluster.ca)},
        "access": {"admin": [f"ctl@{cluster.domain}"]},
        "connection": {"stream_management": not args.no_sm}
        | ({} if args.spread is None else {"reconnect_spread": args.spread}),
    })  # fmt: skip
    events: list[tuple[float, int, str, bool]] = []

    def on_event(n: int, ev: object) -> None:
        if isinstance(ev, Online):
            events.append((time.monotonic(), n, "online", ev.resumed))
        elif isinstance(ev, Closed):
            events.append((time.monotonic(), n, "closed", False))

    sim = Simulation(template, n_dev, ramp=args.ramp, on_event=on_event)
    meter = Meter(cluster)
    template.tls_context()
    await asyncio.sleep(1)
    rss0 = rss_bytes()
    server0 = meter.server_rss()
    meter.phase("idle")
    stop = asyncio.Event()
    log(f"starting {n_dev} devices ({'all at once' if args.ramp is None else f'{args.ramp}/s'})")
    started = time.monotonic()
    run = asyncio.ensure_future(sim.run(stop))
    result: dict[str, Any] = {
        "devices": n_dev,
        "ramp": args.ramp,
        "stream_management": not args.no_sm,
        "reconnect_spread": args.spread if args.spread is not None else "default",
    }
    try:
        await sim.wait(lambda c: c.online == c.devices, args.timeout)
        result["all_online_s"] = round(time.monotonic() - started, 2)
        result["cpu_start"] = meter.phase("start")
        log(f"all {n_dev} online after {result['all_online_s']} s")
        await asyncio.sleep(5)  # the roster fetches and presences settle
        rss1 = rss_bytes()
        server1 = meter.server_rss()
        result["simulator_rss_before_mib"] = round(rss0 / 2**20, 1)
        result["simulator_rss_online_mib"] = round(rss1 / 2**20, 1)
        result["simulator_kib_per_device"] = round((rss1 - rss0) / n_dev / 1024, 1)
        result["server_rss_before_mib"] = {k: round(v / 2**20, 1) for k, v in server0.items()}
        result["server_rss_online_mib"] = {k: round(v / 2**20, 1) for k, v in server1.items()}
        grown = sum(server1.values()) - sum(server0.values())
        result["server_kib_per_device"] = round(grown / n_dev / 1024, 1)
        log(
            f"memory: simulator {result['simulator_kib_per_device']} KiB/device, "
            f"ejabberd (both VMs) {result['server_kib_per_device']} KiB/device"
        )
        meter.phase("settle")

        # the controller: accept every subscription, then time the command
        deadline = time.monotonic() + args.timeout
        while True:
            took, res = await asyncio.to_thread(fleet, "list", "--json", "--config", str(ctl))
            listed = [json.loads(line) for line in res.stdout.splitlines()]
            online = sum(1 for d in listed if d["online"])
            log(f"fleet list: {online} of {n_dev} online ({took:.1f} s)")
            if online >= n_dev or time.monotonic() > deadline:
                break
        result["fleet_list_s"] = round(took, 2)
        meter.phase("fleet list")
        took, res = await asyncio.to_thread(
            fleet, "run", "--json", "--config", str(ctl), "--concurrency", "50", "status"
        )
        statuses = Counter(json.loads(line)["status"] for line in res.stdout.splitlines())
        result["fleet_run_status_c50_s"] = round(took, 2)
        result["fleet_run_status_results"] = dict(statuses)
        result["cpu_fleet_run"] = meter.phase("fleet run")
        log(f"fleet run status, concurrency 50: {took:.1f} s, {dict(statuses)}")

        # failover: node a dies with every device on it
        await asyncio.sleep(2)
        before = len(events)
        online_before = sim.counts().online
        log("SIGKILL node a")
        killed = time.monotonic()
        await asyncio.to_thread(cluster.kill, "a")
        meter.pids["a"] = []
        await sim.wait(
            lambda c: (
                c.online == c.devices
                and sum(1 for e in events[before:] if e[2] == "online") >= online_before
            ),
            args.timeout,
        )
        after = events[before:]
        back = max(t for t, _, kind, _ in after if kind == "online")
        result["failover_all_back_s"] = round(back - killed, 2)
        result["cpu_failover"] = meter.phase("failover")
        per_second = Counter(int(t - killed) for t, _, kind, _ in after if kind == "online")
        result["failover_logins_per_s_peak"] = max(per_second.values())
        result["failover_resumed"] = sum(1 for e in after if e[2] == "online" and e[3])
        first_back: dict[int, float] = {}
        for t, n, kind, _ in after:
            if kind == "online":
                first_back.setdefault(n, t - killed)
        backs = sorted(first_back.values())
        result["failover_back_s_percentiles"] = {
            f"p{q}": round(backs[min(len(backs) - 1, len(backs) * q // 100)], 2)
            for q in (10, 50, 90, 99)
        }
        result["failover_logins_per_s"] = [
            per_second.get(s, 0) for s in range(int(back - killed) + 1)
        ]
        log(
            f"all back after {result['failover_all_back_s']} s; peak "
            f"{result['failover_logins_per_s_peak']} logins/s"
        )
        # the curve: devices online over time around the kill
        curve = []
        online_now = online_before
        for t, _, kind, _ in after:
            online_now += 1 if kind == "online" else -1
            curve.append((round(t - killed, 3), online_now))
        result["failover_curve"] = curve
        took, res = await asyncio.to_thread(
            fleet, "run", "--json", "--config", str(ctl), "--concurrency", "50", "status"
        )
        statuses = Counter(json.loads(line)["status"] for line in res.stdout.splitlines())
        result["fleet_run_status_after_failover_s"] = round(took, 2)
        result["fleet_run_status_after_failover_results"] = dict(statuses)
        log(f"fleet run status after the failover: {took:.1f} s, {dict(statuses)}")
    finally:
        stop.set()
        await run
    result["phases_cpu_s"] = meter.phases
    return result


def dump(result: dict[str, Any]) -> str:
    """The results as JSON, each list of numbers on one line (the curve is
    a list of [seconds, online] pairs)."""
    text = json.dumps(result, indent=1)
    return (
        re.sub(
            r"\[\s+([-\d.e]+(?:,\s+[-\d.e]+)*)\s+\]",
            lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
            text,
        )
        + "\n"
    )


def plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: no plot (pip install -r requirements-bench.txt)")
        return False
    curve = result["failover_curve"]
    xs = [-2.0] + [t for t, _ in curve]
    ys = [result["devices"]] + [v for _, v in curve]
    end = result["failover_all_back_s"] + 2
    xs.append(end)
    ys.append(ys[-1])
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.step(xs, ys, where="post", color="tab:blue", label="devices online")
    ax.set_xlabel("seconds after node a was SIGKILLed")
    ax.set_ylabel("devices online")
    ax.set_ylim(0, result["devices"] * 1.05)
    ax.set_xlim(-2, end)
    ax2 = ax.twinx()
    rates = result["failover_logins_per_s"]
    ax2.bar([i + 0.5 for i in range(len(rates))], rates, width=0.9, alpha=0.3,
            color="tab:orange", label="logins on node b per second")  # fmt: skip
    ax2.set_ylabel("logins per second")
    ax.set_title(
        f"{result['devices']} simulated devices, two-node ejabberd cluster: "
        f"all back in {result['failover_all_back_s']} s"
    )
    lines = ax.get_legend_handles_labels()
    bars = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + bars[0], lines[1] + bars[1], loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--ramp", type=float, default=None, help="devices started a second")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds a phase may take")
    p.add_argument("--backlog", type=int, default=1024,
                   help="ejabberd's listen backlog (0: its default, 5)")  # fmt: skip
    p.add_argument("--spread", type=float, default=None,
                   help="the devices' [connection] reconnect_spread")  # fmt: skip
    p.add_argument("--no-sm", action="store_true",
                   help="devices without stream management (no resumption to try)")  # fmt: skip
    p.add_argument("--workdir", type=Path, help="a new folder for the servers (kept)")
    p.add_argument("--client-log", type=Path, help="the devices' log (INFO) to this file")
    p.add_argument("--json", type=Path, default=RESULTS / "fleet.json")
    p.add_argument("--png", type=Path, default=RESULTS / "fleet_failover.png")
    args = p.parse_args(argv)
    if not available():
        print("bench_fleet: ejabberd is needed (scripts/bootstrap.sh)", file=sys.stderr)
        return 2
    if args.client_log:
        handler = logging.FileHandler(args.client_log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.CRITICAL)
    with contextlib.ExitStack() as keep:
        if args.workdir is None:
            tmp = keep.enter_context(tempfile.TemporaryDirectory(prefix="bench-fleet-"))
        else:
            args.workdir.mkdir(parents=True)
            tmp = str(args.workdir)
        args.tmp = tmp
        log("starting the two-node ejabberd cluster")
        cluster = EjabberdCluster.create(Path(tmp))
        if args.backlog:
            for node in (cluster.a, cluster.b):
                # ejabberd's listen backlog is 5 by default: a crowd of SYNs
                # beyond it is dropped and retried by the kernel 1, 3, 7 s later
                text = node.config.read_text()
                node.config.write_text(
                    text.replace(
                        "module: ejabberd_c2s\n",
                        f"module: ejabberd_c2s\n    backlog: {args.backlog}\n",
                    )
                )
        result_backlog = args.backlog or 5
        with cluster:
            result = asyncio.run(main_async(args, cluster))
    result["ejabberd_backlog"] = result_backlog
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d"),
    }
    result["command"] = "python bench/bench_fleet.py " + " ".join(argv or sys.argv[1:])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(dump(result))
    log(f"wrote {args.json}")
    if plot(result, args.png):
        log(f"wrote {args.png}")
    summary = {k: v for k, v in result.items() if k not in ("failover_curve",)}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Chaos run: a device agent whose link is cut again and again while a
controller sends it console commands.  Every command must be answered
exactly once, the answer naming it; none lost, none duplicated.

Per run, on a real Prosody or ejabberd on loopback:

- a fresh device account and a fresh controller account;
- the device agent (the real :class:`stanzalink.agent.Agent`, every feature,
  its config read from a TOML file as ``stanzalink run`` reads it) connects
  through :class:`stanzalink_testing.chaosproxy.ChaosProxy`; keepalive and
  its timeout are scaled down (``[connection] keepalive``) so a dead link is
  noticed in seconds;
- a slixmpp controller, connected straight to the server, sends ``--commands``
  console commands (``version``), each in a chat message with its own id
  and ``<thread>``; the console answers in the thread and names the
  message's id (XEP-0461 ``<reply/>``): both must name the command;
- meanwhile the driver cuts the device's link ``--cuts`` times: the link
  goes dark (a blackhole: nothing passes, nobody is told) for a random
  while, then both sides get an RST.  Cuts and commands interleave: cut k
  starts once half the commands of its share are out, and the next share
  waits for it.

Counted per command: answered once, lost, duplicated, refused (the console
declined it: sent while offline, busy, rate-limited), bounced (an error
came back); per run: reconnects, resumptions, fresh sessions, and the time
from each ``<resumed/>`` to the controller's next answer (only for resumes
with commands outstanding).  Every wait is bounded; a run ends by itself.

The console's rate limit and job limits are raised for the run
(``[console] rate``, ``burst``, ``max_jobs``): they protect a device from
a busy controller and would otherwise answer this one "Busy".

Usage: python bench/chaos.py [--server prosody|ejabberd|both] [--runs N]
                             [--cuts K] [--commands M] [--seed S]
                             [--keepalive SECONDS] [--json FILE] [--logs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from stanzalink.agent import Agent, load_config  # noqa: E402
from stanzalink.session.events import Closed, Online  # noqa: E402
from stanzalink.xml import Element  # noqa: E402
from stanzalink_testing.chaosproxy import ChaosProxy  # noqa: E402
from stanzalink_testing.ejabberd import Ejabberd  # noqa: E402
from stanzalink_testing.ejabberd import available as ejabberd_available  # noqa: E402
from stanzalink_testing.prosody import Prosody, free_port, make_certs  # noqa: E402

SERVERS = ("prosody", "ejabberd")
COMMAND = "version"
RESULTS = ROOT / "bench" / "results" / "chaos.json"
log = logging.getLogger("chaos")


@dataclass
class Plan:
    """What one run does; every duration in seconds."""

    cuts: int = 8
    commands: int = 120
    interval: tuple[float, float] = (0.1, 0.3)  # between two commands
    dark: tuple[float, float] = (0.3, 5.0)  # how long a link stays blackholed
    up: tuple[float, float] = (0.0, 1.0)  # at least this long up after a reconnect
    # before some cuts (every idle_every-th) and before the last command, no
    # command for this long after the device is back: longer than a server
    # waits before it treats a resumed idle client as inactive again
    # (Prosody's csi_resume_inactive_delay, 5 s)
    idle: float = 7.0
    idle_every: int = 4
    keepalive: float = 2.0  # the device's [connection] keepalive and keepalive_timeout
    reconnect_max: float = 3.0  # ... and its longest wait between connection attempts
    online_wait: float = 30.0  # at most, for the device to be back before a cut
    settle: float = 60.0  # at most, for the last answers after the last command
    quiet: float = 2.0  # then this long without news: late duplicates show here
    seed: int = 1


@dataclass
class Command:
    n: int
    thread: str
    sent: float | None = None
    at_device: int = 0  # times the device's client handed it to the agent
    after_idle: bool = False  # the first after the device sat idle
    answers: list[tuple[float, str]] = field(default_factory=list)  # (time, kind)


@dataclass
class RunResult:
    server: str
    run: int
    seed: int
    cuts: int = 0
    cuts_with_link: int = 0  # cuts that found a device link to break
    commands: int = 0
    answered: int = 0  # exactly one answer, the command's result
    lost: int = 0
    duplicated: int = 0
    refused: int = 0  # exactly one answer, a refusal (offline, busy, rate)
    bounced: int = 0  # an error came back instead
    delivered_twice: int = 0  # the device received the same command more than once
    unattributed: int = 0  # answers naming no command of ours (thread or <reply/> id)
    without_reference: int = 0  # answers in the right thread without a <reply/> id
    reconnects: int = 0
    resumed: int = 0  # reconnects that resumed the session (XEP-0198)
    fresh: int = 0  # reconnects that had to start a new session
    resume_to_answer: list[float] = field(default_factory=list)
    idle_to_answer: list[float] = field(default_factory=list)  # first command after idling
    answer_latency_median: float | None = None
    answer_latency_max: float | None = None
    seconds: float = 0.0
    proxy: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)  # one per bad command
    # answered more than 0.5 s after it was sent on a link that was up all along
    slow: list[dict[str, Any]] = field(default_factory=list)
    timeout: bool = False
    interrupted: bool = False  # SIGINT or SIGTERM: the run was cut short

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and not self.timeout


# ------------------------------------------------------------------ servers
@contextlib.contextmanager
def xmpp_server(kind: str, root: Path) -> Iterator[Prosody | Ejabberd]:
    """A real server of ``kind`` in ``root``, with its own CA; stopped at the end."""
    root.mkdir(parents=True, exist_ok=True)
    ca, cert, key = make_certs(root)
    server: Prosody | Ejabberd
    if kind == "prosody":
        server = Prosody(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        server.write_config(cert, key)
        server.start()
    elif kind == "ejabberd":
        if not ejabberd_available():
            raise RuntimeError("ejabberd is not installed (scripts/bootstrap.sh installs it)")
        server = Ejabberd(root=root, port=free_port(), tls_port=free_port(), ca=ca)
        server.write_config(cert, key)
        server.start(timeout=30)
    else:
        raise ValueError(kind)
    try:
        yield server
    finally:
        server.stop()


def device_toml(
    server: Prosody | Ejabberd, jid: str, password: str, port: int, admin: str, plan: Plan
) -> str:
    """The device's config: the server through the proxy, a short keepalive."""
    return f"""
[account]
jid = "{jid}"
password = "{password}"
resource = "agent"

[server]
host = "127.0.0.1"
port = {port}
ca_file = "{server.ca}"

[connection]
keepalive = {plan.keepalive}
keepalive_timeout = {plan.keepalive}
reconnect_max = {plan.reconnect_max}

[access]
admin = ["{admin}"]

[console]
rate = 1000.0
burst = 1000
max_jobs = 64
max_jobs_total = 64
"""


def classify(body: str) -> str:
    """What kind of console answer this is."""
    if body.startswith("Not run"):
        return "refused"
    if body.startswith("Busy") or body.startswith("Too many commands"):
        return "refused"
    if "Send help for the commands" in body or " for the commands." in body:
        return "banner"
    if "parser" in body and "stanzalink" in body:
        return "result"
    return "other"


# ------------------------------------------------------------------ one run
def take_signals(halt: asyncio.Event) -> None:
    """SIGINT and SIGTERM end the chaos run (the agent's own handlers would
    only stop the agent, and the driver would go on)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, halt.set)


async def chaos_run(
    server: Prosody | Ejabberd,
    kind: str,
    run: int,
    plan: Plan,
    logs: Path,
    halt: asyncio.Event | None = None,
) -> RunResult:
    import slixmpp  # the controller: an independent XMPP implementation

    rng = random.Random(plan.seed * 1000 + run)
    tag = os.urandom(3).hex()
    dev_user, ctl_user = f"chaosdev{run}x{tag}", f"chaosctl{run}x{tag}"
    dev_pw, ctl_pw = f"pw-{dev_user}", f"pw-{ctl_user}"
    await asyncio.to_thread(server.register, dev_user, dev_pw)
    await asyncio.to_thread(server.register, ctl_user, ctl_pw)
    dev_jid, ctl_jid = f"{dev_user}@{server.domain}", f"{ctl_user}@{server.domain}"
    device_full = f"{dev_jid}/agent"
    res = RunResult(server=kind, run=run, seed=plan.seed)
    loop = asyncio.get_running_loop()
    started = loop.time()

    proxy = ChaosProxy("127.0.0.1", server.port)
    port = await proxy.start()
    run_dir = logs / f"{kind}-{run}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "device.toml"
    cfg_path.write_text(device_toml(server, dev_jid, dev_pw, port, ctl_jid, plan))
    handler = logging.FileHandler(run_dir / "device.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(name)s %(message)s", "%T"))
    handler.setLevel(logging.DEBUG)
    pkg = logging.getLogger("stanzalink")
    pkg.addHandler(handler)
    pkg.setLevel(logging.DEBUG)
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    commands = [Command(i, f"chaos-{run}-{i}") for i in range(plan.commands)]
    by_thread = {c.thread: c for c in commands}
    resumes: list[float] = []
    onlines: list[Online] = []
    online_times: list[float] = []
    closes = 0

    def on_device_event(ev: object) -> None:
        nonlocal closes
        if isinstance(ev, Online):
            onlines.append(ev)
            online_times.append(loop.time())
            if ev.resumed:
                resumes.append(loop.time())
        elif isinstance(ev, Closed):
            closes += 1

    def on_device_message(msg: Element) -> None:
        thread = msg.findtext("{jabber:client}thread") or ""
        cmd = by_thread.get(thread)
        if cmd is not None:
            cmd.at_device += 1

    agent = Agent(load_config(cfg_path))
    agent.client.on_event(on_device_event)
    agent.client.on_message(on_device_message)
    stop = asyncio.Event()
    agent_task = asyncio.ensure_future(agent.run(stop))

    ctl = slixmpp.ClientXMPP(f"{ctl_jid}/ctl", ctl_pw)
    ctl.ca_certs = Path(server.ca)
    ready: asyncio.Future[bool] = loop.create_future()
    news = [loop.time()]  # when the controller last heard anything

    def on_session(_: Any) -> None:
        if not ready.done():
            ready.set_result(True)

    def on_message(msg: Any) -> None:
        news[0] = loop.time()
        if str(msg["from"].bare) != dev_jid:
            return
        cmd = by_thread.get(str(msg["thread"]))
        kind_ = "bounced" if msg["type"] == "error" else classify(str(msg["body"]))
        if kind_ == "banner":
            return
        ref = msg.xml.find("{urn:xmpp:reply:0}reply")
        if cmd is None or (ref is not None and ref.get("id") != f"cmd-{run}-{cmd.n}"):
            res.unattributed += 1
            log.warning("answer naming no command of ours: %r", str(msg)[:300])
            return
        if ref is None:
            res.without_reference += 1
        cmd.answers.append((loop.time(), kind_))

    ctl.add_event_handler("session_start", on_session)
    ctl.add_event_handler("message", on_message)
    ctl.connect("127.0.0.1", server.port)

    cuts_started = 0
    # shared by the commander and the cutter
    chaos_state: dict[str, Any] = {
        "seen_at_reset": 0,
        "quiet_until": 0.0,
        "idle_cmd": None,  # False: an idle spell wants its command; then that Command
        "done": False,
    }
    cut_times: list[float] = []
    sent = 0

    async def wait_for(cond: Any, limit: float) -> bool:
        end = loop.time() + limit
        while not cond():
            if loop.time() > end:
                return False
            await asyncio.sleep(0.02)
        return True

    async def commander() -> None:
        nonlocal sent
        share = plan.commands / plan.cuts
        last = commands[-1]
        for cmd in commands:
            # a share of commands per cut: do not run ahead of the cutter
            # (an idle spell lets one more through: the command that ends it)
            await wait_for(
                lambda cmd=cmd: (
                    cuts_started >= math.floor(cmd.n / share) or chaos_state["idle_cmd"] is False
                ),
                60,
            )
            if cmd is last and plan.idle:
                # the last one after every cut, once the device sat idle a while
                await wait_for(lambda: chaos_state["done"], 120)
                await wait_for(lambda: len(onlines) > chaos_state["seen_at_reset"], 60)
                chaos_state["quiet_until"] = online_times[-1] + plan.idle
            # the device sits idle after some resumptions
            if loop.time() < chaos_state["quiet_until"]:
                await wait_for(lambda: loop.time() >= chaos_state["quiet_until"], plan.idle + 1)
                cmd.after_idle = True
                chaos_state["idle_cmd"] = cmd
            _send(cmd)
            cmd.sent = loop.time()
            sent += 1
            await asyncio.sleep(rng.uniform(*plan.interval))

    def _send(cmd: Command) -> None:
        msg = ctl.make_message(mto=device_full, mbody=COMMAND, mtype="chat")
        msg["id"] = f"cmd-{run}-{cmd.n}"
        msg["thread"] = cmd.thread
        msg.send()

    async def cutter() -> None:
        nonlocal cuts_started
        share = plan.commands / plan.cuts
        for k in range(plan.cuts):
            if k:  # back online since the last reset (its RST seen, a new session up)
                await wait_for(
                    lambda: len(onlines) > chaos_state["seen_at_reset"], plan.online_wait
                )
                if plan.idle and k % plan.idle_every == plan.idle_every // 2:
                    chaos_state["quiet_until"] = loop.time() + plan.idle
                    chaos_state["idle_cmd"] = False  # wanted: the commander sends it
                    # no cut before the command that ends the idle spell is answered
                    await wait_for(
                        lambda: (
                            isinstance(chaos_state["idle_cmd"], Command)
                            and bool(chaos_state["idle_cmd"].answers)
                        ),
                        plan.idle + plan.settle,
                    )
            await wait_for(lambda k=k: sent >= (k + 0.5) * share, 120)
            await wait_for(lambda: agent.client.online, plan.online_wait)
            up = rng.uniform(*plan.up)
            if online_times and loop.time() - online_times[-1] < up:
                await asyncio.sleep(up - (loop.time() - online_times[-1]))
            cuts_started += 1
            cut_times.append(loop.time())
            links = proxy.blackhole()
            res.cuts_with_link += links > 0
            log.info("cut %d: dark (%d links, online %s)", k + 1, links, agent.client.online)
            await asyncio.sleep(rng.uniform(*plan.dark))
            chaos_state["seen_at_reset"] = len(onlines)
            proxy.reset()
            log.info("cut %d: reset", k + 1)
            res.cuts += 1
        chaos_state["done"] = True

    try:
        await asyncio.wait_for(ready, 30)
        await agent.client.wait_online(30)
        halt = halt or asyncio.Event()
        take_signals(halt)  # after the agent took them
        limit = plan.commands * plan.interval[1] * 2 + plan.cuts * (
            plan.dark[1] + plan.online_wait + plan.idle
        )
        work: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(commander(), cutter()))
        halted: asyncio.Future[Any] = asyncio.ensure_future(halt.wait())
        await asyncio.wait({work, halted}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            res.timeout, res.interrupted = not halt.is_set(), halt.is_set()
        if not halt.is_set():
            # the last answers (bounded), then a quiet spell for late duplicates
            await wait_for(lambda: all(c.answers for c in commands) or halt.is_set(), plan.settle)
            await wait_for(lambda: loop.time() - news[0] > plan.quiet or halt.is_set(), plan.settle)
    finally:
        res.proxy = proxy.counters()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ctl.disconnect(), 5)
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(agent_task, 30)
        await proxy.stop()
        pkg.removeHandler(handler)
        log.removeHandler(handler)
        handler.close()

    res.commands = sum(1 for c in commands if c.sent is not None)
    latencies = []
    for c in commands:
        if c.sent is None:
            continue
        kinds = [k for _, k in c.answers]
        if c.at_device > 1:
            res.delivered_twice += 1
        if not kinds:
            res.lost += 1
        elif len(kinds) > 1:
            res.duplicated += 1
        elif kinds[0] == "result":
            res.answered += 1
        elif kinds[0] == "bounced":
            res.bounced += 1
        else:
            res.refused += 1
        if c.answers:
            latencies.append(c.answers[0][0] - c.sent)
            first = c.answers[0][0]
            cut_before = max((t for t in cut_times if t < c.sent), default=-math.inf)
            up_before = max((t for t in online_times if t < c.sent), default=-math.inf)
            link_up = up_before > cut_before and not any(c.sent <= t <= first for t in cut_times)
            if first - c.sent > 0.5 and link_up:
                res.slow.append(
                    {
                        "command": c.n,
                        "sent": round(c.sent - started, 3),
                        "latency": round(first - c.sent, 3),
                        "after_idle": c.after_idle,
                    }
                )
            if c.after_idle:
                res.idle_to_answer.append(round(c.answers[0][0] - c.sent, 3))
        if len(kinds) != 1 or kinds[0] != "result":
            res.problems.append(
                {
                    "command": c.n,
                    "thread": c.thread,
                    "sent": round(c.sent - started, 3),
                    "at_device": c.at_device,
                    "answers": [(round(t - started, 3), k) for t, k in c.answers],
                }
            )
    # from each <resumed/> with commands outstanding to the next answer, unless
    # the link was cut again before it came
    answer_times = sorted(t for c in commands for t, _ in c.answers)
    for r in resumes:
        outstanding = any(
            c.sent is not None and c.sent < r and not any(t < r for t, _ in c.answers)
            for c in commands
        )
        nxt = next((t for t in answer_times if t >= r), None)
        cut = next((t for t in cut_times if t >= r), math.inf)
        if outstanding and nxt is not None and nxt < cut:
            res.resume_to_answer.append(round(nxt - r, 3))
    res.resumed = sum(1 for o in onlines if o.resumed)
    res.fresh = sum(1 for o in onlines[1:] if not o.resumed)
    res.reconnects = len(onlines) - 1
    if latencies:
        res.answer_latency_median = round(statistics.median(latencies), 3)
        res.answer_latency_max = round(max(latencies), 3)
    res.seconds = round(loop.time() - started, 1)
    return res


# ------------------------------------------------------------------ reporting
def summarize(results: list[RunResult]) -> dict[str, Any]:
    """Totals over runs of one server."""
    r2a = sorted(x for r in results for x in r.resume_to_answer)
    keys = ("cuts", "cuts_with_link", "commands", "answered", "lost", "duplicated",
            "refused", "bounced", "delivered_twice", "unattributed", "without_reference",
            "reconnects", "resumed", "fresh")  # fmt: skip
    out: dict[str, Any] = {"runs": len(results)}
    for k in keys:
        out[k] = sum(getattr(r, k) for r in results)
    out["timeouts"] = sum(1 for r in results if r.timeout)
    idle = sorted(x for r in results for x in r.idle_to_answer)
    out["idle_to_answer"] = {
        "count": len(idle),
        "median": round(statistics.median(idle), 3) if idle else None,
        "max": idle[-1] if idle else None,
    }
    out["failed_runs"] = [r.run for r in results if not r.ok]
    out["resume_to_answer"] = {
        "count": len(r2a),
        "median": round(statistics.median(r2a), 3) if r2a else None,
        "p90": round(r2a[int(0.9 * (len(r2a) - 1))], 3) if r2a else None,
        "max": r2a[-1] if r2a else None,
    }
    return out


def human(server: str, s: dict[str, Any]) -> str:
    r = s["resume_to_answer"]
    lines = [
        f"{server}: {s['runs']} runs, {s['cuts']} cuts ({s['cuts_with_link']} hit a link), "
        f"{s['commands']} commands",
        f"  answered once {s['answered']}, lost {s['lost']}, duplicated {s['duplicated']}, "
        f"refused {s['refused']}, bounced {s['bounced']}, unattributed {s['unattributed']}",
        f"  reconnects {s['reconnects']} ({s['resumed']} resumed, {s['fresh']} fresh), "
        f"delivered twice to the device {s['delivered_twice']}",
        f"  <resumed/> to next answer: median {r['median']} s, p90 {r['p90']} s, "
        f"max {r['max']} s ({r['count']} resumes with commands outstanding)",
        f"  a command after the device sat idle {s['idle_to_answer']['count']} times: answered "
        f"in median {s['idle_to_answer']['median']} s, max {s['idle_to_answer']['max']} s",
    ]
    if s["failed_runs"] or s["timeouts"]:
        lines.append(f"  FAILED runs: {s['failed_runs']} (timeouts {s['timeouts']})")
    return "\n".join(lines)


async def run_server(
    kind: str, runs: int, plan: Plan, logs: Path, verbose: bool = True
) -> list[RunResult]:
    results: list[RunResult] = []
    halt = asyncio.Event()
    take_signals(halt)
    with xmpp_server(kind, logs / f"{kind}-server") as server:
        for run in range(1, runs + 1):
            if halt.is_set():
                break
            r = await chaos_run(server, kind, run, plan, logs, halt)
            take_signals(halt)  # the agent's handlers went with it
            if r.interrupted:
                break
            results.append(r)
            if verbose:
                print(
                    f"{kind} run {run}: {r.commands} commands, {r.cuts} cuts, "
                    f"lost {r.lost}, duplicated {r.duplicated}, refused {r.refused}, "
                    f"bounced {r.bounced}, reconnects {r.reconnects} "
                    f"({r.resumed} resumed), {r.seconds} s",
                    flush=True,
                )
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cuts", type=int, default=8)
    ap.add_argument("--commands", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--keepalive",
        type=float,
        default=Plan.keepalive,
        help="the device's [connection] keepalive and keepalive_timeout, seconds "
        f"(default {Plan.keepalive})",
    )
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    ap.add_argument("--logs", type=Path, help="keep the device logs here (default: a temp dir)")
    args = ap.parse_args(argv)
    if args.cuts < 1 or args.commands < args.cuts or args.runs < 1:
        ap.error("need --runs >= 1 and --commands >= --cuts >= 1")
    plan = Plan(cuts=args.cuts, commands=args.commands, seed=args.seed, keepalive=args.keepalive)
    servers = list(SERVERS) if args.server == "both" else [args.server]
    logs = args.logs or Path(tempfile.mkdtemp(prefix="stanzalink-chaos-"))
    out: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "plan": asdict(plan),
        "servers": {},
    }
    failed = False
    for kind in servers:
        results = asyncio.run(run_server(kind, args.runs, plan, logs))
        s = summarize(results)
        out["servers"][kind] = {"summary": s, "runs": [asdict(r) for r in results]}
        failed = failed or bool(s["failed_runs"])
        print(human(kind, s), flush=True)
        if len(results) < args.runs:
            print(f"{kind}: interrupted after {len(results)} runs", flush=True)
            failed = True
            break
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"results: {args.json}; device logs: {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

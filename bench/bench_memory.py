"""Idle memory: how far a connected idle stanzalink stands above the floor
(the interpreter with ``asyncio`` and ``ssl`` imported), measured beside
that floor in one run.

Every row is a fresh process, held idle while this script reads its
``/proc/PID/status`` VmRSS and ``/proc/PID/smaps_rollup`` Pss from outside
(so under qemu-user the emulator's own memory is in every row alike):

- ``bare``: the interpreter, nothing imported;
- ``ssl``: ``import ssl``;
- ``floor``: ``import asyncio, ssl``;
- ``floor_tls``: the floor holding what any client over TLS holds: a
  context with the CA and a TLS connection to Prosody, the stream opened;
- ``raw``: a raw minimal XMPP client, no library (``bench/bench_startup.py``'s
  floor, reused): STARTTLS, SCRAM with ``_hashlib`` (as stanzalink.digest), bind, the
  stream management ``<enable/>``, then idle in an asyncio loop as the other
  rows are.  What any Python XMPP client with TLS and SCRAM pays: the
  physical floor (what remains above it is stanzalink's own);
- ``client``: the session benchmark's client (``stanzalink.aio.client``),
  connected to Prosody over STARTTLS with SCRAM, bound, idle;
- ``agent``: ``stanzalink run`` (as the installed script runs it) with
  the default config (only the keys it needs: ``[account]``, ``[server]``,
  ``[access]``), online and idle;
- ``agent_all``: ``stanzalink run`` with every feature turned on (the
  config ``bench/bench_idle.py`` uses, from ``bench/configs.py``);
- per feature: an agent built with only that feature (and the features it
  requires) from the every-feature config, minus an agent with none.

Medians of ``--rounds`` interleaved rounds, after one warm-up round that
leaves every module's bytecode compiled.  Then ``python -X importtime``
of the agent's start-up: the modules it loads beyond the floor, the
costliest first.

``--target arm64|armhf`` runs every row under qemu-user with Debian's
Python for that target, from the environment ``scripts/cross/build-and-test.sh``
builds (``build/cross/<arch>/sysroot`` and ``site``; ``--cross-cache``
changes where), against a Prosody on this host's loopback (qemu-user
shares it).  Build that first: ``scripts/cross/build-and-test.sh arm64 --no-tests``.

Usage: python bench/bench_memory.py [--rounds N] [--target arm64|armhf]
       [--json FILE] [--readme]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from bench_startup import FLOOR as STARTUP_FLOOR  # noqa: E402
from configs import default_config, full_config  # noqa: E402
from readme import replace_section  # noqa: E402
from stanzalink_testing.prosody import throwaway_prosody  # noqa: E402

# how a child holding a connection waits for stdin to close: a reader on
# the event loop, as the agent waits (no thread: asyncio's thread pool would
# add its thread and modules to the row)
WAIT = (
    "async def stdin_closed():\n"
    "    import os\n"
    "    loop = asyncio.get_running_loop()\n"
    "    done = loop.create_future()\n"
    "    loop.add_reader(0, lambda: done.done() or os.read(0, 4096) or done.set_result(None))\n"
    "    await done\n"
    "    loop.remove_reader(0)\n"
)

# a child that imports ``what``, says so, and waits for stdin to close
HOLD = "import sys{what}\nsys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()\n"

CLIENT = r"""
import asyncio, json, sys
server = json.loads(sys.argv[1])
{wait}async def main():
    from stanzalink.aio.client import Client, ClientConfig
    from stanzalink.jid import JID
    c = Client(ClientConfig(jid=JID.parse("carol@" + server["domain"]), password="carol-pw",
               host="127.0.0.1", port=server["port"], ca_file=server["ca"], reconnect=False))
    await c.start(); await c.wait_online(60)
    sys.stdout.write("ready\n"); sys.stdout.flush()
    await stdin_closed()
    await c.close()
asyncio.run(main())
"""

# the installed ``stanzalink`` command: pip's console-script wrapper
STANZALINK = (
    "import sys\nfrom stanzalink.cli import main\nsys.argv[0] = 'stanzalink'\nsys.exit(main())\n"
)

# the floor with what every XMPP client over TLS holds: a context with the
# CA, a TLS connection (Prosody's direct-TLS port), the stream opened
FLOOR_TLS = r"""
import asyncio, json, ssl, sys
server = json.loads(sys.argv[1])
{wait}async def main():
    ctx = ssl.create_default_context(cafile=server["ca"])
    r, w = await asyncio.open_connection("127.0.0.1", server["tls_port"], ssl=ctx,
                                         server_hostname=server["domain"].encode())
    w.write(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' version='1.0' "
             "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>"
             % server["domain"]).encode())
    await r.read(4096)
    sys.stdout.write("ready\n"); sys.stdout.flush()
    await stdin_closed()
    w.close()
asyncio.run(main())
"""

CLIENT, FLOOR_TLS = (child.replace("{wait}", WAIT) for child in (CLIENT, FLOOR_TLS))

# the raw login of bench_startup.py's floor (TCP, STARTTLS, SCRAM, bind,
# <enable/>, nothing imported beyond asyncio, ssl and what they import), kept
# open and idle in an event loop the way the other rows hold their connection
_LOGIN_CLOSES = '    s.sendall(b"</stream:stream>"); s.close()\n    return t_bound, mech\n'
assert _LOGIN_CLOSES in STARTUP_FLOOR, "bench_startup.py's floor changed: update RAW_CLIENT"
RAW_CLIENT = STARTUP_FLOOR.replace(_LOGIN_CLOSES, "    return s, mech\n").split(
    "t_bound, mech = main()"
)[0] + (
    "s, mech = main()\n" + WAIT + "async def idle():\n"
    "    sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "    await stdin_closed()\n"
    "asyncio.run(idle())\n"
    "s.sendall(b'</stream:stream>'); s.close()\n"
)

# ``stanzalink run`` (cli/run.py's cmd_run) with the features given in argv[2]
# (JSON "module:Class" specs) instead of the agent's own choice
AGENT_WITH = r"""
import asyncio, json, logging, sys
from stanzalink.agent import Agent, load_config, load_feature
from stanzalink.cli.run import setup_run_logging
cfg = load_config(sys.argv[1])
recent = setup_run_logging(logging.INFO)
agent = Agent(cfg, features=[load_feature(s) for s in json.loads(sys.argv[2])], recent_log=recent)
asyncio.run(agent.run())
"""


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and Pss (KiB) of a process, read from outside it, and the part
    of its RSS in anonymous writable and executable mappings: qemu-user's
    translated-code buffer (none in a native process), the emulator's share
    that grows with every code path the guest runs."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    pss = cache = 0
    executable = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+(\s+\S.*)?$", line.rstrip())
        if head:
            executable = head.group(1).startswith("rwx") and not head.group(2)
        elif line.startswith("Pss:"):
            pss += int(line.split()[1])
        elif line.startswith("Rss:") and executable:
            cache += int(line.split()[1])
    return {"rss_kib": rss, "pss_kib": pss, "code_cache_kib": cache}


class Runner:
    """Starts the rows' processes: here, or under qemu-user."""

    def __init__(self, target: str | None, cross_cache: Path) -> None:
        self.target = target
        if target is None:
            self.python = [sys.executable]
            self.env = {**os.environ, "PYTHONPATH": str(ROOT / "agent"), "PYTHONHASHSEED": "0"}
            self.package = ROOT / "agent" / "stanzalink"
            self.stdlib: Path | None = None
            return
        qemu = {"arm64": "qemu-aarch64", "armhf": "qemu-arm"}[target]
        sysroot = cross_cache / target / "sysroot"
        site = cross_cache / target / "site"
        if not (sysroot / "usr/bin/python3.11").exists() or not (site / "stanzalink").is_dir():
            raise SystemExit(
                f"no cross environment in {cross_cache / target}: run "
                f"scripts/cross/build-and-test.sh {target} --no-tests first"
            )
        self.python = [qemu, "-L", str(sysroot), str(sysroot / "usr/bin/python3.11")]
        self.env = {**os.environ, "PYTHONPATH": str(site), "PYTHONHASHSEED": "0"}
        self.package = site / "stanzalink"
        self.stdlib = sysroot / "usr/lib/python3.11"

    def compile(self) -> None:
        subprocess.run([*self.python, "-m", "compileall", "-q", str(self.package)], check=True)
        if self.stdlib is not None:
            # Debian compiles its stdlib when the package is installed; the
            # unpacked sysroot has none (3.11 bytecode is the same on every
            # architecture): compiled here, as on the device
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", "-j0", str(self.stdlib)],
                check=False,
                capture_output=True,
            )

    def hold(self, args: list[str], ready: str, log: Path, timeout: float) -> subprocess.Popen[str]:
        """A child that is ready when it prints ``ready`` on stdout (or, for
        ``stanzalink run``, writes it to its log on stderr)."""
        err = open(log, "w")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(
            [*self.python, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        if ready == "stdout":
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                p.kill()
                raise RuntimeError(f"{args[:2]} did not start:\n{log.read_text()}")
            return p
        while ready not in log.read_text():
            if p.poll() is not None or time.monotonic() > deadline:
                p.kill()
                raise RuntimeError(f"{args[:2]} not online:\n{log.read_text()}")
            time.sleep(0.1)
        return p


def stop(p: subprocess.Popen[str]) -> None:
    try:
        if p.stdin is not None:
            p.stdin.close()
        p.terminate()
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def feature_closure(spec: str) -> list[str]:
    """``spec`` with the features it requires, in the agent's order."""
    from stanzalink import agent

    every = {s: agent.load_feature(s) for s in agent.FEATURES}
    chosen = {spec}
    while True:
        needs = {n for s in chosen for n in every[s].requires}
        more = {s for s, c in every.items() if any(issubclass(c, n) for n in needs)} - chosen
        if not more:
            return [s for s in agent.FEATURES if s in chosen]
        chosen |= more


def importtime(runner: Runner, cfg: Path) -> list[dict[str, Any]]:
    """The modules ``stanzalink run``'s start-up (config, agent) loads beyond
    the floor, the costliest (own import time) first."""

    def modules(code: str) -> dict[str, tuple[int, int]]:
        out = subprocess.run(
            [*runner.python, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            env=runner.env,
            check=True,
        )
        found = {}
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if m:
                found[m.group(4)] = (int(m.group(1)), int(m.group(2)))
        return found

    floor = modules("import asyncio, ssl")
    code = (
        "import asyncio, ssl, logging\n"
        "from stanzalink.cli.run import setup_run_logging\n"
        "from stanzalink.agent import Agent, load_config\n"
        f"cfg = load_config({str(cfg)!r})\n"
        "setup_run_logging(logging.WARNING)\n"
        "async def main():\n    Agent(cfg)\n"
        "asyncio.run(main())\n"
    )
    agent = modules(code)
    rows = [
        {"module": name, "self_us": own, "cumulative_us": cum}
        for name, (own, cum) in agent.items()
        if name not in floor
    ]
    rows.sort(key=lambda r: -r["self_us"])
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    runner = Runner(args.target, Path(args.cross_cache))
    runner.compile()
    from stanzalink import agent as agent_module

    with throwaway_prosody(prefix="stanzalink-memory-") as prosody:
        root, ca = prosody.root, prosody.ca
        server = {
            "domain": prosody.domain,
            "port": prosody.port,
            "tls_port": prosody.tls_port,
            "ca": str(ca),
        }
        timeout = 60.0 if args.target is None else 300.0
        users = ["carol", "dflt", "full", "none"]
        features = {spec.rsplit(":", 1)[1]: spec for spec in agent_module.FEATURES}
        users += [f"f{i}" for i in range(len(features))]
        for u in users:
            prosody.register(u, f"{u}-pw")
        # what the installed `stanzalink` script runs (pip's console-script wrapper)
        cmd = ["-c", STANZALINK, "run", "--config"]
        full = functools.partial(full_config, root, server, name="memory bench")
        rows: dict[str, list[str]] = {
            "bare": ["-c", HOLD.format(what="")],
            "ssl": ["-c", HOLD.format(what="; import ssl")],
            "floor": ["-c", HOLD.format(what="; import asyncio, ssl")],
            "floor_tls": ["-c", FLOOR_TLS, json.dumps(server)],
            # bench_startup's floor reads argv[2] (a path, unused) and argv[3]
            "raw": ["-c", RAW_CLIENT, "0", ".", json.dumps(server)],
            "client": ["-c", CLIENT, json.dumps(server)],
            "agent": [*cmd, str(default_config(root, server, "dflt"))],
            "agent_all": [*cmd, str(full("full"))],
            "agent_none": ["-c", AGENT_WITH, str(full("none")), "[]"],
        }
        if args.target is None:
            # the server given by name, as a device's config gives it (the
            # lookup's own cost); not under qemu-user, whose sysroot may
            # not resolve the host's names
            byname = root / "byname.toml"
            byname.write_text(
                default_config(root, server, "dflt")
                .read_text()
                .replace('host = "127.0.0.1"', 'host = "localhost"')
            )
            rows["agent_byname"] = [*cmd, str(byname)]
        requires: dict[str, list[str]] = {}
        if not args.no_features:
            for i, (name, spec) in enumerate(features.items()):
                specs = feature_closure(spec)
                requires[name] = [s.rsplit(":", 1)[1] for s in specs if s != spec]
                cfg = full(f"f{i}")
                rows[f"feature:{name}"] = ["-c", AGENT_WITH, str(cfg), json.dumps(specs)]
        samples: dict[str, list[dict[str, int]]] = {name: [] for name in rows}
        for rnd in range(args.rounds + 1):  # round 0 warms up (bytecode)
            for name, argv in rows.items():
                # the agents say "online" in their log; the others print "ready"
                ready = "online" if name.startswith(("agent", "feature:")) else "stdout"
                log = root / f"{name.replace(':', '_')}.log"
                p = runner.hold(argv, ready, log, timeout)
                time.sleep(args.settle)  # login, roster, presence, vCard settle
                mem = memory_of(p.pid)
                stop(p)
                if rnd:
                    samples[name].append(mem)
            print(f"round {rnd} done", file=sys.stderr, flush=True)
        importtimes = importtime(runner, default_config(root, server, "dflt"))

    def med(name: str, key: str = "rss_kib") -> float:
        return statistics.median(s[key] for s in samples[name]) / 1024

    for runs in samples.values():
        for sample in runs:
            sample["less_cache_kib"] = sample["rss_kib"] - sample["code_cache_kib"]
    # over the floor: RSS less qemu's code cache (the same as RSS natively)
    floor, floor_tls = med("floor", "less_cache_kib"), med("floor_tls", "less_cache_kib")
    raw = med("raw", "less_cache_kib")
    table = {
        name: {
            "rss_mib": round(med(name), 2),
            "pss_mib": round(med(name, "pss_kib"), 2),
            "code_cache_mib": round(med(name, "code_cache_kib"), 2),
            "rss_less_code_cache_mib": round(med(name, "less_cache_kib"), 2),
            "over_floor_mib": round(med(name, "less_cache_kib") - floor, 2),
            "over_floor_tls_mib": round(med(name, "less_cache_kib") - floor_tls, 2),
            "over_raw_mib": round(med(name, "less_cache_kib") - raw, 2),
            "rss_samples_kib": [s["rss_kib"] for s in samples[name]],
        }
        for name in samples
        if not name.startswith("feature:")
    }
    none = med("agent_none")
    per_feature = {
        name.split(":", 1)[1]: {
            "rss_mib": round(med(name), 2),
            "over_agent_none_mib": round(med(name) - none, 2),
            "with": requires[name.split(":", 1)[1]],
        }
        for name in samples
        if name.startswith("feature:")
    }
    return {
        "target": args.target or platform.machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "python": subprocess.run(
            [
                *runner.python,
                "-c",
                "import sys, platform; print(sys.version.split()[0], platform.machine())",
            ],
            capture_output=True,
            text=True,
            env=runner.env,
            check=True,
        ).stdout.strip(),
        "rounds": args.rounds,
        "settle_s": args.settle,
        "rows": table,
        "features": per_feature,
        "targets": {
            "client_over_floor_mib": 1.5,
            "agent_over_floor_mib": 4.0,
        },
        "importtime_beyond_floor": importtimes[:25],
        "importtime_modules_beyond_floor": len(importtimes),
    }


ROW_NAMES = [
    ("bare", "bare interpreter"),
    ("ssl", "`import ssl`"),
    ("floor", "`import asyncio, ssl` (the floor)"),
    ("floor_tls", "the floor connected over TLS, stream opened"),
    ("raw", "raw XMPP client, no library: STARTTLS, SCRAM, bound, SM on, idle (the raw floor)"),
    ("client", "session client, connected idle"),
    ("agent", "`stanzalink run`, default config, connected idle"),
    ("agent_byname", "the same, its server given by name (`localhost`)"),
    ("agent_all", "`stanzalink run`, every feature on, connected idle"),
    ("agent_none", "agent with no feature, connected idle"),
]


NAMES = {"arm64": "aarch64 under qemu-user", "armhf": "armv7 under qemu-user"}


def markdown(results: list[dict[str, Any]]) -> str:
    """One table: a column per target (this host first); under qemu-user
    a column of the whole RSS and one less the emulator's code cache,
    which the over-the-floor figures use."""
    heads: list[str] = []
    for r in results:
        name = NAMES.get(r["target"], r["target"])
        heads += [name] if r["target"] not in NAMES else [name, f"{name}, less its code cache"]
    lines = [
        "| RSS, MiB (over the floor; over the raw floor) | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    for key, label in ROW_NAMES:
        cells = []
        for r in results:
            row = r["rows"].get(key)
            emulated = r["target"] in NAMES
            if row is None:
                cells += [""] * (2 if emulated else 1)
                continue
            if emulated:
                cells.append(f"{row['rss_mib']:.1f}")
            value = row.get("rss_less_code_cache_mib", row["rss_mib"])
            if key in ("bare", "ssl", "floor"):
                cells.append(f"{value:.1f}")
            elif key in ("floor_tls", "raw") or "over_raw_mib" not in row:
                cells.append(f"{value:.1f} (+{row['over_floor_mib']:.1f})")
            else:
                cells.append(
                    f"{value:.1f} (+{row['over_floor_mib']:.1f}; +{row['over_raw_mib']:.1f})"
                )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    host = results[0]
    if host.get("features"):
        lines += [
            "",
            "| feature (with what it requires) | RSS over the agent with none, MiB |",
            "|---|---:|",
        ]
        for name, f in host["features"].items():
            extra = f" (+ {', '.join(f['with'])})" if f["with"] else ""
            over = round(f["over_agent_none_mib"], 1) or 0.0  # no "-0.0"
            lines.append(f"| {name}{extra} | {over:+.1f} |")
    return "\n".join(lines) + "\n"


RESULTS = ROOT / "bench" / "results"


def readme_section() -> str:
    """The README's memory table from the results on file: this host's
    run and the qemu-user runs that exist."""
    runs = [
        json.loads(f.read_text())
        for f in (
            RESULTS / "memory.json",
            RESULTS / "memory_arm64.json",
            RESULTS / "memory_armhf.json",
        )
        if f.exists()
    ]
    host = runs[0]
    when = ", ".join(f"{r['target']} on {r['date']}" for r in runs)
    lines = [
        f"Measured with `python bench/bench_memory.py` ({when}; Python {host['python']} here, "
        "Debian's Python 3.11 under qemu-user for the ARM columns, with bytecode compiled), "
        "Prosody on this host's loopback: RSS of each process read from outside it "
        "(`/proc/PID/status`) after 2 idle seconds, medians of "
        f"{host['rounds']} interleaved rounds. Under qemu-user every row includes the emulator, "
        "so read an ARM column against its own bare interpreter and floor; its second "
        "column leaves out qemu's buffer of translated code, which grows with every code "
        "path run, and gives the figures over the floor. "
        "Numbers: [bench/results/memory.json](bench/results/memory.json) "
        "(and `memory_arm64.json`, `memory_armhf.json`).",
        "",
        markdown(runs),
    ]
    if host.get("features"):
        lines += [
            "A feature whose module builds with ElementTree (ad-hoc commands, HTTP, Jingle, "
            "SOCKS5 bytestreams, hashes) counts its "
            "0.55 MiB, with `_elementtree` and `pyexpat`, in its row: the first of them to "
            "load brings it for all. The default agent's login, presence, roster, disco, "
            "caps, ping, version and time build without it.",
            "",
        ]
    # the earlier runs kept on file: what each change left behind
    earlier: list[tuple[str, Any]] = [
        (
            "memory_before.json",
            lambda w: (
                "Before the agent loaded features lazily: the default agent "
                f"{w['agent']['rss_mib']:.1f} MiB (+{w['agent']['over_floor_mib']:.1f}), "
                f"every feature on {w['agent_all']['rss_mib']:.1f}."
            ),
        ),
        (
            "memory_before_cuts.json",
            lambda w: (
                "Before the config joined its paths without `pathlib` and the command "
                "line found the terminal's width without `shutil`: the default agent "
                f"{w['agent']['rss_mib']:.1f} MiB (+{w['agent']['over_floor_mib']:.1f}; "
                f"+{w['agent']['over_raw_mib']:.1f} over the raw floor)."
            ),
        ),
        (
            "memory_before_lean.json",
            lambda w: (
                "Before the session client's login loaded no ElementTree, no resolver "
                f"and no Unicode tables for ASCII: the client {w['client']['rss_mib']:.1f} MiB "
                f"(+{w['client']['over_raw_mib']:.2f} over the raw floor), the default agent "
                f"{w['agent']['rss_mib']:.1f} (+{w['agent']['over_raw_mib']:.2f})."
            ),
        ),
        (
            "memory_before_idle.json",
            lambda w: (
                "Before the agent came online and idled without argparse, ElementTree, "
                "datetime.py and dataclasses, and the session client loaded what it uses "
                f"with its first use: the client {w['client']['rss_mib']:.1f} MiB "
                f"(+{w['client']['over_raw_mib']:.2f} over the raw floor), the default agent "
                f"{w['agent']['rss_mib']:.1f} (+{w['agent']['over_raw_mib']:.2f})."
            ),
        ),
        (
            "memory_before_field.json",
            lambda w: (
                "Before the server's name went to `ssl` as bytes, `tomllib` left after the "
                "config's read, and the vCard and the features' config sections loaded only "
                f"when used: the client {w['client']['rss_mib']:.1f} MiB "
                f"(+{w['client']['over_floor_mib']:.1f}), the default agent "
                f"{w['agent']['rss_mib']:.1f} (+{w['agent']['over_floor_mib']:.1f}). The raw "
                f"floor was then {w['raw']['rss_mib']:.1f}: it held the `idna` codec (its "
                "`getaddrinfo` of a `str`) and asyncio's thread pool (its wait for stdin), "
                "as the session client's row did."
            ),
        ),
    ]
    for name, said in earlier:
        if (RESULTS / name).exists():
            was = json.loads((RESULTS / name).read_text())["rows"]
            lines += [f"{said(was)} (The same bench: [{name}](bench/results/{name}).)", ""]
    goal = host["targets"]
    lines += [
        "| goal | target | where | over the floor | met | over the raw floor | met there |",
        "|---|---:|---|---:|---|---:|---|",
    ]
    for row, key, label in (
        ("client", "client_over_floor_mib", "session client"),
        ("agent", "agent_over_floor_mib", "default agent"),
    ):
        for r in runs:
            got = r["rows"][row]["over_floor_mib"]
            met = "yes" if got <= goal[key] else "no"
            over_raw = r["rows"][row].get("over_raw_mib")
            beside = "" if over_raw is None else f"+{over_raw:.2f} MiB"
            met_raw = "" if over_raw is None else ("yes" if over_raw <= goal[key] else "no")
            where = NAMES.get(r["target"], r["target"])
            lines.append(
                f"| {label} | ≤ {goal[key]} MiB | {where} | +{got:.2f} MiB | {met} "
                f"| {beside} | {met_raw} |"
            )
    raw_row = host["rows"].get("raw")
    if raw_row is not None:
        raw = raw_row["over_floor_mib"]
        client = host["rows"]["client"]["over_raw_mib"]
        lines += [
            "",
            f"The raw floor, a minimal XMPP client with no library, is itself +{raw:.1f} MiB "
            f"over the floor on {host['target']}: what any Python XMPP client pays for TLS and "
            "SCRAM, measured in the same run. The client's target is under it, so no client "
            "can meet it as written. Read from the raw floor, the targets give the library "
            "1.5 MiB for a session and 4 for the agent with the default config, and both hold "
            "on all three. As written, the agent's target leaves "
            f"{goal['agent_over_floor_mib'] - raw:.2f} MiB over the raw floor, "
            f"{goal['agent_over_floor_mib'] - raw - client:.2f} more than the session client "
            "the agent is built on takes alone.",
        ]
    return "\n".join(lines).rstrip() + "\n"


def write_readme() -> None:
    if not replace_section("memory", readme_section().rstrip("\n")):
        raise SystemExit("README.md has no memory section markers")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before reading")
    ap.add_argument("--target", choices=["arm64", "armhf"])
    ap.add_argument("--cross-cache", default=str(ROOT / "build" / "cross"))
    ap.add_argument("--no-features", action="store_true", help="skip the per-feature rows")
    ap.add_argument("--json", help="write the results here (default bench/results/memory*.json)")
    ap.add_argument(
        "--readme",
        action="store_true",
        help="only rewrite README.md's memory section from the results on file",
    )
    args = ap.parse_args()
    if args.readme:
        write_readme()
        return 0
    results = run(args)
    out = Path(
        args.json
        or ROOT
        / "bench"
        / "results"
        / (f"memory_{args.target}.json" if args.target else "memory.json")
    )
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps({k: v for k, v in results.items() if k != "importtime_beyond_floor"}, indent=2)
    )
    print(markdown([results]))
    print("importtime, beyond the floor (self us, module):")
    for r in results["importtime_beyond_floor"][:15]:
        print(f"  {r['self_us']:7d}  {r['module']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the parser benchmarks and publish the results.

    python bench/run.py            # the full run (make bench)
    python bench/run.py --quick    # a smoke test: 5,000 stanzas, 1 repetition

The full run generates the corpus (bench/corpus.py), times the Python-level
parsers side by side in this process (bench/bench_parsers.py), measures
each one's memory in a child process, builds and runs the C benchmark
(bench/c), then writes bench/results/parsers.json and parsers.png and
rewrites the part of README.md between ``<!-- bench:parsers:start -->`` and
``<!-- bench:parsers:end -->``.  ``--quick`` writes to bench/results/tmp/
and leaves README.md alone.  A failed check (parsers disagreeing on the
stanzas they saw, a parser or build failing) exits with status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import bench_inbound
import bench_parsers
import corpus
from bench_parsers import BenchError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
START = "<!-- bench:parsers:start -->"
END = "<!-- bench:parsers:end -->"

# the project's goals, as ratios measured in one run; a retired goal is
# still measured and shown, with why it no longer counts
GOALS: list[tuple[str, str, float, str | None]] = [
    (
        "native_vs_etree_stanzas",
        "native StreamParser vs ElementTree pull loop (stanzas/s)",
        10.0,
        None,
    ),
    ("native_vs_pyexpat_mb", "native StreamParser vs pyexpat with no handlers (MB/s)", 3.0, None),
    (
        "native_read_vs_etree_stanzas",
        "native StreamParser with every element read vs ElementTree pull loop (stanzas/s)",
        1.0,
        None,
    ),
    (
        "c_tokenizer_vs_libexpat_mb",
        "C tokenizer alone vs libexpat with no handlers (MB/s)",
        10.0,
        "the C speed is no longer where a message's cost is",
    ),
]


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------ machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    import pyexpat

    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "pyexpat_expat_version": pyexpat.EXPAT_VERSION,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg_start": list(os.getloadavg()),
        "git_commit": _git_commit(),
        "versions": {
            name: _version(name) for name in ("stanzalink", "slixmpp", "cffi", "matplotlib")
        },
    }


# ---------------------------------------------------------------------- C
def run_c(corpus_file: Path, reps: int, expected: int) -> dict[str, Any]:
    """Build bench/c and run it; {"skipped": reason} when it cannot run."""
    tokenizer_c = ROOT / "native" / "src" / "tokenizer.c"
    if not tokenizer_c.exists():
        return {"skipped": "native/src/tokenizer.c does not exist yet"}
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        return {"skipped": "make or a C compiler is missing"}
    build = subprocess.run(
        ["make", "-s", "-C", str(HERE / "c")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        raise BenchError(f"building bench/c failed:\n{build.stdout}{build.stderr}")
    cmd = [
        str(HERE / "c" / "bench_tokenizer"),
        str(corpus_file),
        str(reps),
        str(bench_parsers.CHUNK),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise BenchError(f"bench/c/bench_tokenizer failed:\n{proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    if result["stanzas"] != expected:
        raise BenchError(
            f"the C tokenizer saw {result['stanzas']} stanzas, the corpus has {expected}"
        )
    result["command"] = "make -C bench/c && bench/c/bench_tokenizer CORPUS " + " ".join(cmd[2:])
    return result


# ------------------------------------------------------------------ ratios
def ratios(rows: dict[str, Any], c: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: str, b: str, metric: str) -> float | None:
        if a in rows and b in rows:
            return float(rows[a][metric] / rows[b][metric])
        return None

    return {
        "native_vs_etree_stanzas": ratio("stanzalink-native", "etree-pull", "stanzas_per_s"),
        "native_vs_pyexpat_mb": ratio("stanzalink-native", "pyexpat-nohandlers", "mb_per_s"),
        "native_vs_slixmpp_stanzas": ratio("stanzalink-native", "slixmpp", "stanzas_per_s"),
        "native_vs_expat_backend_stanzas": ratio(
            "stanzalink-native", "stanzalink-expat", "stanzas_per_s"
        ),
        "native_read_vs_etree_stanzas": ratio(
            "stanzalink-native-read", "etree-pull", "stanzas_per_s"
        ),
        "c_tokenizer_vs_libexpat_mb": c.get("ratio_mb_s_vs_libexpat"),
        "c_tokenizer_vs_libexpat_ns_mb": c.get("ratio_mb_s_vs_libexpat_ns"),
    }


def goals(r: dict[str, float | None]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "goal": text,
            "target": target,
            "measured": r.get(key),
            "met": None if r.get(key) is None else bool((r[key] or 0.0) >= target),
            "retired": retired,
        }
        for key, text, target, retired in GOALS
    ]


def _retired_note(g: dict[str, Any], c: dict[str, Any]) -> str:
    """The met cell of a retired goal: why, with this run's figures."""
    note = f"retired: {g['retired']}"
    if g["key"] == "c_tokenizer_vs_libexpat_mb" and "stanzalink" in c:
        note += f" ({c['stanzalink']['mb_per_s']:.0f} MB/s with every check"
        if c.get("ratio_mb_s_vs_pugixml"):
            note += (
                f", {c['ratio_mb_s_vs_pugixml']:.2f}x pugixml, which checks neither "
                "namespaces nor UTF-8"
            )
        note += ")"
    return note


# -------------------------------------------------------------------- plot
def plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = result["python"]["rows"]
    c = result["c"]
    has_c = "stanzalink" in c
    fig, axes = plt.subplots(
        1,
        2 if has_c else 1,
        figsize=(13 if has_c else 8, 4.6),
        gridspec_kw={"width_ratios": [3, 2]} if has_c else None,
        squeeze=False,
    )
    ax = axes[0][0]
    keys = list(rows)[::-1]
    med = [rows[k]["stanzas_per_s"] / 1e3 for k in keys]
    lo = [
        m - result["meta"]["stanzas"] / rows[k]["max_s"] / 1e3
        for k, m in zip(keys, med, strict=True)
    ]
    hi = [
        result["meta"]["stanzas"] / rows[k]["min_s"] / 1e3 - m
        for k, m in zip(keys, med, strict=True)
    ]
    colors = [
        ("#1f77b4" if rows[k]["in_goals"] else "#9ecae1")
        if k.startswith("stanzalink")
        else "#999999"
        for k in keys
    ]
    ax.barh([rows[k]["label"] for k in keys], med, xerr=[lo, hi], color=colors, capsize=3)
    for i, k in enumerate(keys):
        ax.text(
            med[i] + hi[i],
            i,
            f"  {med[i]:,.0f}k/s  {rows[k]['mb_per_s']:.1f} MB/s",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("thousand stanzas per second (median; bars: min to max)")
    ax.set_xlim(0, max(med) * 1.45)
    ax.set_title(
        f"Python level: {result['meta']['stanzas']:,} stanzas, {result['meta']['mb']:.1f} MB "
        f"in {bench_parsers.CHUNK}-byte chunks",
        fontsize=10,
    )
    if has_c:
        ax2 = axes[0][1]
        peers = c.get("peers", {})
        in_place = set(c.get("peers_in_place", []))
        labels = [
            _C_PEER_LABELS.get(k, k) + (",\nwhole buffer in place" if k in in_place else "")
            for k in peers
        ][::-1]
        labels += [
            "libexpat + ns,\nno handlers",
            "libexpat,\nno handlers",
            "stanzalink\nsl_tok_feed",
        ]
        vals = [peers[k]["mb_per_s"] for k in peers][::-1]
        vals += [c[n]["mb_per_s"] for n in ("libexpat_ns", "libexpat", "stanzalink")]
        ax2.barh(labels, vals, color=["#999999"] * (len(vals) - 1) + ["#1f77b4"])
        for i, v in enumerate(vals):
            ax2.text(v, i, f"  {v:.0f} MB/s", va="center", fontsize=8)
        ax2.set_xlim(0, max(vals) * 1.35)
        ax2.set_xlabel("MB/s (median)")
        ax2.set_title(f"C alone ({c.get('cflags', '').split()[0]})", fontsize=10)
    m = result["machine"]
    fig.suptitle(
        f"{m['cpu_model']}, Python {m['python']}, {m['pyexpat_expat_version']}, {m['date_utc']}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# how bench/c runs each peer (bench/c/peers.h); the in-place ones parse the
# whole corpus at once, so they are not held to the same work
_C_PEER_LABELS = {
    "libxml2": "libxml2 SAX2,\nno callbacks",
    "pugixml": "pugixml",
    "rapidxml": "RapidXML",
}
_C_PEER_WHAT = {
    "libxml2": "libxml2 push parser, SAX2 with no callbacks (streaming, namespaces)",
    "pugixml": "pugixml `parse_minimal`, whole buffer in place (no namespaces, no UTF-8 check)",
    "rapidxml": "RapidXML `parse<0>`, whole buffer in place (no namespaces, no UTF-8 check)",
}


# -------------------------------------------------------------- markdown
def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def _peak(mm: dict[str, Any]) -> str:
    if "peak_rss_above_baseline_kib" not in mm:
        return "n/a"
    text = f"{mm['peak_rss_above_baseline_kib']:,} KiB"
    if mm.get("maxrss_is_lower_bound"):
        text = "≥ " + text
    if mm.get("vmhwm_above_baseline_kib") is not None:
        text += f" ({mm['vmhwm_above_baseline_kib']:,})"
    return text


def markdown(result: dict[str, Any], png_rel: str | None, json_rel: str) -> str:
    m = result["machine"]
    meta = result["meta"]
    rows = result["python"]["rows"]
    mem = result["memory"]
    c = result["c"]
    r = result["ratios"]
    lines = [
        f"Measured with `{meta['command']}` on {m['date_utc'][:10]}: {m['cpu_model']} "
        f"({m['cpu_count']} cores), Python {m['python']}, {m['pyexpat_expat_version']}. "
        f"Corpus: {meta['stanzas']:,} stanzas, {meta['mb']:.1f} MB "
        f"({meta['bytes_per_stanza']:.0f} bytes per stanza) from `bench/corpus.py`, fed in "
        f"{bench_parsers.CHUNK}-byte chunks; median of {meta['reps']} interleaved repetitions "
        f"in one process, each sample at least a second of whole passes; every row checked to "
        f"see the same stanzas. What each row measures "
        f"and the caveats: [bench/README.md](bench/README.md); all numbers: "
        f"[{json_rel}]({json_rel}).",
        "",
        "| parser | MB/s | stanzas/s | spread | RSS after imports | peak RSS over baseline "
        "(VmHWM) | tracemalloc peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in rows.items():
        mm = mem.get(key, {})
        tm = mm.get("tracemalloc_peak_bytes")
        lines.append(
            f"| {row['label']} | {row['mb_per_s']:.1f} | {row['stanzas_per_s']:,.0f} "
            f"| ±{row['spread_pct'] / 2:.0f}% | {_mib(mm.get('rss_after_imports_kib'))} "
            f"| {_peak(mm)} "
            f"| {'n/a' if tm is None else f'{tm / 1024:.0f} KiB'} |"
        )
    for key, why in result["python"]["missing"].items():
        lines.append(f"| {key} | not measured: {why} | | | | | |")
    lines.append("")
    if "stanzalink" in c:
        lines += [
            f"The C tokenizer alone (`bench/c`, {c['cflags'].split()[0]}, "
            f"{c.get('compiler', '?')}, {c['expat_version']}, median of {c['reps']}, "
            f"{c.get('stanzalink_passes_per_sample', 1)} tokenizer passes a sample; "
            "peak tokenizer memory "
            f"{c['stanzalink_peak_memory_bytes'] / 1024:.0f} KiB):",
            "",
            "| C, same corpus and chunks | MB/s | ns/stanza |",
            "|---|---:|---:|",
            f"| stanzalink `sl_tok_feed` | {c['stanzalink']['mb_per_s']:.0f} "
            f"| {c['stanzalink']['ns_per_stanza']:,.0f} |",
            f"| libexpat, no handlers | {c['libexpat']['mb_per_s']:.0f} "
            f"| {c['libexpat']['ns_per_stanza']:,.0f} |",
            f"| libexpat with namespaces, no handlers | {c['libexpat_ns']['mb_per_s']:.0f} "
            f"| {c['libexpat_ns']['ns_per_stanza']:,.0f} |",
        ]
        for key, row in c.get("peers", {}).items():
            what = _C_PEER_WHAT.get(key, key)
            lines.append(f"| {what} | {row['mb_per_s']:.0f} | {row['ns_per_stanza']:,.0f} |")
        if c.get("peers_missing"):
            lines.append(f"| {c['peers_missing']} | not built (headers missing) | |")
        lines.append("")
    else:
        lines += [f"C benchmark not run: {c.get('skipped')}", ""]
    lines += ["| goal (ratio in this run) | target | measured | met |", "|---|---:|---:|---|"]
    for g in result["goals"]:
        met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
        if g.get("retired"):
            met = _retired_note(g, c)
        lines.append(f"| {g['goal']} | ≥ {g['target']:.0f}x | {_x(g['measured'])} | {met} |")
    lines += [
        "",
        f"Also: native vs slixmpp {_x(r['native_vs_slixmpp_stanzas'])} (stanzas/s), native vs "
        f"the expat backend {_x(r['native_vs_expat_backend_stanzas'])}, native with every "
        f"element read vs the ElementTree loop {_x(r['native_read_vs_etree_stanzas'])}.",
    ]
    peer_ratios = [
        f"{_C_PEER_LABELS.get(k, k).splitlines()[0].rstrip(',')} {_x(c.get(f'ratio_mb_s_vs_{k}'))}"
        for k in c.get("peers", {})
    ]
    if peer_ratios:
        lines[-1] += f" The C tokenizer vs {', '.join(peer_ratios)} (MB/s)."

    if png_rel:
        lines += ["", f"![parser benchmark]({png_rel})"]
    return "\n".join(lines)


def update_readme(section: str, start: str = START, end: str = END) -> bool:
    """Replace the text between the markers; False when they are missing."""
    if not README.exists():
        return False
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if text.count(start) != 1 or text.count(end) != 1 or not pattern.search(text):
        return False
    new = pattern.sub(lambda _m: f"{start}\n{section}\n{end}", text, count=1)
    if new != text:
        README.write_text(new, encoding="utf-8")
    return True


# -------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 5,000 stanzas, 1 repetition")
    ap.add_argument("-n", type=int, help="stanzas in the corpus (default 100000; quick 5000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, help="Python repetitions (default 5; quick 1)")
    ap.add_argument("--c-reps", type=int, help="C repetitions (default 10; quick 3)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory child processes")
    ap.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = ap.parse_args(argv)
    n = args.n or (5000 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 5)
    c_reps = args.c_reps or (3 if args.quick else 10)
    if n < 1 or reps < 1 or c_reps < 1:
        ap.error("-n, --reps and --c-reps must be positive")
    results_dir = HERE / "results"
    out_dir = results_dir / "tmp" if args.quick else results_dir
    tmp_dir = results_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    info = machine_info()
    log(f"machine: {info['cpu_model']}, {info['cpu_count']} cores, Python {info['python']}")

    corpus_file = tmp_dir / f"corpus-{n}-{args.seed}.xml"
    data = corpus.generate(n, args.seed)
    corpus_file.write_bytes(data)
    body = len(data) - len(corpus.header(args.seed)) - len(corpus.FOOTER)
    log(
        f"corpus: {n:,} stanzas, {len(data):,} bytes, {body / n:.1f} bytes per stanza "
        f"on average -> {corpus_file.relative_to(ROOT)}"
    )
    chunks = bench_parsers.split(data)

    parsers, missing = bench_parsers.available_parsers()
    for key, why in missing.items():
        log(f"not measured: {key}: {why}")
    log(f"timing {len(parsers)} parsers, {reps} repetitions, one process:")
    py = bench_parsers.time_parsers(parsers, chunks, len(data), n, reps, log=log)
    py["missing"] = missing
    del chunks

    memory: dict[str, Any] = {}
    if not args.no_memory:
        log("memory, one child process per parser:")
        memory = bench_parsers.measure_memory(parsers, corpus_file, n, log=log)

    log(f"C: building bench/c and running {c_reps} repetitions")
    c = run_c(corpus_file, c_reps, n)
    if "skipped" in c:
        log(f"  skipped: {c['skipped']}")
    else:
        log(
            f"  stanzalink {c['stanzalink']['mb_per_s']:.0f} MB/s, "
            f"libexpat {c['libexpat']['mb_per_s']:.0f} MB/s, "
            f"ratio {c['ratio_mb_s_vs_libexpat']:.2f}"
        )
        info["libexpat_version"] = c["expat_version"]
        for key, row in c.get("peers", {}).items():
            ratio = c[f"ratio_mb_s_vs_{key}"]
            log(f"  {key} {row['mb_per_s']:.0f} MB/s, stanzalink/{key} {ratio:.2f}")

    inbound_n = min(n, 20_000)
    log(f"inbound path, socket/TLS bytes to events: {inbound_n:,} stanzas, bytearray vs ring")
    inbound = bench_inbound.run(inbound_n, reps)

    info["loadavg_end"] = list(os.getloadavg())
    command = "python bench/run.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    r = ratios(py["rows"], c)
    result: dict[str, Any] = {
        "machine": info,
        "meta": {
            "command": command.strip(),
            "quick": args.quick,
            "stanzas": n,
            "seed": args.seed,
            "bytes": len(data),
            "mb": len(data) / 1e6,
            "bytes_per_stanza": body / n,
            "chunk": bench_parsers.CHUNK,
            "reps": reps,
            "c_reps": c_reps,
            "mb_unit": "10^6 bytes",
            "wall_s": None,
        },
        "python": py,
        "memory": memory,
        "c": c,
        "ratios": r,
        "goals": goals(r),
        "inbound": inbound,
    }
    result["meta"]["wall_s"] = round(time.perf_counter() - t_start, 1)

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "parsers.json"
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    png_path = out_dir / "parsers.png"
    drew = plot(result, png_path)
    if not drew:
        msg = "matplotlib is not installed: pip install -r requirements-bench.txt"
        if not args.quick:
            raise BenchError(f"cannot draw {png_path.relative_to(ROOT)}: {msg}")
        log(f"no plot: {msg}")
    log(f"wrote {json_path.relative_to(ROOT)}" + (f" and {png_path.name}" if drew else ""))

    section = markdown(
        result,
        str(png_path.relative_to(ROOT)) if drew else None,
        str(json_path.relative_to(ROOT)),
    )
    for g in result["goals"]:
        state = "n/a" if g["met"] is None else ("met" if g["met"] else "NOT met")
        if g.get("retired"):
            state = "retired"
        log(f"goal: {g['goal']}: {_x(g['measured'])} (target {g['target']:.0f}x): {state}")
    if args.quick or args.no_readme:
        log("README.md left alone (quick run or --no-readme)")
    elif update_readme(section):
        log(f"updated the benchmark section of {README.relative_to(ROOT)}")
    else:
        log(f"README.md has no {START} ... {END} markers; the section would be:\n")
        print(section)
    inbound_section = bench_inbound.markdown(inbound)
    if not (args.quick or args.no_readme) and not update_readme(
        inbound_section, bench_inbound.START, bench_inbound.END
    ):
        log(f"README.md has no {bench_inbound.START} markers; the inbound table would be:\n")
        print(inbound_section)
    log(f"done in {result['meta']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"bench: FAILED: {err}", file=sys.stderr)
        sys.exit(1)

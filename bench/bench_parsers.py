"""XMPP stream parsers side by side, in one process, over one corpus.

Every row is fed the same stream in the same 4096-byte ``bytes`` chunks
(sliced once, before any timing) and reads the tag of every stanza it
produces, counting stanzas per tag:

- ``stanzalink-native``: ``StreamParser(backend="native")`` (the C
  tokenizer through cffi); its stanzas are lazy views, decoded when read.
- ``stanzalink-native-read``: the same, and every element of every stanza
  is read in full (``tag``, ``attrib``, ``text``, ``tail`` through
  ``iter()``): what a consumer that looks at everything pays.  Its goal is
  to be no slower than the ElementTree loop, which builds all of that.
- ``stanzalink-native-get`` and ``stanzalink-native-find``: the native
  row, and per stanza one attribute (``get("from")``) or one child's text
  (``find(body).text``): what a handler that reads little pays.
- ``stanzalink-expat``: ``StreamParser(backend="expat")``, the pure-Python
  fallback on pyexpat.
- ``etree-pull``: ``xml.etree.ElementTree.XMLPullParser(events=("start",
  "end"))`` with depth tracking: the element that ends at depth 1 is the
  stanza; it is yielded, then the root is cleared so nothing accumulates.
- ``slixmpp``: a real ``slixmpp.ClientXMPP`` object's
  ``XMLStream.data_received`` fed the chunks after ``init_parser()``.  Only
  its ``recv_stanza`` (filters, handler matching and dispatch, the
  ``unhandled()`` replies) is replaced, by a counter; the XMLPullParser
  loop, depth tracking, ``start_stream_handler``, root clearing,
  ``incoming_filter`` and ``_build_stanza`` (Message/Presence/Iq objects)
  run as shipped.
- ``pyexpat-nohandlers``: ``pyexpat.ParserCreate()`` (no namespace
  processing) with no handlers: the floor of anything built on pyexpat.
  It cannot report stanzas; it must accept the whole stream, and the same
  configuration with depth-counting handlers (untimed) must count the
  corpus' stanzas.

Any row that sees a different number of stanzas, a different set of tags or
no end of stream makes the benchmark fail (:class:`BenchError`).

Memory is measured per parser in a child process (``--memory KEY``): RSS
after imports and corpus load is the baseline; one full pass; peak RSS
(``ru_maxrss``) minus the baseline; then a second pass under tracemalloc
for the peak of Python-allocator memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import corpus

CHUNK = 4096
HERE = Path(__file__).resolve().parent


class BenchError(Exception):
    """The measurement is not valid (parsers disagree, or one failed)."""


@dataclass
class Outcome:
    """What one pass of one parser saw."""

    stanzas: int | None  # None: this parser cannot tell (no handlers)
    tags: dict[str, int] | None  # stanzas per {namespace}tag
    closed: bool  # saw the end of the stream


Runner = Callable[[list[bytes]], Outcome]


@dataclass(frozen=True)
class Parser:
    key: str
    label: str
    what: str
    setup: Callable[[], Runner]  # imports and builds what a pass needs
    in_goals: bool = True


# --------------------------------------------------------------------- rows
def _setup_stanzalink(backend: str, read: str = "tag") -> Runner:
    """A stanzalink row: each stanza's tag read, and with ``read`` "all"
    every element's tag, attrib, text and tail, with "get" the stanza's
    ``from`` attribute, with "find" the text of its ``body`` child (each
    its own loop: no test per stanza for what to read)."""
    from stanzalink.xml import Element, StreamClose, StreamParser

    body = "{jabber:client}body"

    def run(chunks: list[bytes]) -> Outcome:
        parser = StreamParser(backend=backend)
        tags: dict[str, int] = {}
        closed = False
        for chunk in chunks:
            for event in parser.feed(chunk):
                if isinstance(event, Element):
                    tag = event.tag
                    tags[tag] = tags.get(tag, 0) + 1
                elif isinstance(event, StreamClose):
                    closed = True
        return Outcome(sum(tags.values()), tags, closed)

    def run_all(chunks: list[bytes]) -> Outcome:
        parser = StreamParser(backend=backend)
        tags: dict[str, int] = {}
        closed = False
        for chunk in chunks:
            for event in parser.feed(chunk):
                if isinstance(event, Element):
                    tag = event.tag
                    tags[tag] = tags.get(tag, 0) + 1
                    for el in event.iter():
                        _ = (el.tag, el.attrib, el.text, el.tail)
                elif isinstance(event, StreamClose):
                    closed = True
        return Outcome(sum(tags.values()), tags, closed)

    def run_get(chunks: list[bytes]) -> Outcome:
        parser = StreamParser(backend=backend)
        tags: dict[str, int] = {}
        closed = False
        for chunk in chunks:
            for event in parser.feed(chunk):
                if isinstance(event, Element):
                    tag = event.tag
                    tags[tag] = tags.get(tag, 0) + 1
                    _ = event.get("from")
                elif isinstance(event, StreamClose):
                    closed = True
        return Outcome(sum(tags.values()), tags, closed)

    def run_find(chunks: list[bytes]) -> Outcome:
        parser = StreamParser(backend=backend)
        tags: dict[str, int] = {}
        closed = False
        for chunk in chunks:
            for event in parser.feed(chunk):
                if isinstance(event, Element):
                    tag = event.tag
                    tags[tag] = tags.get(tag, 0) + 1
                    found = event.find(body)
                    _ = found.text if found is not None else None
                elif isinstance(event, StreamClose):
                    closed = True
        return Outcome(sum(tags.values()), tags, closed)

    return {"tag": run, "all": run_all, "get": run_get, "find": run_find}[read]


def _setup_etree() -> Runner:
    import xml.etree.ElementTree as ET
    from collections.abc import Iterator

    def stanzas(chunks: list[bytes], state: dict[str, bool]) -> Iterator[ET.Element]:
        # Any: typeshed's read_events() items are a union, and a cast per
        # event would cost this row time the others do not pay
        parser: Any = ET.XMLPullParser(events=("start", "end"))
        depth = 0
        root: Any = None
        for chunk in chunks:
            parser.feed(chunk)
            for event, elem in parser.read_events():
                if event == "start":
                    if depth == 0:
                        root = elem
                    depth += 1
                else:
                    depth -= 1
                    if depth == 1:
                        yield elem
                        root.clear()
                    elif depth == 0:
                        state["closed"] = True
        parser.close()

    def run(chunks: list[bytes]) -> Outcome:
        tags: dict[str, int] = {}
        state = {"closed": False}
        for stanza in stanzas(chunks, state):
            tag = stanza.tag
            tags[tag] = tags.get(tag, 0) + 1
        return Outcome(sum(tags.values()), tags, state["closed"])

    return run


class _ErrorCounter:
    """A logging handler that counts records at ERROR and above."""

    def __init__(self) -> None:
        import logging

        self.count = 0
        outer = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.count += 1

        self.handler = Handler(level=logging.ERROR)


def _setup_slixmpp() -> Runner:
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import slixmpp

        xmpp: Any = slixmpp.ClientXMPP("device1@example.net/agent", "unused")
    errors = _ErrorCounter()
    logging.getLogger("slixmpp").addHandler(errors.handler)
    tags: dict[str, int] = {}

    def count_stanza(stanza: Any) -> None:
        # replaces XMLStream.recv_stanza: in-filters, handler matching and
        # dispatch are not run; the stanza object was built as shipped
        tag = stanza.xml.tag
        tags[tag] = tags.get(tag, 0) + 1

    xmpp.recv_stanza = count_stanza

    def run(chunks: list[bytes]) -> Outcome:
        tags.clear()
        errors.count = 0
        xmpp.disconnect_reason = None
        xmpp.init_parser()
        receive = xmpp.data_received
        for chunk in chunks:
            receive(chunk)
        if errors.count:
            raise BenchError(f"slixmpp logged {errors.count} errors while parsing")
        closed = xmpp.xml_depth == 0 and xmpp.disconnect_reason == "End of stream"
        return Outcome(sum(tags.values()), dict(tags), closed)

    return run


def _setup_pyexpat() -> Runner:
    import pyexpat

    def run(chunks: list[bytes]) -> Outcome:
        parser = pyexpat.ParserCreate()
        parse = parser.Parse
        for chunk in chunks:
            parse(chunk, False)
        parse(b"", True)  # raises unless the document is complete
        return Outcome(None, None, True)

    return run


def pyexpat_count_stanzas(chunks: list[bytes]) -> int:
    """The untimed check behind the no-handlers row: the same pyexpat
    configuration, with handlers counting the elements that end at depth 1."""
    import pyexpat

    depth = 0
    stanzas = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1

    def end(name: str) -> None:
        nonlocal depth, stanzas
        depth -= 1
        if depth == 1:
            stanzas += 1

    parser = pyexpat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    for chunk in chunks:
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return stanzas


def _slixmpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("slixmpp") is not None


def _native_available() -> bool:
    try:
        from stanzalink.xml import available_backends
    except ImportError:
        return False
    return "native" in available_backends()


ALL_PARSERS = [
    Parser(
        "stanzalink-native",
        "stanzalink native",
        "StreamParser(backend='native'): C tokenizer via cffi, lazy stanza views",
        lambda: _setup_stanzalink("native"),
    ),
    Parser(
        "stanzalink-native-read",
        "stanzalink native + full read",
        "the native row, plus tag/attrib/text/tail of every element read",
        lambda: _setup_stanzalink("native", "all"),
    ),
    Parser(
        "stanzalink-native-get",
        "stanzalink native + get(from)",
        "the native row, plus the stanza's from attribute read",
        lambda: _setup_stanzalink("native", "get"),
        in_goals=False,
    ),
    Parser(
        "stanzalink-native-find",
        "stanzalink native + find(body).text",
        "the native row, plus the text of the stanza's body child read",
        lambda: _setup_stanzalink("native", "find"),
        in_goals=False,
    ),
    Parser(
        "stanzalink-expat",
        "stanzalink expat backend",
        "StreamParser(backend='expat'): the pure-Python fallback on pyexpat",
        lambda: _setup_stanzalink("expat"),
    ),
    Parser(
        "etree-pull",
        "ElementTree pull loop",
        "XMLPullParser(start, end), stanza at depth-1 end, root cleared",
        _setup_etree,
    ),
    Parser(
        "slixmpp",
        "slixmpp data_received",
        "ClientXMPP.data_received up to stanza objects; recv_stanza replaced by a counter",
        _setup_slixmpp,
    ),
    Parser(
        "pyexpat-nohandlers",
        "pyexpat, no handlers",
        "pyexpat.ParserCreate() with no handlers: bytes through expat, nothing built",
        _setup_pyexpat,
    ),
]


def available_parsers() -> tuple[list[Parser], dict[str, str]]:
    """The rows that can run here, and why the others cannot."""
    missing: dict[str, str] = {}
    if not _native_available():
        missing["stanzalink-native"] = "the native module is not built"
        missing["stanzalink-native-read"] = "the native module is not built"
        missing["stanzalink-native-get"] = "the native module is not built"
        missing["stanzalink-native-find"] = "the native module is not built"
    try:
        import stanzalink.xml  # noqa: F401
    except ImportError:
        missing["stanzalink-expat"] = "stanzalink is not installed"
    if not _slixmpp_available():
        missing["slixmpp"] = "slixmpp is not installed"
    return [p for p in ALL_PARSERS if p.key not in missing], missing


# ------------------------------------------------------------------ corpus
def split(data: bytes, chunk: int = CHUNK) -> list[bytes]:
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def load_chunks(path: Path, chunk: int = CHUNK) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    return data, split(data, chunk)


def warm_up(run: Runner) -> None:
    """One pass over a small complete stream: imports, caches, lazy setup."""
    run(split(corpus.generate(300, seed=7)))


# ---------------------------------------------------------------- checking
@dataclass
class Checker:
    """Holds every row to the same stanza count and tag histogram."""

    expected: int
    reference: dict[str, int] | None = None
    reference_from: str = ""
    seen: dict[str, int] = field(default_factory=dict)

    def check(self, key: str, out: Outcome) -> None:
        if not out.closed:
            raise BenchError(f"{key}: did not see the end of the stream")
        if out.stanzas is not None:
            self.seen[key] = out.stanzas
            if out.stanzas != self.expected:
                raise BenchError(
                    f"{key}: saw {out.stanzas} stanzas, the corpus has {self.expected}"
                )
        if out.tags is not None:
            if self.reference is None:
                self.reference, self.reference_from = dict(out.tags), key
            elif out.tags != self.reference:
                raise BenchError(
                    f"{key}: stanzas per tag {out.tags} differ from "
                    f"{self.reference_from}'s {self.reference}"
                )


# ------------------------------------------------------------------ timing
def time_parsers(
    parsers: list[Parser],
    chunks: list[bytes],
    nbytes: int,
    expected: int,
    reps: int,
    log: Callable[[str], None] = print,
    min_sample_s: float = 1.0,
) -> dict[str, Any]:
    """Time every parser ``reps`` times over the chunks, interleaved (each
    repetition runs every parser in a rotating order), checking every pass.
    One sample is whole passes over the chunks, repeated until at least
    ``min_sample_s`` has passed, divided by the number of passes: a fast
    parser's sample then spans as much time as a slow one's, so a shared
    machine's slow and fast spells weigh on every row alike.  Returns
    per-parser medians, spreads and rates."""
    checker = Checker(expected)
    runners = {}
    for p in parsers:
        runners[p.key] = p.setup()
        warm_up(runners[p.key])
    if any(p.key == "pyexpat-nohandlers" for p in parsers):
        counted = pyexpat_count_stanzas(chunks)
        checker.seen["pyexpat (check pass, handlers)"] = counted
        if counted != expected:
            raise BenchError(f"pyexpat check pass counted {counted} stanzas, expected {expected}")
    times: dict[str, list[float]] = {p.key: [] for p in parsers}
    for rep in range(reps):
        order = parsers[rep % len(parsers) :] + parsers[: rep % len(parsers)]
        for p in order:
            gc.collect()
            passes = 0
            elapsed = 0.0
            while passes == 0 or elapsed < min_sample_s:
                t0 = time.perf_counter()
                try:
                    out = runners[p.key](chunks)
                except Exception as err:
                    raise BenchError(f"{p.key} failed: {type(err).__name__}: {err}") from err
                elapsed += time.perf_counter() - t0
                passes += 1
                checker.check(p.key, out)  # not timed
            times[p.key].append(elapsed / passes)
        log(
            f"  repetition {rep + 1}/{reps}: "
            + ", ".join(f"{p.key} {times[p.key][-1]:.3f}s" for p in parsers)
        )
    rows: dict[str, Any] = {}
    for p in parsers:
        ts = times[p.key]
        med = statistics.median(ts)
        rows[p.key] = {
            "label": p.label,
            "what": p.what,
            "in_goals": p.in_goals,
            "times_s": [round(t, 6) for t in ts],
            "median_s": med,
            "min_s": min(ts),
            "max_s": max(ts),
            "spread_pct": 100.0 * (max(ts) - min(ts)) / med,
            "mb_per_s": nbytes / 1e6 / med,
            "stanzas_per_s": expected / med,
            "stanzas_seen": checker.seen.get(p.key),
        }
    return {
        "rows": rows,
        "stanza_check": {
            "expected": expected,
            "seen": checker.seen,
            "tags": checker.reference,
        },
    }


# ------------------------------------------------------------------ memory
def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {field_name} in /proc/self/status")


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, where
    the kernel allows it (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def memory_child(key: str, corpus_path: Path, expected: int) -> dict[str, Any]:
    """Run in a fresh process: the memory one parser needs over the corpus."""
    parser = {p.key: p for p in ALL_PARSERS}[key]
    run = parser.setup()
    warm_up(run)
    gc.collect()
    after_imports = _status_kib("VmRSS")
    # read the chunks straight from the file: the load never holds more than
    # what stays held, so the baseline is also the peak before the run
    chunks: list[bytes] = []
    with open(corpus_path, "rb") as f:
        while chunk := f.read(CHUNK):
            chunks.append(chunk)
    checker = Checker(expected)
    gc.collect()
    baseline = _status_kib("VmRSS")
    hwm_reset = _reset_hwm()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = run(chunks)
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = _status_kib("VmHWM")
    checker.check(key, out)
    del out
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = run(chunks)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    checker.check(key, out)
    return {
        "rss_after_imports_kib": after_imports,
        "baseline_rss_kib": baseline,
        "maxrss_before_run_kib": maxrss_before,
        "maxrss_kib": maxrss_after,
        "peak_rss_above_baseline_kib": max(0, maxrss_after - baseline),
        # ru_maxrss cannot be reset: if the process peaked above the baseline
        # before the run (more than 1 MiB), the figure above is a lower bound
        "maxrss_is_lower_bound": maxrss_before > baseline + 1024,
        "vmhwm_above_baseline_kib": max(0, hwm - baseline) if hwm_reset else None,
        "tracemalloc_peak_bytes": traced_peak,
    }


def in_fresh_fork(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` in a forked child and return its result.

    On Linux a process's ``ru_maxrss`` starts at the peak RSS of the memory
    image it was exec'd from, which for a child of the benchmark is the
    parent's; a fork of a freshly started interpreter starts from that
    small interpreter instead, so its ``ru_maxrss`` is its own."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the measuring process
        os.close(rfd)
        code = 0
        try:
            payload = json.dumps(fn())
        except BaseException as err:  # reported to the parent, which fails
            payload = json.dumps({"error": f"{type(err).__name__}: {err}"})
            code = 1
        with os.fdopen(wfd, "w") as out:
            out.write(payload)
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd) as inp:
        payload = inp.read()
    _, status = os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(payload) if payload else {}
    if os.waitstatus_to_exitcode(status) != 0 or "error" in result:
        raise BenchError(result.get("error", f"memory child failed (status {status})"))
    return result


def measure_memory(
    parsers: list[Parser], corpus: Path, expected: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """One child process per parser (this file with ``--memory``)."""
    results: dict[str, Any] = {}
    for p in parsers:
        cmd = [
            sys.executable,
            str(HERE / "bench_parsers.py"),
            "--memory",
            p.key,
            "--corpus",
            str(corpus),
            "--expected",
            str(expected),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise BenchError(f"memory run of {p.key} failed:\n{proc.stderr.strip()}")
        results[p.key] = json.loads(proc.stdout)
        r = results[p.key]
        log(
            f"  {p.key}: peak RSS +{r['peak_rss_above_baseline_kib'] / 1024:.1f} MiB "
            f"over a {r['baseline_rss_kib'] / 1024:.1f} MiB baseline, "
            f"tracemalloc peak {r['tracemalloc_peak_bytes'] / 2**20:.2f} MiB"
        )
    return results


def passes_child(key: str, corpus_path: Path, passes: int) -> None:
    """Run in a fresh process under callgrind: one parser's setup and
    warm-up, then ``passes`` passes over the corpus."""
    run = {p.key: p for p in ALL_PARSERS}[key].setup()
    warm_up(run)
    _, chunks = load_chunks(corpus_path)
    for _ in range(passes):
        run(chunks)


def count_instructions(
    keys: list[str], corpus_path: Path, expected: int, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Instructions per stanza of each parser, counted by valgrind's
    callgrind: (3 passes - 1 pass) / 2 / stanzas, so that start-up, imports
    and the warm-up cancel out; PYTHONHASHSEED=0 for repeatable dicts.
    Independent of the machine's load, unlike the clock."""
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind is not installed")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out: dict[str, float] = {}
    for key in keys:
        counts = []
        for passes in (1, 3):
            cmd = [
                "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                sys.executable, str(HERE / "bench_parsers.py"), "--passes", str(passes),
                "--row", key, "--corpus", str(corpus_path), "--expected", str(expected),
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            found = re.search(r"Collected : (\d+)", proc.stderr)
            if proc.returncode != 0 or not found:
                raise BenchError(f"callgrind run of {key} failed:\n{proc.stderr.strip()[-2000:]}")
            counts.append(int(found.group(1)))
        out[key] = (counts[1] - counts[0]) / 2 / expected
        log(f"  {key}: {out[key]:,.0f} instructions a stanza")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Time the Python-level parsers over a corpus file (bench/run.py runs "
        "everything; this is its parser part, and the memory child process)."
    )
    ap.add_argument("--corpus", type=Path, required=True, help="stream file from corpus.py")
    ap.add_argument("--expected", type=int, required=True, help="stanzas in the corpus")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--memory", metavar="KEY", help="child mode: measure one parser's memory")
    ap.add_argument(
        "--callgrind",
        metavar="KEYS",
        help="count instructions per stanza (valgrind) of these rows (comma-separated, or all)",
    )
    ap.add_argument("--passes", type=int, help="child mode of --callgrind: passes to run")
    ap.add_argument("--row", metavar="KEY", help="child mode of --callgrind: the row to run")
    args = ap.parse_args(argv)
    if args.passes is not None:
        passes_child(args.row, args.corpus, args.passes)
        return 0
    if args.callgrind:
        keys = (
            [p.key for p in available_parsers()[0]]
            if args.callgrind == "all"
            else args.callgrind.split(",")
        )
        counted = count_instructions(keys, args.corpus, args.expected)
        json.dump(counted, sys.stdout, indent=2)
        print()
        return 0
    if args.memory:
        result = in_fresh_fork(lambda: memory_child(args.memory, args.corpus, args.expected))
        print(json.dumps(result))
        return 0
    parsers, missing = available_parsers()
    for key, why in missing.items():
        print(f"skipping {key}: {why}", file=sys.stderr)
    data, chunks = load_chunks(args.corpus)
    result = time_parsers(parsers, chunks, len(data), args.expected, args.reps)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"bench_parsers: FAILED: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)

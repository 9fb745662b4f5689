"""Start-up benchmark: how far stanzalink's start-up stands from the floor,
on this host and on both ARM targets under qemu-user, in one run.

Each sample is a fresh process, timed from just before the parent starts it
to the moment it holds a bound session (the clock is the wall clock, shared
by qemu-user and the host), against one Prosody on loopback:

- ``floor``: the interpreter starts, imports ``asyncio`` and ``ssl`` (what
  any asyncio XMPP client imports), then a raw minimal client logs in with
  blocking sockets and no library: TCP, stream header, STARTTLS, the TLS
  handshake, a stream restart, SCRAM (the mechanism and channel binding
  stanzalink picks against this server), a restart, resource binding and
  the stream management ``<enable/>`` (stanzalink's default, part of its
  "online").  It waits for the server once per round trip, and counts them.
  That is the cost of the interpreter, of those two imports and of the
  login's round trips with the server's own time in them: what no client in
  Python can avoid.
- ``stanzalink``: ``Client(...).start()`` and ``wait_online()``, the same
  child as ``bench/bench_session.py``'s start-up row (without its idle 2 s).
- ``slixmpp``: ``ClientXMPP`` until ``session_start``.

Each child also stamps the moment its first line ran (the interpreter is
up) and the moment its imports were done, so the table splits the time into
interpreter, imports and login.  The loopback round trip (a TCP echo in this
process, no TLS) and the server's share are given beside the round-trip
count.  Medians of interleaved rounds, the kinds alternating within each.

The ARM targets are those ``scripts/cross/build-and-test.sh arm64|armhf``
builds: Debian's python3.11 for the target unpacked into a sysroot and run
by qemu-user, with the cross-built wheel installed and compiled into
``<cross cache>/<arch>/site``; a target whose build is missing is skipped.
The cross cache is ``--cross-cache``, else ``$STANZALINK_CROSS_CACHE`` as
the script reads it, else ``build/cross``.

slixmpp for an ARM target goes into ``<cross cache>/<arch>/slixmpp``, once
(kept while the versions match): the versions installed here of slixmpp and
what it imports (aiodns, pycares, pyasn1, pyasn1-modules), as pip resolves
them for the target's platform from PyPI's wheels, then compiled to bytecode
by the target's Python.  Where PyPI has no wheel for the architecture, each
distribution is tried alone: slixmpp from its sdist without the compiled JID
extension (the package carries the pure-Python JID module it falls back on,
a Rust cross build is not attempted), and aiodns left out when pycares has
no wheel (slixmpp then resolves with the standard library).  The child is
checked to import there first; what was left out is recorded in the JSON
(``slixmpp_install``).  That step needs PyPI, so it is a bench run by hand,
never part of CI.
The target's standard library is compiled to bytecode first (once), as an
image ships it: the sysroot is Debian's packages unpacked, without the
bytecode their installation would have compiled.
Under qemu the interpreter and the C code are emulated, the server and the
kernel are not: the floor is measured the same way there, so the emulator's
share shows in the floor and not as stanzalink's.

Usage: python bench/bench_startup.py [--rounds 3] [--reps 5] [--targets host,arm64,armhf]
       [--cross-cache DIR] [--json FILE] [--readme]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "agent"))

from stanzalink_testing.prosody import throwaway_prosody  # noqa: E402

CROSS = {"arm64": ("qemu-aarch64", "aarch64"), "armhf": ("qemu-arm", "armv7")}
# pip --platform values for the targets' wheels: Debian 12's glibc is 2.36
PIP_PLATFORMS = {
    arch: [f"manylinux_2_{v}_{m}" for v in (36, 34, 31, 28, 26, 17)] + [f"linux_{m}"]
    for arch, m in (("arm64", "aarch64"), ("armhf", "armv7l"))
}
# slixmpp and what it imports when present (its resolver aiodns, which
# needs pycares; pyasn1 for its certificate checks)
SLIXMPP_DISTS = ("slixmpp", "aiodns", "pycares", "pyasn1", "pyasn1-modules")

# The floor: a raw XMPP login, blocking, nothing imported beyond asyncio and
# ssl (and the modules those two import themselves).  Kept to what RFC 6120,
# RFC 5802/9266 and XEP-0198 require; it checks the server's SCRAM signature.
FLOOR = r"""
import time
t_start = time.time()
import asyncio, ssl
import sys, json, base64, os, re, socket  # mostly imported by those two
import _hashlib  # SCRAM with OpenSSL's hashes, as stanzalink (hashlib and hmac load more)
t_imported = time.time()
path, server = sys.argv[2], json.loads(sys.argv[3])
rtts = 0
def main():
    global rtts
    dom = server["domain"]
    # connect, not create_connection: its getaddrinfo would load the idna codec
    s = socket.socket(); s.connect(("127.0.0.1", server["port"])); rtts += 1
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    def ask(data, until):
        # one round trip: send, then read until the answer is complete
        global rtts
        nonlocal buf
        rtts += 1
        if data:
            s.sendall(data)
        while not re.search(until, buf):
            # acknowledge at once: a delayed ACK holds the server's next
            # segment up to 40 ms behind its Nagle (its TLS session tickets)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("server closed: " + buf.decode(errors="replace"))
            buf += chunk
        got, buf = buf, b""
        return got
    header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
              "to='%s'>" % dom).encode()
    ask(header, rb"</stream:features>")
    ask(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", rb"<proceed")
    ctx = ssl.create_default_context(cafile=server["ca"])
    # the name as bytes, as stanzalink gives it: a str loads the idna codec
    s = ctx.wrap_socket(s, server_hostname=dom.encode(), do_handshake_on_connect=False)
    rtts += 1
    s.do_handshake()
    feats = ask(header, rb"</stream:features>").decode()
    mechs = re.findall(r"<mechanism>([^<]+)</mechanism>", feats)
    cbs = re.findall(r"<channel-binding type='([^']+)'", feats)
    # stanzalink's choice: the strongest SCRAM, -PLUS with tls-exporter when
    # both ends have it
    mech = next(m for m in ("SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                            "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1") if m in mechs)
    if mech.endswith("-PLUS") and "tls-exporter" not in cbs:
        mech = mech[:-5]
    hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256",
             "SCRAM-SHA-512": "sha512"}[mech.removesuffix("-PLUS")]
    if mech.endswith("-PLUS"):
        gs2 = b"p=tls-exporter,,"
        cbind = gs2 + s.get_channel_binding("tls-exporter")
    else:
        gs2 = cbind = b"n,,"
    nonce = base64.b64encode(os.urandom(18))
    first_bare = b"n=carol,r=" + nonce
    got = ask(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mech.encode()
              + b"'>" + base64.b64encode(gs2 + first_bare) + b"</auth>", rb"</challenge>")
    server_first = base64.b64decode(re.search(rb"<challenge[^>]*>([^<]*)<", got).group(1))
    attrs = dict(kv.split(b"=", 1) for kv in server_first.split(b","))
    salted = _hashlib.pbkdf2_hmac(hname, b"carol-pw", base64.b64decode(attrs[b"s"]),
                                  int(attrs[b"i"]))
    client_key = _hashlib.hmac_digest(salted, b"Client Key", hname)
    final_bare = b"c=" + base64.b64encode(cbind) + b",r=" + attrs[b"r"]
    auth_msg = first_bare + b"," + server_first + b"," + final_bare
    sig = _hashlib.hmac_digest(_hashlib.new(hname, client_key).digest(), auth_msg, hname)
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    got = ask(b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + base64.b64encode(
              final_bare + b",p=" + base64.b64encode(proof)) + b"</response>", rb"</success>")
    verifier = base64.b64decode(re.search(rb"<success[^>]*>([^<]*)<", got).group(1))
    server_key = _hashlib.hmac_digest(salted, b"Server Key", hname)
    server_sig = _hashlib.hmac_digest(server_key, auth_msg, hname)
    assert verifier == b"v=" + base64.b64encode(server_sig), verifier
    ask(header, rb"</stream:features>")
    ask(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        rb"</iq>")
    ask(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>", rb"<enabled")
    t_bound = time.time()
    s.sendall(b"</stream:stream>"); s.close()
    return t_bound, mech
t_bound, mech = main()
print(json.dumps({"start": t_start, "imported": t_imported, "bound": t_bound,
                  "round_trips": rtts, "mechanism": mech}), flush=True)
"""

STANZALINK = r"""
import time
t_start = time.time()
import asyncio, json, sys
sys.path.insert(0, sys.argv[2])
from stanzalink.aio.client import Client, ClientConfig
from stanzalink.jid import JID
t_imported = time.time()
server = json.loads(sys.argv[3])
async def main():
    c = Client(ClientConfig(jid=JID.parse("carol@" + server["domain"]), password="carol-pw",
               host="127.0.0.1", port=server["port"], ca_file=server["ca"], reconnect=False))
    await c.start(); await c.wait_online(60)
    t = time.time()
    await c.close()
    return t
t_bound = asyncio.run(main())
print(json.dumps({"start": t_start, "imported": t_imported, "bound": t_bound}), flush=True)
"""

SLIXMPP = r"""
import time
t_start = time.time()
import asyncio, json, sys
if sys.argv[2]:
    sys.path.insert(0, sys.argv[2])
import slixmpp
t_imported = time.time()
server = json.loads(sys.argv[3])
async def main():
    c = slixmpp.ClientXMPP("carol@" + server["domain"], "carol-pw")
    c.ca_certs = server["ca"]
    ready = asyncio.get_running_loop().create_future()
    c.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(1))
    c.connect("127.0.0.1", server["port"]); await asyncio.wait_for(ready, 60)
    t = time.time()
    c.disconnect(); await asyncio.sleep(0.2)
    return t
t_bound = asyncio.run(main())
print(json.dumps({"start": t_start, "imported": t_imported, "bound": t_bound}), flush=True)
"""

CHILDREN = {"floor": FLOOR, "stanzalink": STANZALINK, "slixmpp": SLIXMPP}


def pip_target(arch: str, pins: list[str], into: Path, deps: bool) -> str | None:
    """pip install ``pins`` for ``arch``'s Python 3.11 into ``into`` from
    wheels only; None when it worked, else pip's last error line."""
    plat = [a for p in PIP_PLATFORMS[arch] for a in ("--platform", p)]
    cmd = [
        *(sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"),
        *("--target", str(into), "--only-binary=:all:", *plat, "--python-version", "3.11"),
        *("--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"),
        *("--no-compile", "--upgrade", *([] if deps else ["--no-deps"]), *pins),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode == 0:
        return None
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("ERROR")]
    return (errors or out.stderr.splitlines() or ["pip failed"])[-1]


def slixmpp_sdist(version: str, into: Path) -> None:
    """slixmpp's Python package from its sdist, its Rust JID extension not
    built: the package's own ``jid.py`` is the fallback it imports then.
    With the metadata an installation writes: slixmpp reads its version
    from it at import (``importlib.metadata``, a cost under qemu)."""
    with tempfile.TemporaryDirectory(prefix="stanzalink-slixmpp-") as dl:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--no-binary=:all:", "-d", dl, f"slixmpp=={version}"],
            check=True, capture_output=True,
        )  # fmt: skip
        (sdist,) = Path(dl).glob("slixmpp-*.tar.gz")
        top = sdist.name.removesuffix(".tar.gz")
        prefix = f"{top}/slixmpp/"
        with tarfile.open(sdist) as tar:
            info = tar.extractfile(f"{top}/PKG-INFO")
            assert info is not None
            dist = into / f"slixmpp-{version}.dist-info"
            dist.mkdir(parents=True)
            (dist / "METADATA").write_bytes(info.read())
            (dist / "INSTALLER").write_text("bench_startup\n")
            for m in tar.getmembers():
                if m.isfile() and m.name.startswith(prefix) and not m.name.endswith(".rs"):
                    dest = into / "slixmpp" / m.name[len(prefix) :]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(m)
                    assert src is not None
                    dest.write_bytes(src.read())


CHECK_SLIXMPP = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import slixmpp, slixmpp.jid
from slixmpp.xmlstream import cert, resolver
print(json.dumps({"jid": "extension" if slixmpp.jid.__file__.endswith(".so") else "python",
                  "aiodns": resolver.AIODNS_AVAILABLE, "pyasn1": cert.HAVE_PYASN1}))
"""


def slixmpp_site(arch: str, base: Path, python: list[str]) -> dict[str, Any]:
    """slixmpp for ``arch`` in ``base/slixmpp``, installed once (see the
    module's docstring); what went in and what was left out."""
    versions = {d: metadata.version(d) for d in SLIXMPP_DISTS}
    into = base / "slixmpp"
    key = {"versions": versions, "platforms": PIP_PLATFORMS[arch], "layout": 2}
    stamp = into / ".complete"
    if stamp.exists():
        info: dict[str, Any] = json.loads(stamp.read_text())
        if info.get("key") == key:
            return info
    print(f"{arch}: installing slixmpp for the target into {into} (once)", flush=True)
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    pins = [f"{d}=={v}" for d, v in versions.items()]
    missing: dict[str, str] = {}
    if (err := pip_target(arch, pins, into, deps=True)) is not None:
        # some distribution has no wheel for this architecture: each alone
        print(f"{arch}: {err}; installing each distribution alone", flush=True)
        for dist, pin in zip(SLIXMPP_DISTS, pins, strict=True):
            if (err := pip_target(arch, [pin], into, deps=False)) is not None:
                missing[dist] = err
        if "pycares" in missing and "aiodns" not in missing:
            # aiodns imports pycares at once: without it slixmpp would only
            # pay for a failing import before falling back
            for p in into.glob("aiodns*"):
                shutil.rmtree(p)
            missing["aiodns"] = "left out: it needs pycares"
        if "slixmpp" in missing:
            slixmpp_sdist(versions["slixmpp"], into)
            missing["slixmpp"] += "; its sdist's Python package installed instead"
    shutil.rmtree(into / "bin", ignore_errors=True)
    subprocess.run([*python, "-m", "compileall", "-q", str(into)], check=True)
    out = subprocess.run(
        [*python, "-c", CHECK_SLIXMPP, str(into)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{arch}: slixmpp does not import on the target:\n{out.stderr[-2000:]}")
    info = {"key": key, "missing": missing, "imports": json.loads(out.stdout)}
    stamp.write_text(json.dumps(info, indent=2) + "\n")
    return info


def targets(names: list[str], cache: Path) -> dict[str, dict[str, Any]]:
    """Interpreter command and the stanzalink (and slixmpp) path of each
    target that is there."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == "host":
            out["host"] = {
                "python": [sys.executable],
                "path": str(ROOT / "agent"),
                "paths": {"slixmpp": ""},
                "kinds": ("floor", "stanzalink", "slixmpp"),
                "machine": os.uname().machine,
            }
            continue
        qemu, machine = CROSS[name]
        base = cache / name
        py = base / "sysroot" / "usr" / "bin" / "python3.11"
        if not (py.exists() and (base / "site" / "stanzalink").is_dir()):
            print(f"{name}: no build in {base} (scripts/cross/build-and-test.sh {name})")
            continue
        python = [qemu, "-L", str(base / "sysroot"), str(py)]
        stdlib = base / "sysroot" / "usr" / "lib" / "python3.11"
        stamp = base / "stdlib-compiled"
        if not stamp.exists():
            # the sysroot holds Debian's packages unpacked, without the
            # bytecode their installation would compile; an image ships it.
            # All of it: a module without bytecode is compiled at every
            # start-up (the children write none), and a partly compiled
            # sysroot (some runs leave a few __pycache__) hides that
            print(f"{name}: compiling the target's standard library (once)", flush=True)
            subprocess.run([*python, "-m", "compileall", "-q", str(stdlib)], check=False)
            stamp.write_text("compileall done\n")
        slix = slixmpp_site(name, base, python)
        out[name] = {
            "python": python,
            "path": str(base / "site"),
            "paths": {"slixmpp": str(base / "slixmpp")},
            "kinds": ("floor", "stanzalink", "slixmpp"),
            "machine": machine,
            "slixmpp_install": {"missing": slix["missing"], "imports": slix["imports"]},
        }
    return out


def one(target: dict[str, Any], kind: str, server: dict[str, Any]) -> dict[str, Any]:
    path = target["paths"].get(kind, target["path"])
    t = time.time()
    out = subprocess.run(
        [*target["python"], "-c", CHILDREN[kind], repr(t), path, json.dumps(server)],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr.decode()[-2000:]}")
    res: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    res["interpreter_ms"] = (res["start"] - t) * 1000
    res["imports_ms"] = (res["imported"] - res["start"]) * 1000
    res["login_ms"] = (res["bound"] - res["imported"]) * 1000
    res["total_ms"] = (res["bound"] - t) * 1000
    return res


def loopback_rtt(n: int = 2000) -> float:
    """Median round trip of one small TCP segment on loopback (ms), an echo
    thread in this process: the network's share of each login round trip."""
    srv = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(64):
                conn.sendall(data)

    th = threading.Thread(target=echo, daemon=True)
    th.start()
    c = socket.create_connection(srv.getsockname())
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.sendall(b"x")
        c.recv(64)
        times.append(time.perf_counter() - t)
    c.close()
    th.join(5)
    srv.close()
    return statistics.median(times) * 1000


PHASES = ("interpreter_ms", "imports_ms", "login_ms", "total_ms")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians taken)")
    ap.add_argument("--reps", type=int, default=5, help="start-ups per kind and round")
    ap.add_argument("--targets", default="host,arm64,armhf")
    ap.add_argument(
        "--cross-cache",
        default=os.environ.get("STANZALINK_CROSS_CACHE", str(ROOT / "build" / "cross")),
        help="where scripts/cross/build-and-test.sh put the targets (STANZALINK_CROSS_CACHE)",
    )
    ap.add_argument("--readme", action="store_true", help="rewrite the README's start-up table")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "startup.json"))
    ap.add_argument("--readme-only", action="store_true", help="the README from --json, no run")
    args = ap.parse_args()
    if args.readme_only:
        write_readme(json.loads(Path(args.json).read_text()))
        return 0
    tgts = targets(args.targets.split(","), Path(args.cross_cache))
    # an installed package has its bytecode compiled: the host tree is, and
    # build-and-test.sh compiles the targets' site with the target Python
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "agent" / "stanzalink")], check=True
    )
    load_before = [round(x, 2) for x in os.getloadavg()]
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {t: {} for t in tgts}
    with throwaway_prosody(prefix="stanzalink-startup-") as prosody:
        prosody.register("carol", "carol-pw")
        server = {"domain": prosody.domain, "port": prosody.port, "ca": str(prosody.ca)}
        rtt = loopback_rtt()
        for r in range(args.rounds):
            for name, tgt in tgts.items():
                kinds = tgt["kinds"][:: 1 if r % 2 == 0 else -1]
                for _ in range(args.reps):
                    for kind in kinds:
                        res = one(tgt, kind, server)
                        samples[name].setdefault(kind, []).append(res)
                print(
                    f"round {r + 1} {name}: "
                    + ", ".join(
                        f"{k} {statistics.median(s['total_ms'] for s in v):.0f} ms"
                        for k, v in samples[name].items()
                    ),
                    flush=True,
                )
    results: dict[str, Any] = {}
    for name, kinds in samples.items():
        res: dict[str, Any] = {"machine": tgts[name]["machine"]}
        if "slixmpp_install" in tgts[name]:
            res["slixmpp_install"] = tgts[name]["slixmpp_install"]
        for kind, ss in kinds.items():
            res[kind] = {p: statistics.median(s[p] for s in ss) for p in PHASES}
            # every start-up's total, in the order run: how wide the spread
            # (a loaded machine, a stalled login) is behind the median
            res[kind]["totals_ms"] = [round(s["total_ms"], 1) for s in ss]
            if kind == "floor":
                res[kind]["round_trips"] = ss[0]["round_trips"]
                res[kind]["mechanism"] = ss[0]["mechanism"]
        fl, sl = res["floor"], res["stanzalink"]
        res["stanzalink_over_floor_ms"] = sl["total_ms"] - fl["total_ms"]
        res["stanzalink_over_floor_x"] = sl["total_ms"] / fl["total_ms"]
        if "slixmpp" in res:
            res["slixmpp_over_floor_ms"] = res["slixmpp"]["total_ms"] - fl["total_ms"]
            res["slixmpp_over_floor_x"] = res["slixmpp"]["total_ms"] / fl["total_ms"]
            res["stanzalink_fraction_of_slixmpp"] = sl["total_ms"] / res["slixmpp"]["total_ms"]
        results[name] = res
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "rounds": args.rounds,
        "startups_per_round": args.reps,
        "loopback_rtt_ms": rtt,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    if args.readme:
        write_readme(out)
    return 0


def write_readme(out: dict[str, Any]) -> None:
    res = out["results"]
    fl = res[next(iter(res))]["floor"]
    lines = [
        f"Measured with `python bench/bench_startup.py` on {out['date']}: process start to a "
        "bound session (stream management enabled) against Prosody 0.12 on loopback, medians "
        f"of {out['rounds']} interleaved rounds of {out['startups_per_round']} start-ups; "
        "the floor is the interpreter, `import asyncio, ssl` and a raw blocking login "
        f"({fl['mechanism']}) that waits {fl['round_trips']} times for the server. "
        "Numbers: [bench/results/startup.json](bench/results/startup.json).",
        "",
        "| target | | interpreter | imports | login | total | over the floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in res.items():
        label = "x86_64 host" if name == "host" else f"{r['machine']}, qemu-user"
        for kind in ("floor", "stanzalink", "slixmpp"):
            if kind not in r:
                continue
            k = r[kind]
            over = (
                ""
                if kind == "floor"
                else f"+{r[kind + '_over_floor_ms']:.0f} ms ({r[kind + '_over_floor_x']:.2f}x)"
            )
            lines.append(
                f"| {label} | {kind} | {k['interpreter_ms']:.0f} | {k['imports_ms']:.0f} | "
                f"{k['login_ms']:.0f} | {k['total_ms']:.0f} | {over} |"
            )
    lines += [
        "",
        f"All times in ms. The loopback round trip is {out['loopback_rtt_ms'] * 1000:.0f} µs "
        f"(a TCP echo, median), so the floor's {fl['round_trips']} round trips put under "
        f"{fl['round_trips'] * out['loopback_rtt_ms']:.1f} ms of network in its login; the "
        "rest of that login is Prosody's time (its TLS handshake, SCRAM, bind) and the "
        "client's TLS and SCRAM computation in C. Each column is a median of its own, so "
        "a row's columns need not add up to its total.",
    ]
    from readme import busy_machine, write_section

    lines += busy_machine(out)
    write_section("startup", lines, "start-up benchmark")


if __name__ == "__main__":
    sys.exit(main())

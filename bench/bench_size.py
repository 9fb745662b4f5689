"""Installed size per architecture: stanzalink's wheel, installed with its
bytecode compiled, beside slixmpp's installed the same way.

For each architecture (amd64, arm64, armhf) and each library: ``pip
install --target`` into an empty directory (pip's platform options choose
the target's wheels; nothing is built), then ``compileall`` (the bytecode a
Debian, Yocto or Buildroot image compiles at install; CPython 3.11's
bytecode is the same on every architecture), then ``du -sb`` of the
directory.  Twice: the library alone (``--no-deps``), and with the
dependencies pip resolves from PyPI (stanzalink: cffi, pycparser;
slixmpp: aiodns, pycares, cffi, pycparser, pyasn1, pyasn1-modules).  On an
image cffi usually comes from the distribution (Yocto's python3-cffi,
Buildroot's python-cffi, Debian's python3-cffi-backend), so the first
figure is the one stanzalink adds there.

stanzalink's wheels: amd64 built from this tree (``pip wheel``, the
extension compiled here); arm64 and armhf the ones
``scripts/cross/build-and-test.sh`` cross-builds into
``build/cross/<arch>/wheels`` (run it first).  slixmpp's come from PyPI, the
version installed here; an architecture PyPI has no wheel for is reported
as missing (slixmpp's JID code is a Rust extension: its sdist needs a Rust
cross build).

Usage: python bench/bench_size.py [--json FILE] [--readme]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from readme import write_section

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip"]
PLATFORMS = {  # pip --platform values, best first
    "amd64": ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "linux_x86_64"],
    "arm64": ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "linux_aarch64"],
    "armhf": ["manylinux_2_31_armv7l", "manylinux2014_armv7l", "linux_armv7l"],
}
MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7"}


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def install(arch: str, what: list[str], deps: bool, into: Path) -> dict[str, Any]:
    """pip install ``what`` for ``arch`` into ``into``, compile, measure."""
    plat = [a for p in PLATFORMS[arch] for a in ("--platform", p)]
    cmd = [
        *PIP, "install", "-q", "--disable-pip-version-check", "--target", str(into),
        "--only-binary=:all:", *plat, "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311", "--abi", "abi3", "--abi", "none", "--no-compile",
        *([] if deps else ["--no-deps"]), *what,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    py = sum(p.stat().st_size for p in into.rglob("*.py"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into)], check=False)
    dists = sorted(p.name.split("-")[0] for p in into.glob("*.dist-info"))
    parts = {p.name: du(p) for p in sorted(into.iterdir()) if not p.name.endswith(".dist-info")}
    return {
        "installed_bytes": du(into),
        "python_source_bytes": py,
        "bytecode_bytes": sum(p.stat().st_size for p in into.rglob("*.pyc")),
        "extension_bytes": sum(p.stat().st_size for p in into.rglob("*.so")),
        "distributions": dists,
        "parts": parts,
    }


def host_wheel(out: Path) -> tuple[Path, int]:
    """This host's wheel, its extension stripped as the cross-built ones are
    (and as dh_strip, Yocto and Buildroot strip theirs), and the size of the
    wheel as ``pip wheel`` left it."""
    build = out / "built"
    subprocess.run(
        [*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(build), str(ROOT)],
        check=True,
        capture_output=True,
    )
    built = next(build.glob("stanzalink-*.whl"))
    unpacked = out / "unpacked"
    wheel = [sys.executable, "-m", "wheel"]
    subprocess.run([*wheel, "unpack", "-d", str(unpacked), str(built)], check=True)
    (tree,) = unpacked.iterdir()
    for so in tree.rglob("*.so"):
        subprocess.run(["strip", "--strip-unneeded", str(so)], check=True)
    subprocess.run([*wheel, "pack", "-d", str(out), str(tree)], capture_output=True, check=True)
    return next(out.glob("stanzalink-*.whl")), built.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "size.json"))
    ap.add_argument("--readme", action="store_true", help="rewrite the README's size table")
    ap.add_argument("--readme-only", action="store_true", help="the README from --json, no run")
    args = ap.parse_args()
    if args.readme_only:
        write_readme(json.loads(Path(args.json).read_text()))
        return 0
    slix = f"slixmpp=={metadata.version('slixmpp')}"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stanzalink-size-") as tmp:
        root = Path(tmp)
        wheels = {}
        wheels["amd64"], unstripped = host_wheel(root / "wheel")
        for arch in ("arm64", "armhf"):
            found = sorted((ROOT / "build" / "cross" / arch / "wheels").glob("stanzalink-*.whl"))
            if found:
                wheels[arch] = found[-1]
            else:
                print(f"{arch}: no wheel (scripts/cross/build-and-test.sh {arch} --no-tests)")
        for arch in PLATFORMS:
            res: dict[str, Any] = {}
            if arch in wheels:
                res["stanzalink_wheel"] = wheels[arch].name
                res["stanzalink_wheel_bytes"] = wheels[arch].stat().st_size
                res["stanzalink"] = install(arch, [str(wheels[arch])], False, root / arch / "sl")
                res["stanzalink_with_deps"] = install(
                    arch, [str(wheels[arch])], True, root / arch / "sl-deps"
                )
            res["slixmpp"] = install(arch, [slix], False, root / arch / "sx")
            res["slixmpp_with_deps"] = install(arch, [slix], True, root / arch / "sx-deps")
            if arch == "amd64":
                res["stanzalink_wheel_unstripped_bytes"] = unstripped
            results[arch] = res
            print(arch, json.dumps({k: v.get("installed_bytes", v) if isinstance(v, dict) else v
                                    for k, v in res.items()}), flush=True)  # fmt: skip
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "python": "3.11 (bytecode compiled by " + sys.version.split()[0] + ")",
        "slixmpp": slix,
        "results": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    if args.readme:
        write_readme(out)
    return 0


def _b(res: dict[str, Any], key: str) -> str:
    got = res.get(key, {})
    return f"{got['installed_bytes']:,}" if "installed_bytes" in got else "no wheel"


def write_readme(out: dict[str, Any]) -> None:
    res = out["results"]
    arches = list(res)
    head = " | ".join(f"{a} ({MACHINE[a]})" for a in arches)
    lines = [
        f"Measured with `python bench/bench_size.py` on {out['date']}: each wheel installed "
        "with `pip install --target` for the architecture, bytecode compiled, `du -sb` "
        f"(bytes). slixmpp is {out['slixmpp']} from PyPI. Numbers: "
        "[bench/results/size.json](bench/results/size.json).",
        "",
        f"| | {head} |",
        "|---|" + "---:|" * len(arches),
        "| stanzalink wheel | "
        + " | ".join(f"{res[a].get('stanzalink_wheel_bytes', 0):,}" for a in arches)
        + " |",
    ]
    rows = [
        ("stanzalink installed", "stanzalink"),
        ("slixmpp installed", "slixmpp"),
        ("stanzalink with its PyPI dependencies (cffi, pycparser)", "stanzalink_with_deps"),
        (
            "slixmpp with its PyPI dependencies (aiodns, pycares, cffi, pycparser, pyasn1, "
            "pyasn1-modules)",
            "slixmpp_with_deps",
        ),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(_b(res[a], key) for a in arches) + " |")
    ratio = []
    for a in arches:
        sl, sx = res[a].get("stanzalink", {}), res[a].get("slixmpp", {})
        ok = "installed_bytes" in sl and "installed_bytes" in sx
        ratio.append(f"{sl['installed_bytes'] / sx['installed_bytes']:.2f}" if ok else "-")
    lines.append("| stanzalink / slixmpp, installed | " + " | ".join(ratio) + " |")
    notes = []
    for a in arches:
        missing = [k for k in ("slixmpp", "stanzalink_with_deps") if "error" in res[a].get(k, {})]
        if missing:
            notes.append(
                f"{a}: PyPI has no {MACHINE[a]} wheel of "
                + (
                    "slixmpp (its sdist needs a Rust cross build) nor of "
                    if missing[0] == "slixmpp"
                    else ""
                )
                + "cffi; an image takes cffi from its distribution."
            )
    ref = next((res[a]["slixmpp"] for a in arches if "installed_bytes" in res[a]["slixmpp"]), None)
    if notes and ref is not None:
        notes.append(
            "slixmpp without its compiled JID extension would still take "
            f"{ref['installed_bytes'] - ref['extension_bytes']:,} bytes installed."
        )
    amd = res.get("amd64", {})
    if "stanzalink_wheel_unstripped_bytes" in amd:
        notes.append(
            "The amd64 wheel is built here with its extension stripped, as the cross-built "
            "ones are; `pip wheel` leaves it unstripped "
            f"({amd['stanzalink_wheel_unstripped_bytes']:,} bytes)."
        )
    if notes:
        lines += ["", " ".join(notes)]
    write_section("size", lines, "size benchmark")


if __name__ == "__main__":
    sys.exit(main())

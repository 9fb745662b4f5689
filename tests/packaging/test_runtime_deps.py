"""What the installed agent needs at run time, and that the recipes give it.

Every standard-library module the package imports (at any depth: the lazy
imports in functions count, ``stanzalink_testing`` does not) must be in
the tables below, and each table entry must be named by the Yocto recipe's
RDEPENDS and the Buildroot Config.in selects.  A new import fails here until
someone looks up where it lives and adds it.

YOCTO is read from oe-core scarthgap's
``meta/recipes-devtools/python/python3/python3-manifest.json`` (Python
3.12): the package whose FILES hold the module.  BUILDROOT names the
``BR2_PACKAGE_PYTHON3_*`` option a module needs; the others are always
built.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from ..util import python_cmd

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "agent" / "stanzalink"
RECIPE = ROOT / "recipes/recipes-connectivity/python3-stanzalink/python3-stanzalink_git.bb"
BR_CONFIG = ROOT / "buildroot/package/python-stanzalink/Config.in"

# module -> oe-core package (python3-<name>); "core" for python3-core
YOCTO = {
    "__future__": "core",
    "_hashlib": "crypt",  # OpenSSL's hashes (stanzalink.digest)
    "argparse": "core",
    "ast": "core",  # inspect (core) imports it
    "asyncio": "asyncio",
    "base64": "netclient",
    "binascii": "core",
    "collections": "core",
    "concurrent.futures": "asyncio",
    "contextlib": "core",
    "copy": "core",
    "ctypes": "ctypes",  # inotify for the avatar file (xep/vcard.py); _ctypes needs libffi
    "dataclasses": "core",
    "datetime": "datetime",
    "difflib": "difflib",
    "enum": "core",
    "errno": "core",  # built into the interpreter
    "functools": "core",
    "gzip": "compression",
    "hashlib": "crypt",
    "heapq": "core",
    "hmac": "netclient",
    "http": "netclient",
    "http.client": "netclient",
    # http/ is in netclient, but http.server imports socketserver (netserver)
    "http.server": "netserver",
    "importlib": "core",
    "inspect": "core",
    "io": "core",
    "ipaddress": "core",
    "itertools": "core",  # built into the interpreter
    "json": "json",
    "logging": "logging",
    "math": "core",
    "mimetypes": "netclient",
    "os": "core",
    "pathlib": "core",
    "pickle": "pickle",
    "platform": "core",
    "pyexpat": "xml",
    "queue": "threading",
    "random": "math",
    "re": "core",
    "secrets": "netclient",
    "selectors": "core",
    "shlex": "shell",
    "shutil": "core",
    "signal": "core",
    "socket": "io",
    "ssl": "io",
    "stat": "core",
    "string": "stringold",
    "stringprep": "core",
    "struct": "core",
    "subprocess": "core",
    "socketserver": "netserver",
    "sys": "core",  # built into the interpreter
    "tarfile": "compression",
    "tempfile": "io",
    "textwrap": "core",
    "threading": "core",
    "time": "core",
    "tomllib": "tomllib",
    "traceback": "core",
    "types": "core",
    "typing": "core",
    "unicodedata": "core",
    "urllib.error": "netclient",
    "urllib.parse": "core",
    "urllib.request": "netclient",
    "uuid": "netclient",
    "weakref": "core",
    "wsgiref": "misc",  # in no package's FILES: python3-misc takes the rest
    "xml": "xml",
    "zlib": "core",
}

# module -> the Buildroot option it needs (None: always built with python3)
BUILDROOT = {
    "pyexpat": "BR2_PACKAGE_PYTHON3_PYEXPAT",
    "xml": "BR2_PACKAGE_PYTHON3_PYEXPAT",
    "ssl": "BR2_PACKAGE_PYTHON3_SSL",
    "_hashlib": "BR2_PACKAGE_PYTHON3_SSL",
    "hashlib": "BR2_PACKAGE_PYTHON3_SSL",  # pbkdf2_hmac and sha3 come from OpenSSL
    "unicodedata": "BR2_PACKAGE_PYTHON3_UNICODEDATA",
    "stringprep": "BR2_PACKAGE_PYTHON3_UNICODEDATA",
    "zlib": "BR2_PACKAGE_PYTHON3_ZLIB",
    "gzip": "BR2_PACKAGE_PYTHON3_ZLIB",
    "uuid": "BR2_PACKAGE_PYTHON3_UUID",
    "sqlite3": "BR2_PACKAGE_PYTHON3_SQLITE",
    "decimal": "BR2_PACKAGE_PYTHON3_DECIMAL",
    "lzma": "BR2_PACKAGE_PYTHON3_XZ",
    "bz2": "BR2_PACKAGE_PYTHON3_BZIP2",
}


def imports(root: Path, skip: tuple[str, ...]) -> set[str]:
    """Dotted names of every import in the .py files below ``root``."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if any(part in skip for part in rel.parts) or rel.as_posix() in skip:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def runtime_modules() -> set[str]:
    """Every import in the installed package, the tests' helpers excluded."""
    return imports(PKG, ())


def stdlib_modules() -> set[str]:
    return {m for m in runtime_modules() if m.split(".")[0] in sys.stdlib_module_names}


def lookup(table: dict[str, str], module: str) -> str | None:
    """The entry of ``module`` or of the nearest package that holds it."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in table:
            return table[name]
        parts.pop()
    return None


def rdepends(package: str = "${PN}") -> set[str]:
    var = re.escape(f"RDEPENDS:{package}")
    m = re.search(var + r' \+= "\\\n(.*?)"', RECIPE.read_text(), re.S)
    assert m, f"RDEPENDS:{package} not found"
    return set(m.group(1).split())


def test_the_walk_finds_the_imports() -> None:
    found = stdlib_modules()
    # a few the agent cannot run without: the walk sees lazy imports too
    assert {"asyncio", "ssl", "tomllib", "shlex", "pyexpat"} <= found
    assert not any(m.startswith("pytest") or m.startswith("slixmpp") for m in runtime_modules())


def test_every_stdlib_import_has_a_yocto_package_in_rdepends() -> None:
    have = rdepends()
    missing = {}
    for module in sorted(stdlib_modules()):
        pkg = lookup(YOCTO, module)
        assert pkg is not None, (
            f"{module}: not in the table; find its package in oe-core's python3-manifest.json"
        )
        if f"python3-{pkg}" not in have:
            missing[module] = f"python3-{pkg}"
    assert missing == {}, f"RDEPENDS lacks {missing}"


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    third = {
        m.split(".")[0]
        for m in runtime_modules()
        if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("stanzalink")
    }
    # cffi is loaded by the compiled module itself (_cffi_backend), not imported
    assert third <= {"cffi", "_cffi_backend"}, third
    assert "python3-cffi" in rdepends()


def test_buildroot_selects_the_python3_options_the_imports_need() -> None:
    selects = set(re.findall(r"^\s*select (BR2_PACKAGE_\w+)", BR_CONFIG.read_text(), re.M))
    needed = {opt for m in stdlib_modules() if (opt := lookup(BUILDROOT, m)) is not None}
    assert needed - selects == set()
    assert "BR2_PACKAGE_PYTHON_CFFI" in selects


BLOCKER = r"""
import importlib, pkgutil, sys
ALLOWED = set(sys.stdlib_module_names) | {"stanzalink", "cffi", "_cffi_backend", "pycparser"}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError(f"dev-only import: {name}")
        return None
sys.meta_path.insert(0, Refuse())
import stanzalink
SKIP = {"stanzalink._sl_native", "stanzalink.__main__"}
done = []
for info in pkgutil.walk_packages(stanzalink.__path__, "stanzalink."):
    if info.name in SKIP:
        continue
    importlib.import_module(info.name)
    done.append(info.name)
print(len(done))
"""


def test_every_module_imports_without_dev_dependencies() -> None:
    # the interpreter in isolated mode, only the package's folder added:
    # importing anything but the standard library and cffi is refused
    res = subprocess.run(
        [
            *python_cmd(),
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(PKG.parent)!r})\n" + BLOCKER,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.split()[-1]) > 40, res.stdout


def test_ptest_rdepends_cover_the_on_target_tests() -> None:
    # what run-ptest runs: tests/ without the source-tree and server tests
    tests = imports(ROOT / "tests", ("integration", "packaging", "test_docs.py", "test_house.py"))
    # and the test kit the ptest package installs beside them
    tests |= imports(ROOT / "agent" / "stanzalink_testing", ())
    have = rdepends() | rdepends("${PN}-ptest")  # ptest packages depend on ${PN}
    missing = {}
    for module in sorted(tests):
        top = module.split(".")[0]
        if top in ("stanzalink", "stanzalink_testing", "tests") or module.startswith("."):
            continue
        if top in sys.stdlib_module_names:
            pkg = lookup(YOCTO, module)
            assert pkg is not None, f"{module}: not in the table"
            name = f"python3-{pkg}"
        else:
            name = f"python3-{top}"
        if name not in have:
            missing[module] = name
    assert missing == {}, f"RDEPENDS:${{PN}}-ptest lacks {missing}"
    run_ptest = (RECIPE.parent / "files" / "run-ptest").read_text()
    for skipped in (
        "tests/integration",
        "tests/packaging",
        "tests/test_docs.py",
        "tests/test_house.py",
    ):
        assert f"--ignore={skipped}" in run_ptest

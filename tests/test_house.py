"""The rules of the house, read from the code's own imports.

Three rules (DESIGN.md, "Layers" and "Rules of the house"):

1. Imports point down: each part of ``stanzalink`` may import only the parts
   listed for it in ``MAY_IMPORT``.  A new part must be given a row here.
2. No circles: no two modules import each other, however indirectly (imports
   inside functions count: a lazy import hides a circle, it does not break it).
   Imports under ``if TYPE_CHECKING:`` are not counted: they name a type for
   the checker and load nothing.
3. One module touches ``ffi``/``lib``: ``stanzalink.xml._native``.
4. Features, commands and front ends take their time from the clock they
   are given (``ctx.clock``), never from the event loop, and keep no state
   in module-level containers (two agents share a process).

The imports are read with :mod:`ast`, so nothing is run.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1] / "agent"
PACKAGE = ROOT / "stanzalink"

# the test kit beside the package (agent/stanzalink_testing): devices do not have it
TEST_KIT = "stanzalink_testing"

# Modules with no upward reach: the ground floor every other part stands on.
BASE = {
    "errors", "ns", "_value", "logsafe", "logring", "ratelog", "jid", "clock", "_sl_native",
    "config_toml", "digest",
}  # fmt: skip

_LOW = {"base"}
# part -> the parts it may import (besides itself).  Read from the bottom up.
MAY_IMPORT: dict[str, set[str]] = {
    "base": set(),
    "xml": _LOW,
    "access": _LOW | {"xml"},
    "stanza": _LOW | {"xml"},
    "session": _LOW | {"xml", "access", "stanza"},
    "config": _LOW | {"xml"},
    "net": _LOW | {"xml"},
    "commands": _LOW | {"xml", "access", "stanza", "config"},
    "xep": _LOW | {"xml", "access", "stanza", "config", "net", "commands"},
    "console": _LOW | {"xml", "access", "stanza", "config", "commands", "xep"},
    "aio": _LOW | {"xml", "access", "stanza", "session", "config"},
    "fleet": _LOW | {"xml", "access", "stanza", "session", "config", "net", "xep", "aio"},
    # the feature list and what the agent knows of each without loading it
    "features": _LOW | {"xml", "access", "stanza", "config", "xep"},
    "agent": _LOW
    | {
        "features",
        "xml",
        "access",
        "stanza",
        "session",
        "config",
        "net",
        "commands",
        "xep",
        "console",
        "aio",
    },
    # many agents in one process (stanzalink simulate): above the agent
    "simulate": _LOW
    | {
        "features",
        "xml",
        "access",
        "stanza",
        "session",
        "config",
        "net",
        "commands",
        "xep",
        "console",
        "aio",
        "agent",
    },
    "cli": _LOW
    | {
        "xml",
        "access",
        "stanza",
        "session",
        "config",
        "net",
        "commands",
        "xep",
        "console",
        "aio",
        "agent",
        "fleet",
        "simulate",
    },
    "__main__": {"cli"},
    "__init__": set(),
}

# Known breaks of the rules, each to be mended and then struck from this list:
# a listed break that no longer occurs fails the test, so the list only shrinks.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CIRCLES: set[frozenset[str]] = set()
KNOWN_FFI: set[str] = set()


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str, modules: dict[str, pathlib.Path]) -> bool:
    return name in modules or name == "stanzalink._sl_native"


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and (
                (isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING")
                or (isinstance(child.test, ast.Attribute) and child.test.attr == "TYPE_CHECKING")
            ):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _imports(name: str, path: pathlib.Path, modules: dict[str, pathlib.Path]) -> Iterator[str]:
    """Every stanzalink module that ``name`` imports at run time, at any depth
    of its code."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("stanzalink", TEST_KIT):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in ("stanzalink", TEST_KIT):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if _is_module(sub, modules) else target


def _part(module: str) -> str:
    if module.split(".")[0] == TEST_KIT:
        return TEST_KIT  # no part may import it: it is not installed with them
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    head = parts[1]
    if head in BASE:
        return "base"
    return head


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(name, path, modules) if t != name}
    return graph


def test_every_part_has_a_row() -> None:
    parts = {_part(m) for m in _graph()}
    assert parts <= set(MAY_IMPORT), f"parts with no row in MAY_IMPORT: {parts - set(MAY_IMPORT)}"


def test_imports_point_down() -> None:
    upward = set()
    for source, targets in _graph().items():
        allowed = MAY_IMPORT[_part(source)] | {_part(source)}
        for target in targets:
            # a package's __init__ is its own part's face
            if target == "stanzalink":
                continue
            if _part(target) not in allowed:
                upward.add((source, target))
    new = upward - KNOWN_UPWARD
    assert not new, "imports that point up a layer:\n" + "\n".join(
        f"  {s} -> {t}" for s, t in sorted(new)
    )
    mended = KNOWN_UPWARD - upward
    assert not mended, "mended, strike from KNOWN_UPWARD:\n" + "\n".join(
        f"  {s} -> {t}" for s, t in sorted(mended)
    )


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_no_circles() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its modules is not a circle of meaning
    for name in list(graph):
        if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists():
            graph[name] = set()
    circles = set(_circles(graph))
    new = circles - KNOWN_CIRCLES
    assert not new, "import circles:\n" + "\n".join(
        "  " + " <-> ".join(sorted(c)) for c in sorted(new, key=sorted)
    )
    mended = KNOWN_CIRCLES - circles
    assert not mended, f"mended, strike from KNOWN_CIRCLES: {mended}"


_FFI_NAMES = {"ffi", "lib", "_ffi", "_lib"}


def _touches_ffi(path: pathlib.Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.endswith("_sl_native"):
                return True
            if node.module.endswith("_native") and any(a.name in _FFI_NAMES for a in node.names):
                return True
        if isinstance(node, ast.Import) and any(a.name.endswith("_sl_native") for a in node.names):
            return True
        if isinstance(node, ast.Attribute) and node.attr in _FFI_NAMES:
            value = node.value
            if isinstance(value, ast.Name) and value.id in {"_native", "_sl_native"}:
                return True
    return False


def test_one_module_touches_ffi() -> None:
    touching = {name for name, path in _modules().items() if _touches_ffi(path)}
    assert "stanzalink.xml._native" in touching, "the check no longer sees _native.py's own use"
    others = touching - {"stanzalink.xml._native"}
    new = others - KNOWN_FFI
    assert not new, f"modules other than xml/_native.py that touch ffi/lib: {sorted(new)}"
    mended = KNOWN_FFI - others
    assert not mended, f"mended, strike from KNOWN_FFI: {sorted(mended)}"


def test_devices_do_not_install_the_test_kit() -> None:
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]
    packages = find_packages(str(ROOT.parent / find["where"][0]), include=find["include"])
    assert "stanzalink" in packages and "stanzalink.xep.jingle" in packages
    assert not [p for p in packages if p.startswith(TEST_KIT)], packages


def test_the_checks_can_fail(tmp_path: pathlib.Path) -> None:
    """The readers above see what they must: an upward import, a circle, an ffi use."""
    bad = tmp_path / "bad.py"
    bad.write_text("from stanzalink.xml._native import _lib\n")
    assert _touches_ffi(bad)
    bad.write_text("import stanzalink._sl_native\n")
    assert _touches_ffi(bad)
    bad.write_text("from . import _native\nx = _native._ffi\n")
    assert _touches_ffi(bad)
    bad.write_text("from stanzalink.xml import element\n")
    assert not _touches_ffi(bad)
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})
    ]
    assert _circles({"a": {"b"}, "b": set()}) == []
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "import stanzalink.jid\n"
        "if TYPE_CHECKING:\n    from stanzalink.agent import Agent\n"
        "else:\n    from stanzalink import errors\n"
        "def f():\n    from stanzalink.xml import element\n"
    )
    modules = _modules()
    assert set(_imports("stanzalink.bad", bad, modules)) == {
        "stanzalink.jid",
        "stanzalink.errors",
        "stanzalink.xml.element",
    }
    bad.write_text('"""A room.\n\nLong because it is one state machine."""\nx = 1\n')
    assert "because" in _opening_text(bad)
    c_file = tmp_path / "bad.c"
    c_file.write_text("/* Over 500 lines because of one switch. */\nint x;\n")
    assert "because" in _opening_text(c_file)
    assert _part("stanzalink.xep.jingle.core") == "xep"
    assert _part("stanzalink.jid") == "base"
    assert _part("stanzalink_testing.harness") == TEST_KIT not in MAY_IMPORT
    bad.write_text("from stanzalink_testing.harness import Harness\n")
    assert set(_imports("stanzalink.bad", bad, modules)) == {"stanzalink_testing.harness"}
    assert "aio" not in MAY_IMPORT["xep"] and "session" not in MAY_IMPORT["xep"]


# Rooms over 500 lines with no sentence yet saying why: to be split or explained,
# then struck from this list (a listed room that no longer needs it fails the test).
KNOWN_LONG: set[str] = set()
MAX_LINES = 500


def _opening_text(path: pathlib.Path) -> str:
    """A Python module's docstring, or a C file's first comment."""
    text = path.read_text()
    if path.suffix == ".py":
        return ast.get_docstring(ast.parse(text)) or ""
    start = text.find("/*")
    return text[start : text.find("*/", start)] if start >= 0 else ""


def _long_rooms() -> set[str]:
    repo = ROOT.parent
    files = [*PACKAGE.rglob("*.py")]
    for pattern in ("*.c", "*.h", "*.inc"):
        files += (repo / "native" / "src").rglob(pattern)
    unexplained = set()
    for path in files:
        if len(path.read_text().splitlines()) <= MAX_LINES:
            continue
        if "because" not in _opening_text(path).lower():
            unexplained.add(str(path.relative_to(repo)))
    return unexplained


def test_a_long_room_says_why() -> None:
    """No module over 500 lines without a sentence in its docstring (a C
    file: its first comment) saying why ("... because ...")."""
    long = _long_rooms()
    new = long - KNOWN_LONG
    assert not new, f"over {MAX_LINES} lines with no sentence saying why: {sorted(new)}"
    mended = KNOWN_LONG - long
    assert not mended, f"mended, strike from KNOWN_LONG: {sorted(mended)}"


# the feature modules: they take time only from ctx.clock
FEATURE_DIRS = ("xep", "console", "commands")


def _clock_reads(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f, owner = node.func, node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else ""
        if (
            f.attr in ("call_later", "call_at")
            and owner_name != "clock"
            and not (isinstance(owner, ast.Attribute) and owner.attr == "clock")
        ):
            yield node.lineno, f"{f.attr} on the loop"
        elif f.attr == "time" and isinstance(owner, ast.Call):
            yield node.lineno, "the loop's time()"
        elif f.attr == "time" and owner_name == "loop":
            yield node.lineno, "loop.time()"
        elif owner_name == "time" and f.attr in ("monotonic", "perf_counter"):
            yield node.lineno, f"time.{f.attr}()"
        elif owner_name == "asyncio" and f.attr in ("wait_for", "timeout", "timeout_at"):
            yield node.lineno, f"asyncio.{f.attr}"
        elif owner_name == "asyncio" and f.attr == "sleep":
            arg = node.args[0] if node.args else None
            if not (isinstance(arg, ast.Constant) and arg.value == 0):
                yield node.lineno, "asyncio.sleep (other than a yield)"


def test_features_take_their_time_from_the_clock_they_are_given() -> None:
    """No feature reads the event loop's clock or arms its own timers: a test
    with a manual clock then controls every timeout."""
    found = []
    for part in FEATURE_DIRS:
        for path in sorted((PACKAGE / part).rglob("*.py")):
            rel = path.relative_to(PACKAGE).as_posix()
            for line, what in _clock_reads(ast.parse(path.read_text())):
                found.append(f"{rel}:{line}: {what}")
    assert found == []


_CONTAINERS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"}
_MUTATORS = {"append", "add", "update", "setdefault", "pop", "popitem", "clear", "extend",
             "remove", "discard", "insert", "appendleft"}  # fmt: skip


def _module_state(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Module-level containers the module changes, and ``global`` rebinding."""
    mutable: set[str] = set()
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        targets = (
            node.targets if isinstance(node, ast.Assign)
            else [node.target] if isinstance(node, ast.AnnAssign) else []
        )  # fmt: skip
        literal = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp,
                                     ast.SetComp))  # fmt: skip
        made = (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in _CONTAINERS
        )
        if literal or made:
            mutable.update(t.id for t in targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            yield node.lineno, f"global {', '.join(node.names)}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in mutable
            and node.func.attr in _MUTATORS
        ):
            yield node.lineno, f"{node.func.value.id}.{node.func.attr}()"
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.value, ast.Name)
                    and t.value.id in mutable
                ):
                    yield node.lineno, f"{t.value.id}[...] changed"


def test_no_process_wide_state_in_features() -> None:
    """Two agents share a process (``stanzalink simulate``): no feature,
    command or front end keeps state in a module-level container."""
    found = []
    for part in (*FEATURE_DIRS, "net"):
        for path in sorted((PACKAGE / part).rglob("*.py")):
            for line, what in _module_state(ast.parse(path.read_text())):
                found.append(f"{path.relative_to(PACKAGE).as_posix()}:{line}: {what}")
    for line, what in _module_state(ast.parse((PACKAGE / "agent.py").read_text())):
        found.append(f"agent.py:{line}: {what}")
    assert found == []

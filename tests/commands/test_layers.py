"""Imports point one way: the front ends (``console/``, ``xep/adhoc.py``
with ``xep/command_forms.py``) import ``commands/``; ``commands/`` imports
neither front end, no feature module, nothing of the session or the
client; and neither front end imports the other."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from tests.util import python_cmd

PKG = Path(__file__).resolve().parents[2] / "agent" / "stanzalink"
FRONT_ENDS = {
    "console": ("stanzalink.console",),
    "adhoc": ("stanzalink.xep.adhoc", "stanzalink.xep.command_forms"),
}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_commands_import_no_front_end_and_no_feature() -> None:
    banned = (
        "stanzalink.console",
        "stanzalink.xep",
        "stanzalink.agent",
        "stanzalink.aio",
        "stanzalink.session",
    )
    files = sorted((PKG / "commands").glob("*.py"))
    assert files
    for f in files:
        bad = sorted(m for m in imported(f) if under(m, banned))
        assert bad == [], f"{f.name} imports {bad}"


def test_the_front_ends_do_not_import_each_other() -> None:
    console = sorted((PKG / "console").glob("*.py"))
    adhoc = [PKG / "xep" / "adhoc.py", PKG / "xep" / "command_forms.py"]
    for f in console:
        assert not [m for m in imported(f) if under(m, FRONT_ENDS["adhoc"])], f.name
    for f in adhoc:
        assert not [m for m in imported(f) if under(m, FRONT_ENDS["console"])], f.name


def test_loading_the_commands_loads_no_front_end() -> None:
    code = (
        "import sys, stanzalink.commands, stanzalink.commands.plugins\n"
        "print(sorted(m for m in sys.modules if m.startswith(('stanzalink.console',"
        " 'stanzalink.xep', 'stanzalink.aio', 'stanzalink.session', 'stanzalink.agent'))))"
    )
    out = subprocess.run([*python_cmd(), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

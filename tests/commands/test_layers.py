"""Imports point one way: the front ends (``console/``, ``xep/adhoc.py``
with ``xep/command_forms.py``) import ``commands/``; ``commands/`` imports
neither front end, no feature module, nothing of the session or the
client; and neither front end imports the other."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import stanzalink
from tests.util import python_cmd

PKG = Path(stanzalink.__file__).resolve().parent  # the source tree, or where it is installed
IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+\(?([\w, \t]*)"  # from X import a, b
    r"|import[ \t]+([\w., \t]+))",  # import X, Y as Z
    re.M,
)
FRONT_ENDS = {
    "console": ("stanzalink.console",),
    "adhoc": ("stanzalink.xep.adhoc", "stanzalink.xep.command_forms"),
}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (an
    import statement on one line, or the first line of a parenthesised one)."""
    return imported_text(path.read_text())


def imported_text(text: str) -> set[str]:
    out: set[str] = set()
    for m in IMPORT.finditer(text):
        if m.group(1):
            out.add(m.group(1))
            out.update(f"{m.group(1)}.{n.strip()}" for n in m.group(2).split(",") if n.strip())
        else:
            out.update(n.split(" as ")[0].strip() for n in m.group(3).split(","))
    return out


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_import_reader_sees_every_form() -> None:
    text = (
        "import os, stanzalink.aio.client as c\n"
        "from stanzalink.xep import adhoc, forms\n"
        "def f():\n    from stanzalink.console.feature import (\n        Console,\n    )\n"
    )
    found = imported_text(text)
    assert {"stanzalink.aio.client", "stanzalink.xep.adhoc", "stanzalink.console.feature"} <= found


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

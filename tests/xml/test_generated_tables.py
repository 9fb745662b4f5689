"""The generated C tables in native/src are what their generators write now.

Each ``native/src/NAME.h`` named here is written by
``native/tools/gen_NAME.py``; ``make -C native generated`` rewrites them
and ``make -C native check-generated`` runs the same comparison.
"""

from __future__ import annotations

import pyexpat
import re
import subprocess
from pathlib import Path

import pytest

from ..util import python_cmd

NATIVE = Path(__file__).resolve().parents[2] / "native"
GENERATED = ["nametab", "chartab"]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_table_is_current(name: str) -> None:
    committed = (NATIVE / "src" / f"{name}.h").read_text()
    m = re.search(r"from pyexpat (\S+)\.", committed)
    if m and m.group(1) != pyexpat.EXPAT_VERSION:
        have = pyexpat.EXPAT_VERSION
        pytest.skip(f"{name}.h was generated from {m.group(1)}, this Python has {have}")
    fresh = subprocess.run(
        [*python_cmd(), str(NATIVE / "tools" / f"gen_{name}.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert fresh == committed, f"native/src/{name}.h is stale: run make -C native generated"

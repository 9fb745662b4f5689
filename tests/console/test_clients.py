"""A console reply as Gajim shows it: Gajim 1.7 renders the plain body with
its own XEP-0393 parser (it no longer renders XHTML-IM), run here on a
reply.  Needs Debian's ``gajim`` (not installed by scripts/bootstrap.sh: it
pulls in a GTK desktop stack); skipped without it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from stanzalink.console.render import message
from stanzalink.xep.xhtml_im import Code, Grid, Pairs, Para

PYTHON = "/usr/bin/python3"
GAJIM = """
import json, sys
import gi
gi.require_version("Gdk", "3.0")
gi.require_version("Gtk", "3.0")
from gajim.common import app  # noqa: F401 (sets up what styling imports)
from gajim.common.styling import process
out = []
for b in process(sys.stdin.read()).blocks:
    spans = [[s.name, s.text] for s in getattr(b, "spans", [])]
    out.append([type(b).__name__, b.text, spans])
print(json.dumps(out))
"""


def gajim_blocks(body: str) -> list[list[object]]:
    done = subprocess.run(
        [PYTHON, "-c", GAJIM], input=body, capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        pytest.skip(f"Gajim's styling parser did not run: {done.stderr.strip()[-300:]}")
    result: list[list[object]] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(
    not shutil.which(PYTHON)
    or subprocess.run([PYTHON, "-c", "import gajim"], capture_output=True).returncode,
    reason="needs Debian's gajim",
)
def test_gajim_shows_bold_titles_and_tables_as_code_blocks() -> None:
    page = [
        Pairs([("device", "device1@example.net/agent"), ("load", "0.12 0.08 0.02")], "status"),
        Grid(["interface", "addresses"], [["lo", "127.0.0.1/8"], ["eth0", "192.0.2.2/24"]]),
        Para("Send ", Code("help status"), " for details."),
    ]
    blocks = gajim_blocks(message(page).body)
    kinds = [b[0] for b in blocks]
    assert kinds == ["PlainBlock", "PreBlock", "PlainBlock"]
    title, table, prose = blocks
    assert ["strong", "*status*"] in title[2]  # type: ignore[operator]
    assert "device: device1@example.net/agent" in str(title[1])
    assert str(table[1]).split("\n")[1:3] == ["interface  addresses", "---------  ------------"]
    assert ["pre", "`help status`"] in prose[2]  # type: ignore[operator]

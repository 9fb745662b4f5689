"""What profanity 0.13 (a terminal client that shows the plain body and
runs ad-hoc commands) shows of the console and of the ad-hoc results, read
off its screen: profanity in tmux against a real Prosody and a device
agent, driven as a person would type (``scripts/screenshots.py`` drives it
the same way for the README's screenshots)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    not (shutil.which("profanity") and shutil.which("tmux") and shutil.which("prosody")),
    reason="needs profanity, tmux and prosody (scripts/bootstrap.sh installs them)",
)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


def shots() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stanzalink_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def screen() -> Iterator[tuple[Any, Any]]:
    s = shots()
    with s.world() as w, s.profanity(w) as tmux:
        yield w, tmux


def message(pane: str, after: str) -> list[str]:
    """The lines of the last message that starts with ``after``, without
    profanity's time stamp and indent."""
    lines = pane.rstrip().split("\n")
    start = max(i for i, ln in enumerate(lines) if after in ln)
    out = [lines[start].split(after, 1)[1]]
    for ln in lines[start + 1 :]:
        if re.match(r"\d\d:\d\d:\d\d [-!] |\s*\[\d\d:\d\d\]", ln):
            break  # the next message, or the status bar
        out.append(ln.strip())
    while out and not out[-1]:
        out.pop()
    return out


def test_status_reads_as_a_title_pairs_and_a_fenced_table(screen: tuple[Any, Any]) -> None:
    w, tmux = screen
    tmux.type("status")
    pane = tmux.wait_for("interface  addresses")
    got = message(pane, "/agent: ")
    assert got[0] == "*status*"
    assert got[1] == f"device: {w.device}/agent"
    assert any(ln.startswith("uptime: ") for ln in got) and any("% used)" in ln for ln in got)
    assert "*" not in "".join(got[1:])  # no styling marker on the keys
    fence = got.index("```")
    assert got[fence + 1].split() == ["interface", "addresses"]
    assert set(got[fence + 2].replace(" ", "")) == {"-"}
    assert any(ln.split()[:2] == ["lo", "127.0.0.1/8,"] for ln in got[fence + 3 :])


def test_help_help_and_config_text(screen: tuple[Any, Any]) -> None:
    _, tmux = screen
    tmux.type("help help")
    got = message(tmux.wait_for("the command to explain"), "/agent: ")
    assert got[:2] == ["*help*", "usage: help [command]"]
    assert "command: the command to explain; text" in got


def test_adhoc_status_shows_its_table_and_options_their_labels(screen: tuple[Any, Any]) -> None:
    w, tmux = screen
    tmux.type(f"/cmd exec status {w.device}/agent")
    pane = tmux.wait_for("[field1] device:")
    assert "[field7] interface, addresses:" in pane  # the table, in the one form
    assert re.search(r"\[val1\] interface\s+addresses", pane)
    assert re.search(r"\[val3\] lo\s+127\.0\.0\.1/8", pane)
    tmux.type("/form cancel")
    tmux.type(f"/cmd exec log {w.device}/agent")
    pane = tmux.wait_for("[field2] level:")
    for level in ("debug", "info", "warning", "error"):
        assert f"[{level}] {level}" in pane
    assert "(null)" not in pane
    tmux.type("/form cancel")

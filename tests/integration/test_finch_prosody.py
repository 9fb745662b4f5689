"""What finch 2.14 (libpurple's terminal client: it renders the XHTML-IM
twin, as Pidgin does) shows of a console answer, read off its screen:
finch in tmux against a real Prosody and a device agent, the lines sent
through libpurple's D-Bus interface as if typed.  A ``<p>`` per block ran
together here (``statusdevice: device1@…``, ``(69 % used)interface``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_profanity_prosody import shots

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("finch", "tmux", "prosody", "dbus-launch", "dbus-send")),
    reason="needs finch, tmux, dbus-x11 and prosody (scripts/bootstrap.sh installs them)",
)


@pytest.fixture(scope="module")
def screen() -> Iterator[tuple[Any, Any, Any]]:
    s = shots()
    with s.world() as w, s.finch(w) as (tmux, send):
        yield s, tmux, send


def test_status_blocks_and_lines_stay_apart(screen: tuple[Any, Any, Any]) -> None:
    s, tmux, send = screen
    send("status")
    tmux.wait_for("addresses")
    lines = s.window_text(tmux.pane())
    title = max(i for i, ln in enumerate(lines) if ln.endswith("/agent: status"))
    got = lines[title + 1 :]
    assert got[0].startswith("device: device1@")  # not "statusdevice: …"
    assert got[1].startswith("host: ")
    disk = next(i for i, ln in enumerate(got) if ln.startswith("disk /: "))
    assert re.search(r"\(\d+ % used\)$", got[disk])  # not "(69 % used)interface"
    assert got[disk + 1] == "" and got[disk + 2].split() == ["interface", "addresses"]
    assert re.fullmatch(r"-+  -+", got[disk + 3])
    lo = next(ln for ln in got if ln.startswith("lo "))
    assert lo.split()[1] == "127.0.0.1/8,"

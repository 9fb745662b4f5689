"""docs/quickstart.md's *Try it* step, the command taken from the document
and run through make as written (tests/test_quickstart.py lists it): it
prints what a chat client needs, a real XMPP client logs in with exactly
that and the device answers ``status``; Ctrl-C ends it and leaves nothing.

Two things differ from a person's first run, both outside the command:
``-o setup`` (``scripts/bootstrap.sh``, which ``make test`` and CI ran
already, is not run again) and ``PY=`` the interpreter running the tests;
``TRY_ARGS`` picks a free port, as the document says it may."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from stanzalink_testing.prosody import free_port

from ..test_quickstart import ROOT, step
from .test_try_it import Output, ask_status, assert_left_nothing, ctrl_c, read_banner


def test_make_try_as_written() -> None:
    (command,) = step("try").commands()
    assert shlex.split(command) == ["make", "try"]
    port = free_port()
    proc = subprocess.Popen(
        [*shlex.split(command), "--no-print-directory", "-o", "setup", f"PY={sys.executable}",
         f"TRY_ARGS=--port {port} --user carol"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,  # a process group of its own, as in a terminal
    )  # fmt: skip
    out = Output(proc)
    root: Path | None = None
    try:
        jid, secret, device, ca, root = read_banner(out)
        assert (jid, device) == ("carol@localhost", "device1@localhost")
        # what the document promises the command prints
        assert f"/connect carol@localhost server 127.0.0.1 port {port}" in out.text()
        body = asyncio.run(asyncio.wait_for(ask_status(jid, secret, ca, port, device), 60))
        assert "device1@localhost" in body, body
    finally:
        code = ctrl_c(proc)
    out.rest(2)
    # the script exits 0; make, in the same process group, takes the Ctrl-C too
    assert code in (0, -signal.SIGINT), out.text()
    assert_left_nothing(out, root)

"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import shlex
import sys


def python_cmd() -> list[str]:
    """The command that runs this Python in a subprocess.  Under qemu-user
    the interpreter must be started through the emulator:
    STANZALINK_TEST_PYTHON names a wrapper that does it."""
    return shlex.split(os.environ.get("STANZALINK_TEST_PYTHON", "")) or [sys.executable]


def agent_pythonpath() -> str:
    """PYTHONPATH for a subprocess that must import the stanzalink this test
    process imported: the source tree on the host, the installed wheel (and
    its dependencies) on a target under qemu-user."""
    import stanzalink

    here = os.path.dirname(os.path.dirname(os.path.abspath(stanzalink.__file__)))
    inherited = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (here, inherited) if p)


def child_lines(code: str, *args: str, timeout: float = 60) -> list[str]:
    """The lines ``code`` prints, run by a fresh interpreter (this one, or
    the target's under qemu-user) that imports this stanzalink; a child
    that fails fails the test with its stderr."""
    import subprocess

    out = subprocess.run(
        [*python_cmd(), "-c", code, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": agent_pythonpath()},
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()

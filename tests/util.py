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

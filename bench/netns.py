"""Running a benchmark inside a network namespace of its own.

A bench that counts or drops packets with nftables runs its measuring part
in a namespace made for the run (``unshare -n`` as root, ``unshare -rn``
otherwise): loopback only, nothing else on it, and no rule left behind on
the host.  The bench's ``main`` calls :func:`run_inside`, which starts the
same script again with ``--inner``; that part calls :func:`loopback_up`
first and prints its result as JSON on its last line of output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_inside(script: str, argv: list[str]) -> Any:
    """``script --inner *argv`` in a new network namespace; the JSON on its
    last line of output.  When it fails, what it printed goes to stderr and
    :class:`SystemExit` carries its exit status."""
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    out = subprocess.run(
        [*unshare, sys.executable, script, "--inner", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        raise SystemExit(out.returncode)
    return json.loads(out.stdout.strip().splitlines()[-1])


def loopback_up() -> None:
    """Inside the namespace: bring its loopback interface up."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

"""An example console plugin that produces a file: ``diag`` writes a small
diagnostics bundle (a .tar.gz) and sends it to the asker by Jingle file
transfer.

Load it with ``[console] plugins = ["/etc/stanzalink/plugins/diag.py"]``.
The bundle is the plugin's own file, in the temporary folder, so it returns
``FileOffer(path, own=True, delete=True)``: the console sends exactly that
path (it need not be under ``[files] export``) and removes it afterwards.
The path is never built from what the asker typed.

The bundle holds what a support engineer asks for first: versions, uptime,
load, memory, mounts, network, the kernel's last messages where readable,
and the last lines of ``[console] log_file`` when one is set.  It holds no
configuration file (passwords live there).
"""

from __future__ import annotations

import asyncio
import io
import os
import platform
import socket
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from stanzalink import __version__
from stanzalink.commands import FileOffer, Invocation, KeyValue, command

PROC = ["uptime", "loadavg", "meminfo", "mounts", "net/dev", "net/route", "version"]
LOG_BYTES = 256 * 1024  # the end of the device log that goes in


def _read(path: Path, limit: int = LOG_BYTES) -> bytes | None:
    """The last ``limit`` bytes of a file (/proc files report no size:
    their first ``limit`` bytes)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                fh.seek(size - limit)
            return fh.read(limit)
    except OSError:
        return None


def build(folder: str, log_file: str | None) -> tuple[str, list[str]]:
    """Write the bundle into ``folder``; (its path, the names inside)."""
    host = socket.gethostname() or "device"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    fd, path = tempfile.mkstemp(prefix=f"diag-{host}-{stamp}-", suffix=".tar.gz", dir=folder)
    members: dict[str, bytes] = {
        "summary.txt": (
            f"host: {host}\nstanzalink: {__version__}\n"
            f"python: {platform.python_version()}\nkernel: {platform.release()}\n"
            f"written: {stamp}\n"
        ).encode()
    }
    for name in PROC:
        data = _read(Path("/proc") / name)
        if data is not None:
            members[f"proc/{name}"] = data
    if log_file:
        data = _read(Path(log_file))
        if data is not None:
            members["log/" + Path(log_file).name] = data
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"diag/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path, sorted(members)


@command(
    "diag",
    help="write a diagnostics bundle and send it to you",
    role="operator",
    long_running=True,
    read_only=True,  # a temporary file, deleted once sent: the device stays as it was
)
async def diag(inv: Invocation) -> list[Any]:
    log_file = inv.device.config.section("console").get("log_file")
    inv.progress("collecting")
    path, names = await asyncio.to_thread(build, tempfile.gettempdir(), log_file)
    size = os.path.getsize(path)
    summary = KeyValue([("bundle", os.path.basename(path)), ("size", f"{size} bytes"),
                        ("contents", ", ".join(names))], title="diag")  # fmt: skip
    return [summary, FileOffer(path, "diagnostics bundle", own=True, delete=True)]

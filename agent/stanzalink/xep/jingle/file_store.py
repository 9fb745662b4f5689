"""The files of XEP-0234 transfers on the device: which exported file a
name means (:func:`resolve_export`: ``..`` and symlinks resolved, nothing
outside the exports), the partial files of cut-off uploads
(:func:`clean_partials`), putting a verified file into the inbox without
replacing one (:func:`place`), and the hashes of exported files
(:class:`DigestCache`).  Used by :mod:`stanzalink.xep.jingle.file_transfer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stanzalink.xep import hashes


def resolve_export(exports: Iterable[Path], name: str, folder: bool = False) -> Path | None:
    """The regular file ``name`` under an export path (relative to it,
    or absolute inside it), after resolving ``..`` and symlinks; None
    for anything else.  ``folder``: a folder instead (an export folder
    itself included), for listing what may be fetched."""
    if not name or "\x00" in name:
        return None
    for root in exports:
        try:
            base = root.resolve(strict=True)
            cand = (base / name).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if folder:
            if base.is_dir() and cand.is_relative_to(base) and cand.is_dir():
                return cand
            continue
        # an export path that is a file exports that file alone
        ok = cand == base if base.is_file() else cand.is_relative_to(base) and cand != base
        if ok and cand.is_file():
            return cand
    return None


def clean_partials(part: Path, max_age: float, keep: int) -> None:
    """Remove the partial files in ``part`` older than ``max_age`` seconds,
    and the oldest beyond ``keep - 1`` (room for one more)."""
    now = time.time()
    entries = []
    for p in part.glob("*.part"):
        with contextlib.suppress(OSError):
            st = p.stat()
            if now - st.st_mtime > max_age:
                p.unlink()
            else:
                entries.append((st.st_mtime, p))
    for _mtime, p in sorted(entries)[: max(0, len(entries) - keep + 1)]:
        with contextlib.suppress(OSError):
            p.unlink()


def place(tmp: Path, folder: Path, name: str) -> Path:
    """Rename ``tmp`` into ``folder`` as ``name`` (``name-1``... when taken),
    never replacing a file; the folder is fsync'ed."""
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    for i in range(1000):
        cand = folder / (name if i == 0 else f"{stem}-{i}{dot}{ext}")
        try:
            os.link(tmp, cand)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (FAT): rename unless taken
            if cand.exists():
                continue
            os.rename(tmp, cand)
        else:
            os.unlink(tmp)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return cand
    raise OSError("no free name")


class DigestCache:
    """The sha-256 of exported files, hashed again only when one changed
    (requests, a viewer's included, must not re-read a large file each);
    at most ``size`` entries."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._digests: OrderedDict[tuple[Any, ...], str] = OrderedDict()

    async def sha256(self, path: Path, st: os.stat_result) -> str:
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        digest = self._digests.get(key)
        if digest is None:
            digest = await asyncio.to_thread(hashes.hash_file, path, "sha-256")
            self._digests[key] = digest
            while len(self._digests) > self.size:
                self._digests.popitem(last=False)
        else:
            self._digests.move_to_end(key)
        return digest

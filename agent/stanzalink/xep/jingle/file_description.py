"""XEP-0234 file descriptions: the ``<file/>`` element (name, size,
range, media type, XEP-0300 hashes) both ways (:func:`file_element`,
:class:`FileMeta`), safe file names (:func:`sanitize`), and what a transfer
ends with (:class:`TransferResult`, :class:`FileTransferError`).  No files
and no sessions: the feature is :mod:`stanzalink.xep.jingle.file_transfer`.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from stanzalink.xep import hashes
from stanzalink.xml import Element
from stanzalink.xml.builder import E, sub

NS = "urn:xmpp:jingle:apps:file-transfer:5"
NS_ERR = "urn:xmpp:jingle:apps:file-transfer:errors:0"


@dataclass
class TransferResult:
    ok: bool
    reason: str  # the Jingle reason (success, decline, media-error, ...)
    direction: str  # "in" (to the device) or "out"
    peer: str
    name: str
    size: int = 0  # bytes of the file
    transferred: int = 0  # bytes that went over the transport this time
    sha256: str = ""  # hex, of the whole file
    path: str = ""  # where it landed (received) or was read from (sent)
    text: str = ""
    seconds: float = 0.0


class FileTransferError(Exception):
    def __init__(self, reason: str, text: str = "", extra: str | None = None) -> None:
        super().__init__(text or reason)
        self.reason, self.text, self.extra = reason, text, extra


def sanitize(name: str) -> str:
    """A safe file name: basename only, no control characters, no leading dot."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in "\x7f")
    base = base.strip().lstrip(".").strip()
    while len(base.encode()) > 200:
        base = base[:-1]
    return base or "file"


def file_element(
    name: str | None = None, size: int | None = None, digests: dict[str, str] | None = None,
    offset: int | None = None, length: int | None = None, range_: bool = False,
    media_type: str | None = None,
) -> ET.Element:  # fmt: skip
    f = E(f"{{{NS}}}file")
    if media_type:
        sub(f, f"{{{NS}}}media-type", text=media_type)
    if name is not None:
        sub(f, f"{{{NS}}}name", text=name)
    if offset is not None or length is not None or range_:
        r = sub(f, f"{{{NS}}}range")
        if offset:
            r.set("offset", str(offset))
        if length is not None:
            r.set("length", str(length))
    if size is not None:
        sub(f, f"{{{NS}}}size", text=str(size))
    for algo, value in (digests or {}).items():
        f.append(hashes.hash_element(algo, value))
    return f


@dataclass
class FileMeta:
    name: str = ""
    size: int | None = None
    hashes: dict[str, str] | None = None
    hash_used: str | None = None
    offset: int = 0
    length: int | None = None

    @classmethod
    def parse(cls, desc: Element | None) -> FileMeta:
        m = cls(hashes={})
        f = desc.find(f"{{{NS}}}file") if desc is not None else None
        if f is None:
            return m
        m.name = f.findtext(f"{{{NS}}}name") or ""
        with contextlib.suppress(ValueError, TypeError):
            m.size = int(f.findtext(f"{{{NS}}}size") or "")
        m.hashes, m.hash_used = hashes.parse_hashes(f)
        r = f.find(f"{{{NS}}}range")
        if r is not None:
            with contextlib.suppress(ValueError, TypeError):
                m.offset = max(0, int(r.get("offset") or 0))
            with contextlib.suppress(ValueError, TypeError):
                m.length = max(0, int(r.get("length") or ""))
        return m

    def algo(self) -> str | None:
        """The strongest usable algorithm offered (hash or hash-used)."""
        offered = set(self.hashes or {}) | ({self.hash_used} if self.hash_used else set())
        return hashes.strongest(offered)

"""XEP-0300 Use of Cryptographic Hash Functions in XMPP: the algorithms the
device computes and checks (sha-256 and stronger; sha-1 and md5 are not
accepted as an integrity check), ``<hash/>`` and ``<hash-used/>``
elements, and hashing files off the event loop's thread."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stanzalink.xep.base import Feature
from stanzalink.xml import Element
from stanzalink.xml.builder import E

NS = "urn:xmpp:hashes:2"
# XEP-0300 name -> hashlib constructor, strongest first
ALGOS: dict[str, Callable[[], Any]] = {
    "blake2b-512": lambda: hashlib.blake2b(),
    "sha3-512": lambda: hashlib.sha3_512(),
    "sha-512": lambda: hashlib.sha512(),
    "blake2b-256": lambda: hashlib.blake2b(digest_size=32),
    "sha3-256": lambda: hashlib.sha3_256(),
    "sha-256": lambda: hashlib.sha256(),
}


def strongest(names: Iterable[str]) -> str | None:
    """The strongest algorithm among ``names`` that the device accepts."""
    offered = set(names)
    return next((a for a in ALGOS if a in offered), None)


def hash_element(algo: str, value: str) -> ET.Element:
    return E(f"{{{NS}}}hash", {"algo": algo}, text=value)


def parse_hashes(parent: Element | ET.Element) -> tuple[dict[str, str], str | None]:
    """(``{algo: base64}`` of the ``<hash/>`` children, the ``<hash-used/>`` algo)."""
    hashes = {h.get("algo") or "": (h.text or "").strip() for h in parent.findall(f"{{{NS}}}hash")}
    used = parent.find(f"{{{NS}}}hash-used")
    return hashes, (used.get("algo") if used is not None else None)


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def feed_file(path: Path, hashers: Iterable[Any]) -> None:
    """Feed a file to hashers (blocking: run it in a thread)."""
    hs = list(hashers)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            for h in hs:
                h.update(block)


def hash_file(path: Path, algo: str) -> str:
    """The base64 ``algo`` digest of a file (blocking: run it in a thread)."""
    h = ALGOS[algo]()
    feed_file(path, (h,))
    return encode(h.digest())


class Hashes(Feature):
    name = "hashes"
    disco_features = (NS, *(f"urn:xmpp:hash-function-text-names:{a}" for a in ALGOS))

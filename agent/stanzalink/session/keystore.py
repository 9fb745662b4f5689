"""SCRAM keys kept instead of the password (``[account] scram_keys_file``).

After a SCRAM login the device knows, per hash, the server's salt and
iteration count and the ClientKey and ServerKey derived from the password
(RFC 5802 §3).  With those it can log in again to the same account while
the server keeps that salt, and still verify the server's signature, without
keeping the password: the keys are worth as much as the password *to this
server*, but do not reveal the password itself (which may be used
elsewhere) and cannot be turned back into it.

The file is JSON, written atomically (a temporary file in the same folder,
fsync, rename) with mode 0600::

    {"version": 1, "jid": "device1@example.net",
     "keys": {"SCRAM-SHA-1": {"salt": "<base64>", "iterations": 4096,
                              "client_key": "<base64>", "server_key": "<base64>"}}}

Keys stored for another JID are ignored (the file was copied from another
device, or the account changed).
"""

from __future__ import annotations

import base64
import contextlib
import os
from typing import Any

from stanzalink.session.sasl import HASHES, ScramKeys

VERSION = 1
_SIZES = {"SCRAM-SHA-1": 20, "SCRAM-SHA-256": 32, "SCRAM-SHA-512": 64}


class KeyStoreError(ValueError):
    """The keys file cannot be read or is not what this module writes."""


def dumps(jid: str, keys: dict[str, ScramKeys]) -> str:
    import json  # here: a device without a keys file never loads it

    return json.dumps(
        {
            "version": VERSION,
            "jid": jid,
            "keys": {
                name: {
                    "salt": base64.b64encode(k.salt).decode(),
                    "iterations": k.iterations,
                    "client_key": base64.b64encode(k.client_key).decode(),
                    "server_key": base64.b64encode(k.server_key).decode(),
                }
                for name, k in sorted(keys.items())
            },
        },
        indent=1,
    )


def loads(text: str, jid: str) -> dict[str, ScramKeys]:
    """The keys for ``jid`` (empty when the file is for another JID)."""
    import json

    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise KeyStoreError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise KeyStoreError(f"not a version {VERSION} SCRAM keys file")
    if raw.get("jid") != jid:
        return {}
    entries = raw.get("keys")
    if not isinstance(entries, dict):
        raise KeyStoreError("'keys' is not a table")
    out: dict[str, ScramKeys] = {}
    for name, entry in entries.items():
        if name not in HASHES or not isinstance(entry, dict):
            raise KeyStoreError(f"unknown entry {name!r}")
        try:
            salt = base64.b64decode(entry["salt"], validate=True)
            client_key = base64.b64decode(entry["client_key"], validate=True)
            server_key = base64.b64decode(entry["server_key"], validate=True)
            iterations = entry["iterations"]
        except (KeyError, TypeError, ValueError):
            raise KeyStoreError(f"{name}: needs salt, iterations, client_key, server_key") from None
        if not isinstance(iterations, int) or iterations < 1:
            raise KeyStoreError(f"{name}: bad iteration count {iterations!r}")
        if len(client_key) != _SIZES[name] or len(server_key) != _SIZES[name]:
            raise KeyStoreError(f"{name}: keys of the wrong length")
        out[name] = ScramKeys(name, salt, iterations, client_key, server_key)
    return out


def load(path: str | os.PathLike[str], jid: str) -> dict[str, ScramKeys]:
    """The stored keys; empty when the file does not exist yet."""
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KeyStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    return loads(text, jid)


def save(path: str | os.PathLike[str], jid: str, keys: dict[str, ScramKeys]) -> None:
    """Replace the file atomically; readable by the owner only."""
    import tempfile
    from pathlib import Path  # with a keys file only (it imports urllib.parse)

    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".scram-", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(dumps(jid, keys))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on power loss
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

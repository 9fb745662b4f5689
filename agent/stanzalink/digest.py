"""Hashes, HMAC and PBKDF2 from OpenSSL's own binding.

What the idle agent hashes (SCRAM's keys and proofs, the TLS channel
binding, the caps and avatar hashes) needs SHA-1 and SHA-2, HMAC, PBKDF2
and a constant-time compare.  ``_hashlib``, the binding of the OpenSSL that
``ssl`` already links, has all four; :mod:`hashlib` on top of it also loads
``_blake2`` and, with :mod:`hmac`, holds 0.1 MiB more in an idle agent.
Where the interpreter was built without ``_hashlib``, the same names come
from :mod:`hashlib` and :mod:`hmac`.

>>> digest("sha1", b"abc").hex()
'a9993e364706816aba3e25717850c26c9cd0d89d'
>>> hmac_digest(b"key", b"The quick brown fox jumps over the lazy dog", "sha256").hex()[:16]
'f7bc83f430538424'
>>> pbkdf2_hmac("sha1", b"password", b"salt", 1).hex()
'0c60c80f961f0e71f3a9b524af6012062fe037a6'
>>> compare_digest(b"a", b"a"), compare_digest(b"a", b"b")
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stanzalink.errors import LocalProtocolError

__all__ = ["compare_digest", "digest", "hexdigest", "hmac_digest", "pbkdf2_hmac"]

_new: Callable[..., Any]
compare_digest: Callable[[bytes, bytes], bool]
hmac_digest: Callable[[bytes, bytes, str], bytes]
pbkdf2_hmac: Callable[[str, bytes, bytes, int], bytes]


def _no_pbkdf2(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    # a SCRAM login then ends with "cannot log in: ..." (a local error)
    raise LocalProtocolError(
        "PBKDF2 needs OpenSSL's hashes, and this Python was built without them (_hashlib)"
    )


try:
    import _hashlib

    _new = _hashlib.new
    hmac_digest = _hashlib.hmac_digest
    pbkdf2_hmac = _hashlib.pbkdf2_hmac
    compare_digest = _hashlib.compare_digest
except ImportError:  # an interpreter without OpenSSL's hashes
    import hashlib
    import hmac

    _new = hashlib.new
    hmac_digest = hmac.digest
    compare_digest = hmac.compare_digest
    # Python 3.12 dropped hashlib's own PBKDF2: there SCRAM cannot log in,
    # but the rest (PLAIN, EXTERNAL, the caps hash) still can
    pbkdf2_hmac = getattr(hashlib, "pbkdf2_hmac", None) or _no_pbkdf2


def digest(name: str, data: bytes) -> bytes:
    """``data`` hashed with the algorithm ``name`` ("sha1", "sha256", ...);
    ValueError for a name OpenSSL does not have."""
    result: bytes = _new(name, data).digest()
    return result


def hexdigest(name: str, data: bytes) -> str:
    """:func:`digest` in lower-case hex."""
    result: str = _new(name, data).hexdigest()
    return result

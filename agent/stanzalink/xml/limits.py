"""The parser limits: their defaults (one place for both backends and the
session) and their checks.

A stanza crossing ``max_stanza_bytes``, ``max_depth``, ``max_attrs`` or
``max_name_len`` is skipped (a :class:`~stanzalink.xml.StanzaSkipped`
event) and the stream goes on; the stream header crossing one, or a skipped
stanza growing past ``max_skip_bytes``, is a ``policy-violation`` stream
error.  ``native/README.md`` states the rules; the C defaults
(``sl_limits_default``) are the same numbers (a test holds them together).
"""

from __future__ import annotations

# Prosody's c2s stanza limit is 256 KiB (it adds ``from`` and a <delay/>
# stamp when it delivers), its s2s limit and ejabberd's example s2s
# max_stanza_size 512 KiB: a stanza the server delivers always fits.
DEFAULT_LIMITS: dict[str, int] = {
    "max_stanza_bytes": 1048576,
    "max_depth": 64,
    "max_attrs": 64,
    "max_name_len": 256,
    "max_skip_bytes": 4194304,
}

# the limits a skipped stanza may have crossed, by the C code (SL_LIMIT_*)
SKIP_LIMITS = ("", "max_stanza_bytes", "max_depth", "max_attrs", "max_name_len")


def check_limits(limits: dict[str, int]) -> dict[str, int]:
    """``limits`` checked (positive 32-bit integers, max_depth at most
    1,000,000, max_skip_bytes at least max_stanza_bytes); ValueError if not."""
    for name, value in limits.items():
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"unknown parser limit {name!r}")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 0xFFFFFFFF:
            raise ValueError(f"{name} must be a positive 32-bit integer, not {value!r}")
    if limits["max_depth"] > 1_000_000:
        raise ValueError("max_depth must be at most 1000000")
    if limits["max_skip_bytes"] < limits["max_stanza_bytes"]:
        raise ValueError(
            f"max_skip_bytes ({limits['max_skip_bytes']}) must be at least "
            f"max_stanza_bytes ({limits['max_stanza_bytes']})"
        )
    return limits

"""SASLprep (RFC 4013) with the tables of RFC 3454, for a string that is
not ASCII: loaded when one is first prepared (an ASCII string takes
:func:`stanzalink.session.sasl.saslprep`'s shortcut and never needs it)."""

from __future__ import annotations

from collections.abc import Callable

from stanzalink.errors import LocalProtocolError


def saslprep_tables(text: str) -> str:
    """SASLprep step by step, with the tables of RFC 3454."""
    import stringprep
    import unicodedata

    mapped = []
    for ch in text:
        if stringprep.in_table_b1(ch):
            continue  # commonly mapped to nothing
        mapped.append(" " if stringprep.in_table_c12(ch) else ch)
    s = unicodedata.normalize("NFKC", "".join(mapped))
    if not s:
        return s
    prohibited: list[Callable[[str], bool]] = [
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    ]
    for ch in s:
        if any(f(ch) for f in prohibited):
            raise LocalProtocolError(f"U+{ord(ch):04X} is not allowed in a SASL string")
        if stringprep.in_table_a1(ch):
            raise LocalProtocolError(f"unassigned code point U+{ord(ch):04X} in a SASL string")
    rand = [stringprep.in_table_d1(ch) for ch in s]
    if any(rand):
        if any(stringprep.in_table_d2(ch) for ch in s):
            raise LocalProtocolError("mixed right-to-left and left-to-right text in a SASL string")
        if not (rand[0] and rand[-1]):
            raise LocalProtocolError("right-to-left SASL string must start and end with RTL")
    return s

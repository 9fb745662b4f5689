"""Escaping character data and attribute values for XML.  Escaping runs in
C when the native module is there, in Python otherwise; both give the same
bytes.  A character XML 1.0 cannot carry at all is refused
(:class:`~stanzalink.errors.LocalProtocolError`)."""

from __future__ import annotations

import re

from stanzalink.errors import LocalProtocolError
from stanzalink.xml import _native

# characters XML 1.0 cannot carry at all (not even as references)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# a string with none of these (to escape, or not XML) goes out as it is
_TEXT_PLAIN_NOT = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_PLAIN_NOT = re.compile('[&<>"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')

_TEXT_MAP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_MAP = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)


def _check(s: str) -> None:
    m = _NOT_XML.search(s)
    if m is not None:
        raise LocalProtocolError(
            f"U+{ord(m.group()):04X} cannot be sent in XML (at index {m.start()} of {s[:40]!r})"
        )


def escape_text(s: str, oneline: bool = False) -> str:
    """Escape character data.  With ``oneline``, line breaks (and, as in
    attribute values, TAB and '"') become references, so the text stays on
    one line."""
    if oneline:
        return escape_attr(s)
    if _TEXT_PLAIN_NOT.search(s) is None:
        return s
    _check(s)
    if _native.AVAILABLE:
        return _native.escape(s.encode(), False).decode()
    return s.translate(_TEXT_MAP)


def escape_attr(s: str) -> str:
    """Escape a value for a double-quoted attribute."""
    if _ATTR_PLAIN_NOT.search(s) is None:
        return s
    _check(s)
    if _native.AVAILABLE:
        return _native.escape(s.encode(), True).decode()
    return s.translate(_ATTR_MAP)

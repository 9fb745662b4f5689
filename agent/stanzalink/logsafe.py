"""Log lines that a peer cannot forge.

Much of what the agent logs comes from peers: JIDs, command nodes, HTTP
methods and resources, Jingle and IBB fields.  A CR or LF in one of them
would start a line that reads like a record of its own, an ANSI escape
would rewrite the terminal that shows the log.  :class:`SafeFormatter` is
the formatter of every handler the agent installs (``stanzalink run`` on
stderr or syslog, ``stanzalink http``), so no call site has to remember:
the formatted message is passed through :func:`escape_controls`, and so is
the text of a logged exception.  A traceback keeps its line breaks (the
frames are the program's own text); the exception's message and notes in
it are escaped like a message.

Escaped: C0 controls (``\\r``, ``\\n`` and ``\\t`` by name, the others as
``\\xNN``, ESC as ``\\x1b``), DEL, C1 controls (U+0085 NEL among them), the
Unicode line and paragraph separators U+2028 and U+2029, and the
bidirectional embeddings, overrides and isolates (U+202A..U+202E,
U+2066..U+2069) that reorder what a viewer shows.  Other text, non-ASCII
letters included, is left alone.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape_of(cp: int) -> str:
    if cp in _NAMED:
        return _NAMED[cp]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


_ESCAPED = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_TABLE = {cp: _escape_of(cp) for cp in _ESCAPED}
_TABLE_KEEP_LF = {cp: e for cp, e in _TABLE.items() if cp != 0x0A}


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """``text`` on one line: every control and line-breaking character
    written as an escape (see the module's doc); with ``keep_newlines``
    LF stays a line break."""
    if text.isprintable():  # no control, separator or format character: the common case
        return text
    return text.translate(_TABLE_KEEP_LF if keep_newlines else _TABLE)


def _escape_exception_text(te: traceback.TracebackException) -> None:
    """Escape, in place, what a traceback quotes from the exceptions
    themselves: their messages (``str(exc)``) and notes, in the whole chain."""
    todo, seen = [te], set()
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        # _str holds str(exc) in every CPython from 3.5 on; were it gone, the
        # formatter's last pass still escapes everything but the line breaks
        told = getattr(t, "_str", None)
        if isinstance(told, str):
            setattr(t, "_str", escape_controls(told))  # noqa: B010 - private to the stdlib
        notes = getattr(t, "__notes__", None)
        if isinstance(notes, list):
            t.__notes__ = [escape_controls(n) if isinstance(n, str) else n for n in notes]
        if isinstance(getattr(t, "msg", None), str):  # SyntaxError's message
            t.msg = escape_controls(t.msg)
        todo += [x for x in (t.__cause__, t.__context__) if x is not None]
        todo += getattr(t, "exceptions", None) or []  # an exception group's members
    return None


class SafeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose lines a peer cannot forge."""

    def format(self, record: logging.LogRecord) -> str:
        # exc_text is a cache that another handler's formatter may have
        # filled unescaped: ours is made afresh, the cache left as it was
        cached = record.exc_text
        record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        te = traceback.TracebackException(type(ei[1]), ei[1], ei[2])
        _escape_exception_text(te)
        return escape_controls("".join(te.format()).removesuffix("\n"), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(super().formatStack(stack_info), keep_newlines=True)

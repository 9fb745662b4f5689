"""A chat line as a command's arguments: the words after the command name
(split like a shell splits them, quotes and backslash escapes) bound to
the command's :class:`~stanzalink.commands.model.Arg` list."""

from __future__ import annotations

import re
from typing import Any

from stanzalink.commands.model import Command, CommandError

_KEYWORD = re.compile(r"(?:--)?([A-Za-z_][A-Za-z0-9_-]*)=(.*)", re.S)


def bind(cmd: Command, tokens: list[str]) -> dict[str, Any]:
    """Arguments from the words after the command name: positional in
    order, or ``name=value`` (``--name=value``) in any order; the last
    argument may take the rest of the line."""
    by_name = {a.name: a for a in cmd.args}
    values: dict[str, Any] = {}
    rest: list[str] | None = None
    rest_arg = None
    pos = 0
    for tok in tokens:
        if rest is not None:
            rest.append(tok)
            continue
        m = _KEYWORD.fullmatch(tok)
        if m and m.group(1).replace("-", "_") in by_name:
            key = m.group(1).replace("-", "_")
            if key not in values:
                a = by_name[key]
                if a.rest:
                    rest, rest_arg = [m.group(2)], a
                else:
                    values[key] = a.convert(m.group(2))
                continue
        while pos < len(cmd.args) and cmd.args[pos].name in values:
            pos += 1
        if pos >= len(cmd.args):
            raise CommandError(f"{cmd.name}: too many arguments (from {tok!r} on)")
        a = cmd.args[pos]
        if a.rest:
            rest, rest_arg = [tok], a
        else:
            values[a.name] = a.convert(tok)
            pos += 1
    if rest is not None and rest_arg is not None:
        values[rest_arg.name] = rest_arg.convert(" ".join(rest))
    for a in cmd.args:
        if a.name not in values:
            if a.required:
                raise CommandError(f"{cmd.name}: {a.name} is missing")
            values[a.name] = a.default
    return values

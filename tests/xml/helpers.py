"""Helpers for comparing parser output."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable

from stanzalink.xml import (
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
    StreamParser,
    tostring,
)


def describe(events: Iterable[object]) -> list[str]:
    """Events as comparable lines (the form `stanzalink dump` prints; a
    skip line also carries the skipped stanza's byte range and limit value)."""
    out = []
    for ev in events:
        if isinstance(ev, StreamOpen):
            out.append("open " + json.dumps(ev.attrib) + " " + json.dumps(ev.nsmap, sort_keys=True))
        elif isinstance(ev, StreamClose):
            out.append("close")
        elif isinstance(ev, StanzaSkipped):
            body = {"limit": ev.limit, "tag": ev.tag, "attrib": ev.attrib}
            where = f" @{ev.offset}-{ev.end} {ev.value}"
            out.append("skip " + json.dumps(body, sort_keys=True) + where)
        else:
            out.append("stanza " + tostring(ev, oneline=True).decode())  # type: ignore[arg-type]
    return out


def run(
    backend: str, data: bytes, cuts: Iterable[int] | int | None = None, **limits: int
) -> list[str]:
    """Feed ``data`` split at ``cuts`` (offsets) or in chunks of ``cuts`` bytes;
    return the event lines, ending with 'error <condition>' on a fault."""
    parser = StreamParser(backend=backend, **limits)
    if cuts is None:
        pieces = [data]
    elif isinstance(cuts, int):
        pieces = [data[i : i + cuts] for i in range(0, len(data), cuts)]
    else:
        bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
        pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    lines: list[str] = []
    for piece in pieces:
        try:
            lines += describe(parser.feed(piece))
        except StreamError as err:
            lines += describe(err.events)
            lines.append("error " + err.condition)
            return lines
    return lines

"""`stanzalink dump`: a server-to-client byte stream, one line per parser event."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    pass


def _chunks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(size)
        if not data:
            return
        # read1 may return less than asked; --chunk promises exactly N-byte feeds
        while len(data) > size:
            yield data[:size]
            data = data[size:]
        yield data


def cmd_dump(args: argparse.Namespace) -> int:
    import json

    from stanzalink.xml import (
        StanzaSkipped,
        StreamClose,
        StreamError,
        StreamOpen,
        StreamParser,
        tostring,
    )

    try:
        parser = StreamParser(backend=args.backend)
    except Exception as exc:
        print(f"stanzalink dump: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout

    def emit(events: Sequence[object]) -> None:
        for ev in events:
            if isinstance(ev, StreamOpen):
                out.write("open " + json.dumps(ev.attrib, ensure_ascii=False) + "\n")
            elif isinstance(ev, StreamClose):
                out.write("close\n")
            elif isinstance(ev, StanzaSkipped):
                # a stanza over a parser limit, dropped: the stream goes on
                skipped = {"limit": ev.limit, "tag": ev.tag, "attrib": ev.attrib}
                out.write("skip " + json.dumps(skipped, ensure_ascii=False, sort_keys=True) + "\n")
            else:
                out.write("stanza " + tostring(ev, oneline=True).decode() + "\n")  # type: ignore[arg-type]

    source: BinaryIO
    if args.file in (None, "-"):
        source = sys.stdin.buffer
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"stanzalink dump: {exc}", file=sys.stderr)
            return 2
    try:
        for chunk in _chunks(source, args.chunk):
            try:
                emit(parser.feed(chunk))
            except StreamError as err:
                emit(err.events)
                out.write(f"error {err.condition}\n")
                out.flush()
                print(f"stanzalink dump: {err}", file=sys.stderr)
                return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    out.flush()
    return 0

"""Command results as console content, and long content as pages.

A command returns :mod:`~stanzalink.commands.model` result values; the
console turns them into :mod:`~stanzalink.xep.xhtml_im` blocks and splits
the blocks into pages whose plain body stays under the page size (the
XHTML-IM twin adds about as much again, far below a server's stanza limit:
Prosody's default is 256 KiB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stanzalink.commands.model import FileOffer, KeyValue, Table, Text
from stanzalink.xep.xhtml_im import Block, Fixed, Grid, Items, Pairs, Para, plain, table_lines


def to_blocks(result: Any) -> list[Block]:
    """Result values (a value, a list of them, a block, a string) as blocks."""
    if result is None:
        return []
    if isinstance(result, Para | Items | Pairs | Grid | Fixed):
        return [result]
    if isinstance(result, str):
        return [Para(result)] if result else []
    if isinstance(result, Text):
        return [Fixed(result.text) if result.preformatted else Para(result.text)]
    if isinstance(result, KeyValue):
        return [Pairs([(k, "" if v is None else v) for k, v in result.pairs], result.title)]
    if isinstance(result, Table):
        return [Grid(list(result.columns), [list(r) for r in result.rows], result.title)]
    if isinstance(result, FileOffer):
        what = f" ({result.description})" if result.description else ""
        return [Para("file offered: ", result.path, what)]
    if isinstance(result, Sequence):
        out: list[Block] = []
        for item in result:
            out.extend(to_blocks(item))
        return out
    return [Para(str(result))]


def size(block: Block) -> int:
    return len(plain(block).encode())


def _cut(line: str, limit: int) -> str:
    data = line.encode()
    if len(data) <= limit:
        return line
    return data[: max(0, limit - 4)].decode(errors="ignore") + " …"


def _split_lines(lines: list[str], head: list[str], title: str, limit: int) -> list[Block]:
    """Fixed-width lines in pieces of at most ``limit`` bytes, ``head``
    (a table's header and rule) repeated on each."""
    overhead = 16 + len(title.encode()) + sum(len(h.encode()) + 1 for h in head)
    out: list[Block] = []
    part: list[str] = []
    used = overhead
    for ln in lines:
        ln = _cut(ln, limit - overhead)
        n = len(ln.encode()) + 1
        if part and used + n > limit:
            out.append(Fixed("\n".join(head + part), title if not out else ""))
            part, used = [], overhead
        part.append(ln)
        used += n
    if part or not out:
        out.append(Fixed("\n".join(head + part), title if not out else ""))
    return out


def _pieces(block: Block, limit: int) -> list[Block]:
    """The block, or parts of it that each fit in ``limit`` bytes."""
    if size(block) <= limit:
        return [block]
    if isinstance(block, Grid):
        lines = table_lines(block.columns, block.rows)
        return _split_lines(lines[2:], lines[:2], block.title, limit)
    if isinstance(block, Fixed):
        return _split_lines(block.text.split("\n"), [], block.title, limit)
    if isinstance(block, Items) and len(block.items) > 1:
        half = len(block.items) // 2
        return _pieces(Items(block.items[:half], block.ordered), limit) + _pieces(
            Items(block.items[half:], block.ordered), limit
        )
    if isinstance(block, Pairs) and len(block.pairs) > 1:
        half = len(block.pairs) // 2
        return _pieces(Pairs(block.pairs[:half], block.title), limit) + _pieces(
            Pairs(block.pairs[half:]), limit
        )
    return _split_lines(plain(block).split("\n"), [], "", limit)


def paginate(blocks: Sequence[Block], limit: int) -> list[list[Block]]:
    """Blocks in pages whose plain text is at most ``limit`` bytes (minus
    room for the pager's footer)."""
    room = max(256, limit - 128)
    pages: list[list[Block]] = []
    page: list[Block] = []
    used = 0
    for block in blocks:
        for piece in _pieces(block, room):
            n = size(piece) + 2
            if page and used + n > room:
                pages.append(page)
                page, used = [], 0
            page.append(piece)
            used += n
    if page or not pages:
        pages.append(page)
    return pages

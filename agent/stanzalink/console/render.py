"""Command results as console content, long content as pages, and a page
as the message a chat client shows.

A command returns :mod:`~stanzalink.commands.model` result values; the
console turns them into :mod:`~stanzalink.xep.xhtml_im` blocks and splits
the blocks into pages whose plain body stays under the page size (the
XHTML-IM twin adds about as much again, far below a server's stanza limit:
Prosody's default is 256 KiB).

:func:`message` lays a page out for chat clients as they are.  The XHTML-IM
twin is one ``<p>``: blocks are separated by an empty line (two ``<br/>``),
a title by one, and tables and fixed-width text are a ``<span
style='font-family: monospace'>`` inside it.  A ``<p>`` per block reads as
one run-on line in libpurple (finch breaks a line only at a bare ``<p>``,
Pidgin at some ``</p><p>`` pairs only) and Pidgin carries a ``<p>``'s
monospace style past its end; a ``<span>`` closes where it should.  Lists
become lines that start with a bullet.  The plain body (what a client
without XHTML-IM shows, profanity among them) keeps XEP-0393 styling for
titles, code and fixed-width blocks, but a key of a key/value list is
written bare (``usage: help [command]``): ``*key*:`` at the start of every
line reads as noise where the styling is not rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stanzalink.commands.model import FileOffer, KeyValue, Table, Text
from stanzalink.xep import xhtml_im
from stanzalink.xep.xhtml_im import (
    MONO,
    NS,
    XHTML,
    Block,
    Fixed,
    Grid,
    Items,
    Pairs,
    Para,
    Rendered,
    clean,
    plain,
    table_lines,
)
from stanzalink.xml.builder import E, sub

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

P, BR, SPAN = (f"{{{XHTML}}}{t}" for t in ("p", "br", "span"))
BULLET = "\u2022 "


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


# ------------------------------------------------------------------ message
def body_text(block: Block) -> str:
    """One block as the plain body shows it (keys of a key/value list bare)."""
    if isinstance(block, Pairs):
        title = [plain(Para(xhtml_im.Strong(block.title)))] if block.title else []
        return "\n".join(title + [f"{clean(k)}: {clean(v)}" for k, v in block.pairs])
    return plain(block)


class _Flow:
    """Mixed content appended to the one ``<p>``."""

    def __init__(self, p: ET.Element) -> None:
        self.p = p

    def text(self, s: str | None) -> None:
        if not s:
            return
        if len(self.p):
            self.p[-1].tail = (self.p[-1].tail or "") + s
        else:
            self.p.text = (self.p.text or "") + s

    def br(self, n: int = 1) -> None:
        for _ in range(n):
            sub(self.p, BR)

    def content(self, el: ET.Element) -> None:
        """The children and text of ``el`` (not ``el`` itself)."""
        self.text(el.text)
        for child in list(el):
            tail, child.tail = child.tail, None
            self.p.append(child)
            self.text(tail)


def _lay_out(block: Block, flow: _Flow) -> None:
    """One block into the flow, from what :func:`xhtml_im.xhtml` makes of it."""
    scratch = E(f"{{{XHTML}}}body")
    xhtml_im.xhtml(block, scratch)
    for i, el in enumerate(scratch):
        if i:
            flow.br()
        local = el.tag.rpartition("}")[2]
        if local == "p" and el.get("style") == MONO:
            span = E(SPAN, {"style": MONO})
            span.text, span[:] = el.text, list(el)
            flow.p.append(span)
        elif local == "p":
            flow.content(el)
        else:  # ul, ol: one line an item
            for n, li in enumerate(el, 1):
                if n > 1:
                    flow.br()
                flow.text(f"{n}. " if local == "ol" else BULLET)
                flow.content(li)


def message(blocks: Sequence[Block]) -> Rendered:
    """The plain body and the XHTML-IM twin (one ``<p>``) of one page."""
    html = E(f"{{{NS}}}html")
    body = sub(html, f"{{{XHTML}}}body")
    if blocks:
        flow = _Flow(sub(body, P))
        for i, block in enumerate(blocks):
            if i:
                flow.br(2)
            _lay_out(block, flow)
    return Rendered("\n\n".join(body_text(b) for b in blocks), html)

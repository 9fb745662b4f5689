"""XEP-0071 XHTML-IM and XEP-0393 Message Styling: structured content as a
plain ``<body>`` that reads well on its own and a formatted twin.

Content is a list of blocks::

    blocks = [
        Para(Strong("disk"), " is ", Em("almost"), " full: ", Code("/var")),
        Items(["first", "second"]),
        Pairs([("uptime", "3 days"), ("load", "0.12")], title="status"),
        Grid(["iface", "rx"], [["eth0", "12 MB"]]),
        Fixed("Dec  1 16:00:01 kernel: ...", title="log"),
    ]
    body, html = render(blocks)

The plain body uses XEP-0393 styling (``*strong*``, ``_emphasis_``,
`` `code` ``, fenced blocks for fixed-width text), so it reads well in a
client that shows only the body.  The XHTML-IM twin uses only the XEP-0071
§7 recommended profile: ``body p br span strong em ul ol li`` (plus ``a``,
``blockquote``, ``cite``, ``img``, not needed here), the ``style``
attribute where the profile lists it, and the recommended CSS properties.
There is no table and no ``pre`` or ``code`` in that profile, so tables and
logs become a ``<p style='font-family: monospace'>`` whose line breaks are
``<br/>`` and whose significant spaces are NO-BREAK SPACE (XEP-0071 §8
rule 9).  Text is escaped by the serializer; characters XML cannot carry
are dropped here.  Incoming XHTML-IM is never rendered or trusted: the
console reads only the plain body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stanzalink.xml.builder import E, sub

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

NS = "http://jabber.org/protocol/xhtml-im"
XHTML = "http://www.w3.org/1999/xhtml"
STYLING = "urn:xmpp:styling:0"

# XEP-0071 §7.8 "Summary of Recommendations": element -> attributes
ALLOWED: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "style", "type"}),
    "blockquote": frozenset({"style"}),
    "body": frozenset({"style", "{http://www.w3.org/XML/1998/namespace}lang"}),
    "br": frozenset(),
    "cite": frozenset({"style"}),
    "em": frozenset(),
    "img": frozenset({"alt", "height", "src", "style", "width"}),
    "li": frozenset({"style"}),
    "ol": frozenset({"style"}),
    "p": frozenset({"style"}),
    "span": frozenset({"style"}),
    "strong": frozenset(),
    "ul": frozenset({"style"}),
}
# XEP-0071 §7.6.1 recommended style properties
ALLOWED_STYLES = frozenset(
    {
        "background-color",
        "color",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "margin-left",
        "margin-right",
        "text-align",
        "text-decoration",
    }
)
MONO = "font-family: monospace"
NBSP = "\u00a0"

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: Any) -> str:
    """``text`` as a string XML can carry (control characters dropped,
    tabs expanded, CR LF as LF)."""
    s = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_XML.sub("", s).expandtabs(8)


# ------------------------------------------------------------------ content
@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Em:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


Inline = str | Strong | Em | Code


@dataclass(frozen=True, init=False)
class Para:
    """A paragraph of inline parts (line breaks in text are kept)."""

    parts: tuple[Inline, ...]

    def __init__(self, *parts: Inline) -> None:
        object.__setattr__(self, "parts", tuple(parts))


@dataclass(frozen=True)
class Items:
    """A bulleted (or numbered) list."""

    items: Sequence[Para | str]
    ordered: bool = False


@dataclass(frozen=True)
class Pairs:
    """A key/value list."""

    pairs: Sequence[tuple[str, Any]]
    title: str = ""


@dataclass(frozen=True)
class Grid:
    """A table, shown as fixed-width text with aligned columns."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""


@dataclass(frozen=True)
class Fixed:
    """Fixed-width text: command output, a log excerpt."""

    text: str
    title: str = ""


Block = Para | Items | Pairs | Grid | Fixed


@dataclass
class Rendered:
    body: str
    html: ET.Element = field(repr=False)

    def payload(self) -> list[ET.Element]:
        """The message children: ``<body>`` and the XHTML-IM ``<html>``."""
        body = E("{jabber:client}body")
        body.text = self.body
        return [body, self.html]


# ------------------------------------------------------------------ plain text
def _stylable(s: str, mark: str) -> bool:
    # XEP-0393 §6.2: no whitespace just inside the markers, no line break,
    # and no marker inside (there is no escaping)
    return bool(s) and s == s.strip() and "\n" not in s and mark not in s


def _plain_inline(part: Inline) -> str:
    if isinstance(part, str):
        return clean(part)
    text = clean(part.text)
    mark = {Strong: "*", Em: "_", Code: "`"}[type(part)]
    return f"{mark}{text}{mark}" if _stylable(text, mark) else text


def _fence(lines: Iterable[str]) -> str:
    # a line of only ``` would close the block early (XEP-0393 §6.1.2)
    body = [(" " + ln if ln.strip() == "```" else ln) for ln in lines]
    return "\n".join(["```", *body, "```"])


def table_lines(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Header, rule and rows with columns padded to equal width."""
    head = [clean(c) for c in columns]
    cells = [[clean(v).replace("\n", " ") for v in r] for r in rows]
    ncol = max([len(head)] + [len(r) for r in cells])
    head += [""] * (ncol - len(head))
    cells = [r + [""] * (ncol - len(r)) for r in cells]
    width = [max(len(r[i]) for r in [head, *cells]) for i in range(ncol)]

    def line(r: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(r, width, strict=True)).rstrip()

    return [line(head), "  ".join("-" * w for w in width), *(line(r) for r in cells)]


def _title(title: str) -> list[str]:
    return [_plain_inline(Strong(title))] if title else []


def plain(block: Block) -> str:
    """One block as XEP-0393 styled text."""
    if isinstance(block, Para):
        return "".join(_plain_inline(p) for p in block.parts)
    if isinstance(block, Items):
        out = []
        for i, item in enumerate(block.items, 1):
            text = plain(item if isinstance(item, Para) else Para(item))
            lead = f"{i}. " if block.ordered else "- "
            out.append(lead + text.replace("\n", "\n" + " " * len(lead)))
        return "\n".join(out)
    if isinstance(block, Pairs):
        rows = [f"{_plain_inline(Strong(k))}: {clean(v)}" for k, v in block.pairs]
        return "\n".join(_title(block.title) + rows)
    if isinstance(block, Grid):
        return "\n".join([*_title(block.title), _fence(table_lines(block.columns, block.rows))])
    if isinstance(block, Fixed):
        return "\n".join([*_title(block.title), _fence(clean(block.text).split("\n"))])
    raise TypeError(f"not a block: {block!r}")


# ------------------------------------------------------------------ XHTML-IM
def _x(local: str) -> str:
    return f"{{{XHTML}}}{local}"


class _Writer:
    """Appends mixed content (text and inline elements) to one element."""

    def __init__(self, parent: ET.Element) -> None:
        self.parent = parent

    def text(self, s: str) -> None:
        if not s:
            return
        if len(self.parent):
            last = self.parent[-1]
            last.tail = (last.tail or "") + s
        else:
            self.parent.text = (self.parent.text or "") + s

    def lines(self, s: str, fixed: bool = False) -> None:
        for i, ln in enumerate(s.split("\n")):
            if i:
                sub(self.parent, _x("br"))
            self.text(_keep_spaces(ln) if fixed else ln)

    def inline(self, part: Inline) -> None:
        if isinstance(part, str):
            self.lines(clean(part))
            return
        if isinstance(part, Code):
            el = sub(self.parent, _x("span"), {"style": MONO})
        else:
            el = sub(self.parent, _x("strong" if isinstance(part, Strong) else "em"))
        _Writer(el).lines(clean(part.text), fixed=isinstance(part, Code))


def _keep_spaces(line: str) -> str:
    """Significant spaces (leading ones, runs of two or more) as NO-BREAK
    SPACE, so a receiving client keeps the columns."""
    line = re.sub("  +", lambda m: NBSP * len(m.group()), line)
    return NBSP + line[1:] if line.startswith(" ") else line


def _xhtml_title(body: ET.Element, title: str) -> None:
    if title:
        p = sub(body, _x("p"))
        _Writer(p).inline(Strong(title))


def _fixed(body: ET.Element, lines: Sequence[str], bold_first: bool = False) -> None:
    p = sub(body, _x("p"), {"style": MONO})
    w = _Writer(p)
    for i, ln in enumerate(lines):
        if i:
            sub(p, _x("br"))
        if i == 0 and bold_first:
            strong = sub(p, _x("strong"))
            _Writer(strong).text(_keep_spaces(ln))
        else:
            w.text(_keep_spaces(ln))


def xhtml(block: Block, body: ET.Element) -> None:
    """Append one block to the XHTML ``<body>``."""
    if isinstance(block, Para):
        p = sub(body, _x("p"))
        for part in block.parts:
            _Writer(p).inline(part)
    elif isinstance(block, Items):
        lst = sub(body, _x("ol" if block.ordered else "ul"))
        for item in block.items:
            li = sub(lst, _x("li"))
            for part in item.parts if isinstance(item, Para) else (item,):
                _Writer(li).inline(part)
    elif isinstance(block, Pairs):
        _xhtml_title(body, block.title)
        p = sub(body, _x("p"))
        for i, (k, v) in enumerate(block.pairs):
            if i:
                sub(p, _x("br"))
            _Writer(p).inline(Strong(k))
            _Writer(p).inline(": " + clean(v))
    elif isinstance(block, Grid):
        _xhtml_title(body, block.title)
        _fixed(body, table_lines(block.columns, block.rows), bold_first=True)
    elif isinstance(block, Fixed):
        _xhtml_title(body, block.title)
        _fixed(body, clean(block.text).split("\n"))
    else:
        raise TypeError(f"not a block: {block!r}")


def render(blocks: Sequence[Block]) -> Rendered:
    """The plain body and the ``<html xmlns='…xhtml-im'>`` element."""
    html = E(f"{{{NS}}}html")
    body = sub(html, _x("body"))
    for block in blocks:
        xhtml(block, body)
    return Rendered("\n\n".join(plain(b) for b in blocks), html)


def violations(html: ET.Element) -> list[str]:
    """What in an ``<html>`` element is outside the recommended profile
    (empty when all is well): the check the tests run on every output."""
    out: list[str] = []
    if html.tag != f"{{{NS}}}html":
        out.append(f"root {html.tag}")
    for body in html:
        for el in body.iter():
            ns, _, local = el.tag[1:].partition("}")
            if ns != XHTML or local not in ALLOWED or (el is body) != (local == "body"):
                out.append(f"element {el.tag}")
                continue
            for attr, value in el.attrib.items():
                if attr not in ALLOWED[local]:
                    out.append(f"attribute {attr} on {local}")
                elif attr == "style":
                    for decl in filter(None, (d.strip() for d in value.split(";"))):
                        prop = decl.partition(":")[0].strip()
                        if prop not in ALLOWED_STYLES:
                            out.append(f"style {prop} on {local}")
    return out

"""Native against expat: the same events and the same errors for every input
and every chunking.  Skipped (only) where the native module is not built;
in CI its absence is a failure (tests/conftest.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stanzalink.xml import available_backends

from ..conftest import expat_usable
from .cases import AT_START, CLOSE, HEADER, IN_STREAM, STANZA, VALID
from .helpers import run

pytestmark = [
    pytest.mark.skipif(
        "native" not in available_backends(),
        reason="native module not built (allowed only outside CI)",
    ),
    pytest.mark.skipif(
        not expat_usable(),
        reason="this libexpat defers small chunks and pyexpat cannot turn that off",
    ),
]


def same_everywhere(data: bytes, cuts: list[int] | None = None, **limits: int) -> list[str]:
    """Assert both backends agree whole, 1 byte at a time and at ``cuts``."""
    reference = run("expat", data, None, **limits)
    for backend in ("native", "expat"):
        for chunking in (None, 1, cuts):
            if chunking is None and backend == "expat":
                continue
            got = run(backend, data, chunking, **limits)
            assert got == reference, (backend, chunking)
    return reference


# ---------------------------------------------------------------- fixed inputs
@pytest.mark.parametrize(("name", "bad", "cond"), IN_STREAM, ids=[c[0] for c in IN_STREAM])
def test_hostile_in_stream(name: str, bad: bytes, cond: str) -> None:
    assert same_everywhere(HEADER + STANZA + bad + STANZA, [len(HEADER) + 3, len(HEADER) + 60])[
        -1
    ] == ("error " + cond)


@pytest.mark.parametrize(("name", "data", "cond"), AT_START, ids=[c[0] for c in AT_START])
def test_hostile_at_start(name: str, data: bytes, cond: str | None) -> None:
    same_everywhere(data, [1, 2, 3])


@pytest.mark.parametrize("after", [b"", b" \n", b" x", b"<a/>"])
def test_self_closed_stream_header(after: bytes) -> None:
    """The empty stream: open and close at once, whatever the chunking
    (libexpat fed a byte at a time reports the end after the '>')."""
    out = same_everywhere(HEADER[:-1] + b"/>" + after, [len(HEADER) - 1, len(HEADER)])
    assert out[-1] == ("close" if after.strip() == b"" else "error not-well-formed")


@pytest.mark.parametrize(("name", "body"), VALID, ids=[v[0] for v in VALID])
def test_valid(name: str, body: bytes) -> None:
    out = same_everywhere(HEADER + body + CLOSE, [len(HEADER) + 1, len(HEADER) + 9])
    assert out[-1] == "close"


# Expat's own malformed-UTF-8 cases: every invalid lead/continuation pattern
UTF8_CASES = [
    bytes([lead, *cont])
    for lead in (0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xF8, 0xFF)
    for cont in (
        (),
        (0x80,),
        (0xBF,),
        (0x9F,),
        (0xA0,),
        (0x80, 0x80),
        (0x8F, 0x80, 0x80),
        (0x90, 0x80, 0x80),
        (0xBF, 0xBF),
        (0xBF, 0xBE),
        (0x41,),
    )
]


@pytest.mark.parametrize("seq", UTF8_CASES, ids=[s.hex() for s in UTF8_CASES])
def test_utf8_sequences_in_text_attr_and_name(seq: bytes) -> None:
    for body in (
        b"<message><body>a" + seq + b"b</body></message>",
        b"<message to='a" + seq + b"b'/>",
        b"<message><a" + seq + b"b/></message>",
    ):
        same_everywhere(HEADER + body + CLOSE, [len(HEADER) + len(body) // 2])


def test_every_two_way_cut() -> None:
    """A stanza cut anywhere into two feeds (the native tokenizer holds a
    tag cut by the end of a feed and reads it whole with the next)."""
    body = dict(VALID)["refs-in-attrs"] + b"<presence from='Zo\xc3\xab'><c ver='a=b'/></presence>"
    data = HEADER + body + CLOSE
    reference = run("expat", data, None)
    assert reference[-1] == "close"
    for cut in range(len(HEADER), len(data)):
        assert run("native", data, [cut]) == reference, cut


def test_generated_corpus() -> None:
    corpus = pytest.importorskip("corpus")
    data = corpus.generate(3000, seed=7)
    rng = random.Random(3)
    cuts = sorted(rng.randrange(len(data)) for _ in range(500))
    expat = run("expat", data, 4096)
    assert run("native", data, 4096) == expat
    assert run("native", data, cuts) == expat
    assert run("native", data) == expat
    assert sum(1 for line in expat if line.startswith("stanza")) == 3000


# --------------------------------------------------------- generated streams
NAMES = ["a", "b", "body", "x-y", "_z", "caf\u00e9", "\u65e5\u672c", "n.1", "A"]
PREFIXES = ["p", "q", "xmlns-like", "\u00e9"]
URIS = ["urn:a", "urn:b", "jabber:client", "", "http://example.net/x?y=1&z=2"]
TEXT_CHARS = st.sampled_from([*list("ab <>&\"'\t\n\r]"), "é", "€", "😀", "日", "�", "\ud7ff"])


@st.composite
def text_raw(draw: st.DrawFn, in_attr: str | None = None) -> bytes:
    """Raw bytes for character data (or an attribute value quoted with
    ``in_attr``): literals, entity and character references, CDATA."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 5))
        ch = draw(TEXT_CHARS)
        if kind == 0 and ch not in "<&" and ch != in_attr and not (in_attr is None and ch == "]"):
            out.append(ch.encode())
        elif kind == 1:
            out.append(
                {"&": b"&amp;", "<": b"&lt;", ">": b"&gt;", '"': b"&quot;", "'": b"&apos;"}.get(
                    ch, b"&amp;"
                )
            )
        elif kind == 2:
            out.append(b"&#%d;" % ord(ch))
        elif kind == 3:
            out.append(b"&#x%X;" % ord(ch))
        elif kind == 4 and in_attr is None:
            out.append(b"<![CDATA[" + ch.replace("]", "x").encode() + b"]]>")
        else:
            out.append(b"\r\n" if in_attr is None else b"\t")
    return b"".join(out)


@st.composite
def element_raw(draw: st.DrawFn, depth: int = 0) -> bytes:
    name = draw(st.sampled_from(NAMES)).encode()
    attrs = []
    decls = []
    if draw(st.booleans()):
        decls.append(
            b" xmlns='" + draw(st.sampled_from(URIS)).encode().replace(b"&", b"&amp;") + b"'"
        )
    prefix = None
    if draw(st.integers(0, 3)) == 0:
        prefix = draw(st.sampled_from(PREFIXES)).encode()
        decls.append(b" xmlns:" + prefix + b"='urn:" + prefix + b"'")
    used = set()
    for _ in range(draw(st.integers(0, 3))):
        an = draw(st.sampled_from(NAMES)).encode()
        if prefix is not None and draw(st.booleans()):
            an = prefix + b":" + an
        if draw(st.integers(0, 5)) == 0:
            an = b"xml:lang"
        if an in used:
            continue
        used.add(an)
        q = draw(st.sampled_from(["'", '"']))
        ws = draw(st.sampled_from([b" ", b"  ", b"\n", b"\t "]))
        attrs.append(
            ws
            + an
            + draw(st.sampled_from([b"=", b" = "]))
            + q.encode()
            + draw(text_raw(in_attr=q))
            + q.encode()
        )
    qname = (prefix + b":" + name) if prefix is not None and draw(st.booleans()) else name
    head = (
        b"<" + qname + b"".join(decls) + b"".join(attrs) + draw(st.sampled_from([b"", b" ", b"\n"]))
    )
    children = [] if depth >= 3 else draw(st.lists(element_raw(depth + 1), max_size=3))
    if not children and draw(st.booleans()):
        return head + b"/>"
    parts = [draw(text_raw())]
    for child in children:
        parts += [child, draw(text_raw())]
    return head + b">" + b"".join(parts) + b"</" + qname + draw(st.sampled_from([b">", b" >"]))


@st.composite
def stream_raw(draw: st.DrawFn) -> bytes:
    pieces = [
        draw(
            st.sampled_from(
                [b"", b"<?xml version='1.0'?>", b'<?xml version="1.0" encoding="utf-8"?>\n']
            )
        )
    ]
    pieces.append(HEADER.split(b"?>", 1)[1])
    for el in draw(st.lists(element_raw(1), max_size=5)):
        pieces.append(draw(st.sampled_from([b"", b" ", b"\n\t", b"\r\n"])))
        pieces.append(el)
    if draw(st.booleans()):
        pieces.append(CLOSE)
    return b"".join(pieces)


@given(stream_raw(), st.lists(st.integers(0, 4000), max_size=12))
def test_generated_streams(data: bytes, cuts: list[int]) -> None:
    same_everywhere(data, cuts)


@given(stream_raw(), st.lists(st.integers(0, 4000), max_size=8), st.data())
@settings(max_examples=300)
def test_generated_streams_with_one_mutation(
    data: bytes, cuts: list[int], draw: st.DataObject
) -> None:
    """One byte changed, inserted or deleted anywhere: still the same verdict."""
    pos = draw.draw(st.integers(0, len(data)))
    op = draw.draw(st.integers(0, 2))
    byte = draw.draw(st.sampled_from(b"<>&;'\"/!?[]-=: \x00\x80\xc3\xe2\xff\xf0x"))
    if op == 0:
        mutated = data[:pos] + bytes([byte]) + data[pos:]
    elif op == 1:
        mutated = data[:pos] + bytes([byte]) + data[pos + 1 :]
    else:
        mutated = data[:pos] + data[pos + 1 :]
    same_everywhere(mutated, cuts)


@given(stream_raw(), st.integers(40, 400), st.integers(1, 5), st.integers(1, 6), st.integers(2, 12))
def test_generated_streams_under_tight_limits(
    data: bytes, stanza: int, depth: int, attrs: int, name: int
) -> None:
    same_everywhere(
        data,
        [len(data) // 3],
        max_stanza_bytes=stanza,
        max_depth=depth,
        max_attrs=attrs,
        max_name_len=name,
    )


@given(
    stream_raw(),
    st.lists(st.integers(0, 4000), max_size=8),
    st.integers(1, 3),
    st.integers(13, 16),
    st.data(),
)
@settings(max_examples=300)
def test_skipped_stanzas_with_one_mutation(
    data: bytes, cuts: list[int], depth: int, name: int, draw: st.DataObject
) -> None:
    """Tight limits (so that most stanzas are skipped) and one byte changed,
    inserted or deleted anywhere (often inside a skipped stanza): the same
    events and verdict from both backends."""
    pos = draw.draw(st.integers(0, len(data)))
    op = draw.draw(st.integers(0, 2))
    byte = draw.draw(st.sampled_from(b"<>&;'\"/!?[]-=: \x00\x80\xc3\xe2\xff\xf0x"))
    if op == 0:
        mutated = data[:pos] + bytes([byte]) + data[pos:]
    elif op == 1:
        mutated = data[:pos] + bytes([byte]) + data[pos + 1 :]
    else:
        mutated = data[:pos] + data[pos + 1 :]
    # (the header has 6 attributes and 13-byte names: it must pass)
    limits = {"max_depth": depth, "max_name_len": name}
    same_everywhere(mutated, cuts, **limits)


@given(
    st.integers(2, 90), st.integers(0, 90), st.sampled_from([b"", b"</x>", b"<!--c-->", b"<q:y/>"])
)
@settings(max_examples=60)
def test_deep_and_wide_stanzas(depth: int, nattrs: int, inside: bytes) -> None:
    """Nesting and attribute counts around the default limits (64), with or
    without broken XML at the deepest point, every 1..8-byte chunking."""
    attrs = b"".join(b" a%d='%d'" % (i, i) for i in range(nattrs))
    stanza = (
        b"<message id='s'"
        + attrs
        + b">"
        + b"<b>" * depth
        + inside
        + b"</b>" * depth
        + b"</message>"
    )
    data = HEADER + stanza + STANZA + CLOSE
    reference = run("expat", data, None)
    for chunk in range(1, 9):
        assert run("native", data, chunk) == reference, chunk
    assert run("expat", data, 3) == reference
    crossed = depth + 1 > 64 or nattrs + 1 > 64
    if inside in (b"</x>", b"<q:y/>"):
        assert reference[-1] == "error not-well-formed"
    elif inside:
        assert reference[-1] == "error restricted-xml"
    elif crossed:
        assert reference[1].startswith("skip ") and reference[2].startswith("stanza <message ")
    else:
        assert reference[1].startswith("stanza <message ")

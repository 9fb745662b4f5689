"""Stanzas decoded whole (the native backend renders a stanza in one C call
when every element is read: ``iter()``, ``itertext()``, ``to_etree()``)
read the same as the expat backend's views, whatever was read first, and
also when the render falls back to reading node by node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stanzalink.xml import Element, StreamParser, available_backends
from stanzalink.xml.decoded import DecodedElement

from .cases import CLOSE, HEADER, VALID

pytestmark = pytest.mark.skipif(
    "native" not in available_backends(),
    reason="native module not built (allowed only outside CI)",
)


def whole(el: Element) -> list[Any]:
    """Everything a reader of the whole stanza sees, element by element."""
    out: list[Any] = [list(el.itertext())]
    for e in el.iter():
        out.append(
            (
                e.tag,
                e.namespace,
                e.localname,
                e.attrib,
                e.keys(),
                e.items(),
                e.get("id"),
                e.text,
                e.tail,
                len(e),
                [c.tag for c in e],
                [c.tag for c in e[:]],
                bool(e),
            )
        )
    return out


# what a handler reads before it reads the whole stanza
FIRST: dict[str, Callable[[Element], object]] = {
    "nothing": lambda el: None,
    "tag": lambda el: el.tag,
    "get": lambda el: el.get("to"),
    "text": lambda el: el.text,
    "find": lambda el: el.find("{jabber:client}body"),
    "children": lambda el: list(el),
    "itertext": lambda el: list(el.itertext()),
    "iter-tag": lambda el: list(el.iter("{jabber:client}body")),
    "to_etree": lambda el: el.to_etree(),
}


def stanzas(backend: str, data: bytes, chunk: int | None = None) -> list[Element]:
    parser = StreamParser(backend=backend)
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return [ev for piece in pieces for ev in parser.feed(piece) if isinstance(ev, Element)]


def read_all(els: list[Element], first: Callable[[Element], object]) -> list[Any]:
    for el in els:
        first(el)
    return [whole(el) for el in els]


@pytest.mark.parametrize("first", list(FIRST), ids=list(FIRST))
@pytest.mark.parametrize(("name", "body"), VALID, ids=[c[0] for c in VALID])
def test_valid_cases_read_whole(name: str, body: bytes, first: str) -> None:
    data = HEADER + body + CLOSE
    reference = read_all(stanzas("expat", data), FIRST[first])
    assert read_all(stanzas("native", data), FIRST[first]) == reference
    assert read_all(stanzas("native", data, 7), FIRST[first]) == reference


@pytest.mark.parametrize("first", ["nothing", "get", "find"])
def test_generated_corpus_read_whole(first: str) -> None:
    corpus = pytest.importorskip("corpus")
    data = corpus.generate(400, seed=5)
    reference = read_all(stanzas("expat", data), FIRST[first])
    native = stanzas("native", data, 4096)
    assert read_all(native, FIRST[first]) == reference
    if first == "nothing":
        assert {type(el) for el in native} == {DecodedElement}


def test_a_found_child_reads_its_own_subtree() -> None:
    body = (
        b"<iq type='result' id='1'><query xmlns='urn:q'>"
        b"<item a='1'>x<s/>y</item>t<item/></query></iq>"
    )
    for backend in ("native", "expat"):
        (iq,) = stanzas(backend, HEADER + body)
        query = iq.find("{urn:q}query")
        assert query is not None
        assert [(e.tag, e.attrib, e.text, e.tail) for e in query.iter()] == [
            ("{urn:q}query", {}, None, None),
            ("{urn:q}item", {"a": "1"}, "x", "t"),
            ("{urn:q}s", {}, None, "y"),
            ("{urn:q}item", {}, None, None),
        ], backend
        assert list(query.itertext()) == ["x", "y", "t"]
        assert [e.tag for e in iq.iter("{urn:q}item")] == ["{urn:q}item"] * 2


def test_names_past_the_name_table_fall_back_and_stay_right() -> None:
    """More distinct names than the name table holds (over many stanzas,
    and in one stanza), and a name too long to keep: each stanza still
    reads right, and so do the stanzas after it."""
    many = b"<iq id='m'>" + b"".join(b"<n%d a%d='%d'/>" % (i, i, i) for i in range(300)) + b"</iq>"
    long_ns = b"urn:" + b"x" * 600
    long = b"<message><e xmlns='" + long_ns + b"' k='v'>t</e></message>"
    drift = b"".join(
        b"<message id='%d'><x%d xmlns='urn:d%d' y='1'/></message>" % (i, i, i) for i in range(400)
    )
    data = (
        HEADER + b"<message to='a'><body>hi</body></message>" + many + long + drift + many + CLOSE
    )
    reference = read_all(stanzas("expat", data), FIRST["nothing"])
    native = stanzas("native", data, 4096)
    assert read_all(native, FIRST["nothing"]) == reference
    # the ones that fit were decoded, the others read node by node
    assert DecodedElement in {type(el) for el in native}


def test_a_decoded_stanza_holds_no_reference_cycle() -> None:
    """No element of a decoded stanza can reach itself (so dropping the
    stanza frees it at once, with no cycle for the collector to find): the
    tree holds children, never parents, and the stanza element's list of
    descendants does not hold the stanza element."""
    data = HEADER + b"<message><body>a<b><c/></b>d</body><x xmlns='urn:x' a='1'/></message>"
    (stanza,) = stanzas("native", data)
    every = list(stanza.iter())
    assert {type(el) for el in every} == {DecodedElement}

    def below(el: Any) -> list[Any]:
        return [*el._kids, *getattr(el, "_all", [])]

    for el in every:
        seen: set[int] = set()
        todo = below(el)
        while todo:
            other = todo.pop()
            assert other is not el
            if id(other) not in seen:
                seen.add(id(other))
                todo += below(other)


def test_a_render_under_way_elsewhere_reads_node_by_node() -> None:
    """While another thread renders with the same tokenizer's buffers, a
    stanza read whole is read from its node table instead (same result)."""
    data = HEADER + b"<message to='a'><body>hi</body><x xmlns='urn:x' a='1'/></message>"
    parser = StreamParser(backend="native")
    (stanza,) = [ev for ev in parser.feed(data) if isinstance(ev, Element)]
    token = parser._impl._tok._rendering  # type: ignore[attr-defined]
    token.pop()  # (what a render under way holds)
    try:
        got = whole(stanza)
    finally:
        token.append(True)
    assert type(stanza) is Element
    assert got == whole(stanzas("expat", data)[0])


@pytest.mark.parametrize("count", range(8))
def test_every_attribute_count_reads_the_same(count: int) -> None:
    """A stanza element and its children with 0 to 7 attributes each (the
    build spells the common counts out): the same attributes, in the same
    order, as the expat backend's, whatever was read first."""
    attrs = b"".join(b" a%d='v%d'" % (i, i) for i in range(count))
    body = (
        b"<message" + attrs + b"><x xmlns='urn:x'" + attrs + b"/>"
        b"<y" + attrs + b">t<z" + attrs + b"/>u</y></message>"
    )
    data = HEADER + body + CLOSE
    for first in ("nothing", "get", "text"):
        reference = read_all(stanzas("expat", data), FIRST[first])
        assert read_all(stanzas("native", data), FIRST[first]) == reference
        (stanza,) = stanzas("native", data)
        FIRST[first](stanza)
        assert [list(e.items()) for e in stanza.iter()] == [
            [(f"a{i}", f"v{i}") for i in range(count)]
        ] * 4


def test_kept_render_buffers_grow_as_stanzas_need_and_no_further() -> None:
    """The buffers a tokenizer keeps start small, double as a larger
    stanza needs it, stay at most the kept sizes (a larger stanza gets
    buffers of its own), and every stanza reads the same as the expat
    backend's meanwhile."""
    from stanzalink.xml import _native

    bodies = ["hi", "x" * 3000, "y" * 100, "z" * 20_000, "w" * 500]
    data = HEADER + b"".join(
        b"<message to='a@example.net'><body>" + body.encode() + b"</body></message>"
        for body in bodies
    )
    native = StreamParser(backend="native")
    tok = native._impl._tok  # type: ignore[attr-defined]
    expat = [e for e in StreamParser(backend="expat").feed(data) if isinstance(e, Element)]
    caps = []
    got = [e for e in native.feed(data) if isinstance(e, Element)]
    for el, ref in zip(got, expat, strict=True):
        assert whole(el) == whole(ref)
        caps.append((tok._str_cap, tok._rec_cap))
    assert caps[0] == (_native._STR_FIRST, _native._REC_FIRST)
    assert 3000 < caps[1][0] <= _native._STR_KEEP  # grown for the second
    assert caps[2] == caps[1]  # and kept
    assert caps[3] == caps[4] == caps[1]  # 20,000 bytes: buffers for that call only

"""Plain elements are written to the same bytes as ElementTree elements with
the same content, and read like them."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stanzalink.xml import builder, plain, tostring
from stanzalink.xml.plain import PlainElement, is_built

from ..util import python_cmd

AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")

NAMESPACES = ["jabber:client", "urn:a", "urn:b", ""]
ATTRS = ["to", "type", "id", "{urn:x}flag", "{http://www.w3.org/XML/1998/namespace}lang"]
TEXT = st.one_of(st.none(), st.text(alphabet="ab <&>\"'\n\t\r\u00e9\U0001f600", max_size=6))


def _tag(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}" if ns else local


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> tuple[object, ...]:
    """A tree as (tag, attributes, text, tail, children)."""
    tag = _tag(draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(["iq", "query", "x"])))
    attrs = draw(
        st.dictionaries(st.sampled_from(ATTRS), st.text(alphabet="a1 &<\"'\n", max_size=4))
    )
    children = draw(st.lists(trees(depth + 1), max_size=3)) if depth < 3 else []
    return (tag, attrs, draw(TEXT), draw(TEXT), children)


def _plain(spec: tuple[object, ...]) -> PlainElement:
    tag, attrs, text, tail, children = spec
    el = plain.E(tag, attrs, *(_plain(c) for c in children), text=text)  # type: ignore[arg-type]
    el.tail = tail  # type: ignore[assignment]
    return el


def _tree(spec: tuple[object, ...]) -> ET.Element:
    tag, attrs, text, tail, children = spec
    el = builder.E(tag, attrs, *(_tree(c) for c in children), text=text)  # type: ignore[arg-type]
    el.tail = tail  # type: ignore[assignment]
    return el


@given(trees())
def test_a_plain_tree_is_written_as_the_same_tree_built_with_elementtree(
    spec: tuple[object, ...],
) -> None:
    for default_ns in ("jabber:client", ""):
        for oneline in (False, True):
            want = tostring(_tree(spec), default_ns=default_ns, oneline=oneline)
            got = tostring(_plain(spec), default_ns=default_ns, oneline=oneline)
            assert got == want
    assert ET.tostring(_plain(spec).to_etree()) == ET.tostring(_tree(spec))


def test_none_attributes_are_dropped_and_sub_appends() -> None:
    iq = plain.E("{jabber:client}iq", {"type": "get", "to": None})
    query = plain.sub(iq, "{jabber:iq:roster}query", {"ver": None})
    plain.sub(query, "{jabber:iq:roster}item", {"jid": "a@example.net"}, text="x")
    tree = builder.E("{jabber:client}iq", {"type": "get", "to": None})
    builder.sub(builder.sub(tree, "{jabber:iq:roster}query"), "{jabber:iq:roster}item",
                {"jid": "a@example.net"}, text="x")  # fmt: skip
    assert tostring(iq, default_ns="jabber:client") == tostring(tree, default_ns="jabber:client")
    assert iq.attrib == {"type": "get"}
    assert len(iq) == 1 and iq[0] is query


def test_it_reads_like_an_elementtree_element() -> None:
    pres = plain.E("{jabber:client}presence", {"to": "a@example.net"})
    plain.sub(pres, "{jabber:client}status", text="one")
    plain.sub(pres, "{jabber:client}status", text="two")
    c = plain.sub(pres, "{urn:caps}c", {"ver": "v"})
    pres.set("type", "probe")
    tree = pres.to_etree()
    assert pres.get("type") == tree.get("type") == "probe"
    assert pres.get("nope", "d") == "d"
    assert pres.keys() == tree.keys() and pres.items() == tree.items()
    for path in ("{jabber:client}status", "{urn:caps}c", "{urn:none}z", ".//{urn:caps}c", "*"):
        assert [e.tag for e in pres.findall(path)] == [e.tag for e in tree.findall(path)]
        found, want = pres.find(path), tree.find(path)
        assert (found is None) == (want is None)
        assert pres.findtext(path) == tree.findtext(path)
    assert pres.find("{urn:caps}c") is c
    assert [e.tag for e in pres.iter()] == [e.tag for e in tree.iter()]
    assert [e.tag for e in pres.iter("{jabber:client}status")] == ["{jabber:client}status"] * 2
    pres.remove(c)
    pres.insert(0, c)
    assert pres[0] is c
    assert bool(plain.E("x")) is True  # no children, still an element


def test_any_path_finds_what_it_finds_in_the_same_elementtree_tree() -> None:
    """A path that is not one child's tag (a namespace wildcard, no
    namespace, a predicate on text) is ElementPath's, read as on the same
    tree built with ElementTree."""
    root = plain.E("r")
    a = plain.sub(root, "a", {"k": "v"}, text="t1")
    plain.sub(a, "b", text="x").tail = "after"
    plain.sub(root, "{urn:n}c", text="y")
    tree = root.to_etree()
    paths = ["{*}c", "{}a", "{urn:n}c", "a[b='x']", "a[.='t1']", "a[.='t1xafter']", "*[@k='v']"]
    for path in paths:
        assert [e.tag for e in root.findall(path)] == [e.tag for e in tree.findall(path)], path
        assert root.findtext(path) == tree.findtext(path), path
        assert [e.tag for e in root.iterfind(path)] == [e.tag for e in tree.iterfind(path)], path
    assert list(root.itertext()) == list(tree.itertext())


def test_a_plain_element_may_hold_elementtree_children() -> None:
    form = builder.E("{jabber:x:data}x", {"type": "result"})
    builder.sub(form, "{jabber:x:data}field", {"var": "FORM_TYPE"})
    query = plain.E("{urn:q}query", None, form)
    assert tostring(query) == tostring(builder.E("{urn:q}query", None, form))
    assert [e.tag for e in query.iter()] == [
        "{urn:q}query",
        "{jabber:x:data}x",
        "{jabber:x:data}field",
    ]
    assert ET.tostring(query.to_etree()) == ET.tostring(builder.E("{urn:q}query", None, form))


def test_is_built_knows_plain_and_elementtree_elements() -> None:
    assert is_built(plain.E("x"))
    assert is_built(builder.E("x"))
    assert not is_built("x")
    assert not is_built(None)


def test_is_built_does_not_load_elementtree() -> None:
    code = (
        "import sys\n"
        "from stanzalink.xml.plain import E, is_built\n"
        "assert is_built(E('x')) and not is_built(object())\n"
        "print('xml.etree.ElementTree' in sys.modules, 'pyexpat' in sys.modules)\n"
    )
    out = subprocess.run(
        [*python_cmd(), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": AGENT_DIR},
        timeout=60,
    )
    assert out.stdout.split() == ["False", "False"]


def test_a_plain_message_gets_its_origin_id_as_an_elementtree_one_does() -> None:
    from stanzalink.stanza import ORIGIN_ID, with_origin_id

    msg = plain.E("{jabber:client}message", {"to": "a@example.net"})
    plain.sub(msg, "{jabber:client}body", text="hi")
    out = with_origin_id(msg)
    assert out is not msg and len(msg) == 1  # the caller's element left as it was
    ids = out.findall(ORIGIN_ID)
    assert len(ids) == 1 and len(ids[0].get("id")) == 32
    tree = builder.E("{jabber:client}message", {"to": "a@example.net"})
    builder.sub(tree, "{jabber:client}body", text="hi")
    builder.sub(tree, ORIGIN_ID, {"id": ids[0].get("id")})
    assert tostring(out, default_ns="jabber:client") == tostring(tree, default_ns="jabber:client")

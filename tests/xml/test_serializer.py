"""The serializer: escaping, namespaces, round trips through both backends."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stanzalink.errors import LocalProtocolError
from stanzalink.xml import E, Element, StreamParser, escape_attr, escape_text, sub, tostring

from .cases import HEADER, VALID
from .test_parser import assert_same_tree

XML_NS = "http://www.w3.org/XML/1998/namespace"


def reparse(data: bytes, backend: str) -> Element:
    """Parse serializer output as a stanza of a fresh stream."""
    events = StreamParser(backend=backend).feed(HEADER + data)
    assert len(events) == 2, events
    el = events[1]
    assert isinstance(el, Element)
    return el


def test_builder_and_default_namespace() -> None:
    msg = E(
        "{jabber:client}message",
        {"to": "a@example.net", "type": "chat", "id": None},  # type: ignore[dict-item]
        E("{jabber:client}body", text="hello"),
    )
    sub(msg, "{http://jabber.org/protocol/chatstates}active")
    assert tostring(msg, default_ns="jabber:client") == (
        b'<message to="a@example.net" type="chat"><body>hello</body>'
        b'<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    assert tostring(msg).startswith(b'<message xmlns="jabber:client" ')


def test_escaping() -> None:
    assert escape_text("a<b>&c\r\nd") == "a&lt;b&gt;&amp;c&#13;\nd"
    assert escape_text('x\ny\t"', oneline=True) == "x&#10;y&#9;&quot;"
    assert escape_attr("'\"<&>\t\n\r") == "'&quot;&lt;&amp;&gt;&#9;&#10;&#13;"
    assert escape_text("plain") == "plain"
    for bad in ("\x00", "a\x1fb", "\ud800", "\uffff"):
        with pytest.raises(LocalProtocolError):
            escape_text(bad)
        with pytest.raises(LocalProtocolError):
            escape_attr(bad)


def test_namespaced_attributes_get_declared_prefixes(backend: str) -> None:
    el = E(
        "{urn:a}x",
        {"{urn:b}k": "1", f"{{{XML_NS}}}lang": "en", "plain": "2"},
        E("{urn:a}y", {"{urn:b}k": "3", "{urn:c}k": "4"}),
        E("{urn:b}z"),
    )
    out = tostring(el)
    assert out == (
        b'<x xmlns="urn:a" xmlns:ns0="urn:b" ns0:k="1" xml:lang="en" plain="2">'
        b'<y xmlns:ns1="urn:c" ns0:k="3" ns1:k="4"/><z xmlns="urn:b"/></x>'
    )
    assert_same_tree(reparse(out, backend), el, top=True)  # type: ignore[arg-type]


def test_element_without_namespace_inside_default(backend: str) -> None:
    el = E("{jabber:client}message", None, E("plain", text="t"))
    out = tostring(el, default_ns="jabber:client")
    assert out == b'<message><plain xmlns="">t</plain></message>'
    assert reparse(out, backend)[0].tag == "plain"


@pytest.mark.parametrize(("name", "body"), VALID, ids=[v[0] for v in VALID])
def test_round_trip_of_parsed_stanzas(backend: str, name: str, body: bytes) -> None:
    for ev in StreamParser(backend=backend).feed(HEADER + body):
        if isinstance(ev, Element):
            for oneline in (False, True):
                out = tostring(ev, oneline=oneline)
                if oneline:
                    assert b"\n" not in out and b"\r" not in out
                again = reparse(out, backend)
                assert_same_tree(again, ev.to_etree(), top=True)
                assert tostring(again, oneline=oneline) == out


XML_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x00\ufffe\uffff",
        codec="utf-8",
    ).filter(lambda c: c >= " " or c in "\t\n\r"),
    max_size=30,
)


@given(XML_TEXT, XML_TEXT, XML_TEXT)
def test_any_text_round_trips(text: str, value: str, tail: str) -> None:
    el = E("{jabber:client}message", {"a": value}, text=text)
    child = sub(el, "{urn:x}c", text=tail)
    child.tail = tail
    for backend in ("native", "expat"):
        from stanzalink.xml import available_backends

        if backend not in available_backends():
            continue
        again = reparse(tostring(el, default_ns="jabber:client"), backend)
        assert again.get("a") == value
        assert (again.text or "") == text
        assert (again[0].text or "") == tail
        assert (again[0].tail or "") == tail


def test_deep_tree_needs_no_recursion() -> None:
    root = cur = ET.Element("{urn:d}a")
    for _ in range(5000):
        cur = ET.SubElement(cur, "{urn:d}a")
    out = tostring(root)
    assert out.count(b"<a") == 5001 and out.count(b"xmlns") == 1


def test_fast_path_for_plain_strings_gives_the_same_bytes() -> None:
    """A string with nothing to escape goes out as it is; anything else
    takes the full path (escaping, or refusing what XML cannot carry)."""
    assert escape_text("plain text\twith\nbreaks") == "plain text\twith\nbreaks"
    assert escape_attr("plain") == "plain"
    assert escape_text("a<b & c>\r") == "a&lt;b &amp; c&gt;&#13;"
    assert escape_attr('q"\t\n\r<&>') == "q&quot;&#9;&#10;&#13;&lt;&amp;&gt;"
    for bad in ("\x00", "a\x1fb", "\ud800", "\uffff"):
        with pytest.raises(LocalProtocolError):
            escape_text(bad)
        with pytest.raises(LocalProtocolError):
            escape_attr(bad)


def test_a_bad_tag_name_is_refused_every_time() -> None:
    """Checked tag names are remembered; a refused one is not."""
    for _ in range(2):
        with pytest.raises(LocalProtocolError):
            tostring(ET.Element("{urn:x}bad\x01name"))
    assert tostring(ET.Element("{urn:x}good")) == b'<good xmlns="urn:x"/>'
    assert tostring(ET.Element("{urn:x}good")) == b'<good xmlns="urn:x"/>'


def test_the_names_import_where_they_did() -> None:
    """Escaping is its own module and the serializer and the builder load
    when first asked for; every name still imports from where it did, the
    same object."""
    import stanzalink.xml as package
    from stanzalink.xml import builder, escape, serializer

    assert package.E is builder.E and package.sub is builder.sub

    assert package.tostring is serializer.tostring
    assert package.escape_attr is escape.escape_attr is serializer.escape_attr
    assert package.escape_text is escape.escape_text is serializer.escape_text
    with pytest.raises(AttributeError):
        package.not_a_name  # noqa: B018

"""StreamParser conversations: bytes in, events out, for both backends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pytest

from stanzalink.errors import LocalProtocolError
from stanzalink.xml import Element, StreamClose, StreamError, StreamOpen, StreamParser
from stanzalink.xml.decoded import DecodedElement
from stanzalink.xml.element import LazyElement, _HeadRead

from .cases import CLOSE, HEADER, STANZA, VALID
from .helpers import run

STREAM = HEADER + STANZA + b"\n  " + STANZA + CLOSE


def kinds(events: Sequence[object]) -> list[type]:
    """The event classes, a stanza counted as Element (the native backend
    hands out a lazy subclass until the stanza is read)."""
    return [Element if isinstance(e, Element) else type(e) for e in events]


def test_header_stanzas_close(backend: str) -> None:
    events = StreamParser(backend=backend).feed(STREAM)
    assert kinds(events) == [StreamOpen, Element, Element, StreamClose]
    head = events[0]
    assert isinstance(head, StreamOpen)
    assert head.attrib == {
        "from": "example.net",
        "id": "s1",
        "version": "1.0",
        "{http://www.w3.org/XML/1998/namespace}lang": "en",
    }
    assert list(head.attrib) == [
        "from",
        "id",
        "version",
        "{http://www.w3.org/XML/1998/namespace}lang",
    ]
    assert head.nsmap == {"": "jabber:client", "stream": "http://etherx.jabber.org/streams"}
    msg = events[1]
    assert isinstance(msg, Element)
    assert msg.tag == "{jabber:client}message"
    assert msg.attrib == {"to": "a@example.net", "type": "chat"}
    assert msg.get("type") == "chat" and msg.get("nope", "d") == "d"
    assert msg.findtext("{jabber:client}body") == "hi"
    assert msg.text is None and msg.tail is None


def test_every_chunking_gives_the_same_events(backend: str) -> None:
    whole = run(backend, STREAM)
    assert len(whole) == 4
    for size in (1, 2, 3, 7, 64):
        assert run(backend, STREAM, size) == whole


def test_a_stanza_is_delivered_by_the_call_with_its_last_byte(backend: str) -> None:
    parser = StreamParser(backend=backend)
    assert len(parser.feed(HEADER)) == 1
    assert parser.feed(STANZA[:-1]) == []
    [msg] = parser.feed(STANZA[-1:])
    assert isinstance(msg, Element)


def test_keepalive_whitespace_is_no_event(backend: str) -> None:
    parser = StreamParser(backend=backend)
    parser.feed(HEADER)
    for _ in range(3):
        assert parser.feed(b" ") == []
        assert parser.feed(b"\n\t\r\n") == []


@pytest.mark.parametrize(("name", "body"), VALID, ids=[v[0] for v in VALID])
def test_valid_inputs_match_elementtree(backend: str, name: str, body: bytes) -> None:
    """Every stanza reads exactly as ElementTree reads the same bytes."""
    events = StreamParser(backend=backend).feed(HEADER + body)
    stanzas = [e for e in events if isinstance(e, Element)]
    reference = ET.fromstring(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        + body
        + CLOSE
    )
    assert len(stanzas) == len(reference)
    for ours, theirs in zip(stanzas, reference, strict=True):
        assert_same_tree(ours, theirs, top=True)


def assert_same_tree(ours: Element, theirs: ET.Element, top: bool = False) -> None:
    stack = [(ours, theirs, top)]
    while stack:
        a, b, is_top = stack.pop()
        assert a.tag == b.tag
        assert a.attrib == b.attrib
        assert list(a.attrib.items()) == list(b.attrib.items())
        assert a.text == b.text
        if not is_top:
            assert a.tail == b.tail
        assert len(a) == len(b)
        stack += [(x, y, False) for x, y in zip(a, b, strict=True)]


def test_element_reading_interface(backend: str) -> None:
    body = (
        b"<message from='a@b/c'><body>one</body><body xml:lang='de'>zwei</body>"
        b"<x xmlns='urn:x'><y k='v'>t</y>tail</x></message>"
    )
    [_, msg] = StreamParser(backend=backend).feed(HEADER + body)
    assert isinstance(msg, Element)
    assert [c.tag for c in msg] == ["{jabber:client}body", "{jabber:client}body", "{urn:x}x"]
    assert len(msg) == 3 and msg[2].tag == "{urn:x}x" and [e.tag for e in msg[0:2]] != []
    assert [b.text for b in msg.findall("{jabber:client}body")] == ["one", "zwei"]
    assert msg.find("{urn:x}x/{urn:x}y").get("k") == "v"  # type: ignore[union-attr]
    assert msg.find("x:x/x:y", {"x": "urn:x"}).text == "t"  # type: ignore[union-attr]
    assert msg.find(".//{urn:x}y") is not None
    assert msg.find("{jabber:client}nothing") is None
    assert msg.findtext("{jabber:client}nothing", "dflt") == "dflt"
    assert msg.find("{urn:x}x")[0].tail == "tail"  # type: ignore[index]
    assert [e.tag for e in msg.iter()][-1] == "{urn:x}y"
    assert [e.tag for e in msg.iter("{jabber:client}body")] == ["{jabber:client}body"] * 2
    assert "".join(msg.itertext()) == "onezweittail"
    assert (
        msg.findall(".//{jabber:client}body[@{http://www.w3.org/XML/1998/namespace}lang='de']")[
            0
        ].text
        == "zwei"
    )
    assert bool(msg.find("{urn:x}x/{urn:x}y")) is True
    copy = msg.to_etree()
    assert ET.tostring(copy) == ET.tostring(ET.fromstring(ET.tostring(copy)))
    assert copy[2][0].tail == "tail"
    assert msg.namespace == "jabber:client" and msg.localname == "message"


def test_any_path_finds_what_elementtree_finds_in_the_same_stanza(backend: str) -> None:
    """A path that is not one child's tag (a namespace wildcard, no
    namespace, a predicate on text) is ElementPath's, read as on the same
    stanza parsed by ElementTree."""
    body = (
        b"<message><body>one</body><x xmlns='urn:x' k='v'>t1<y>x</y>after</x>"
        b"<c xmlns=''>none</c><c xmlns='urn:n'>y</c></message>"
    )
    [_, msg] = StreamParser(backend=backend).feed(HEADER + body)
    tree = ET.fromstring(body.replace(b"<message>", b"<message xmlns='jabber:client'>"))
    paths = [
        "{*}c",
        "{}c",
        "{*}body",
        "{urn:n}c",
        "{urn:x}x[{urn:x}y='x']",
        "{urn:x}x[.='t1xafter']",
        "*[@k='v']",
        ".//{*}y",
    ]
    for path in paths:
        want = [(e.tag, e.text) for e in tree.findall(path)]
        assert want, path  # each path finds something
        assert [(e.tag, e.text) for e in msg.findall(path)] == want, path
        assert [(e.tag, e.text) for e in msg.iterfind(path)] == want, path
        assert msg.findtext(path) == tree.findtext(path), path


def test_error_keeps_the_events_before_it(backend: str) -> None:
    parser = StreamParser(backend=backend)
    with pytest.raises(StreamError) as info:
        parser.feed(HEADER + STANZA + b"<!-- no -->")
    err = info.value
    assert err.condition == "restricted-xml"
    assert kinds(err.events) == [StreamOpen, Element]
    assert err.offset >= len(HEADER + STANZA)
    assert err.line >= 1
    with pytest.raises(LocalProtocolError):
        parser.feed(b"<message/>")
    parser.reset()
    assert len(parser.feed(HEADER)) == 1


def test_reset_starts_a_new_stream(backend: str) -> None:
    parser = StreamParser(backend=backend)
    assert len(parser.feed(HEADER + STANZA)) == 2
    parser.reset()
    events = parser.feed(HEADER.replace(b"s1", b"s2"))
    assert isinstance(events[0], StreamOpen) and events[0].get("id") == "s2"


def test_feed_some_stops_after_max_events(backend: str) -> None:
    """A negotiating session stops after <proceed/> to restart the stream."""
    proceed = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    data = HEADER + proceed + b"\x16\x03\x01 not xml: TLS bytes"
    parser = StreamParser(backend=backend)
    events, used = parser.feed_some(data, max_events=1)
    assert kinds(events) == [StreamOpen] and used == len(HEADER)
    events, used2 = parser.feed_some(data[used:], max_events=1)
    assert len(events) == 1 and events[0].tag.endswith("}proceed")  # type: ignore[union-attr]
    assert used2 == len(proceed)
    parser.reset()
    assert len(parser.feed(HEADER)) == 1


def test_unknown_backend_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        StreamParser(backend="lxml")


@pytest.mark.parametrize(
    "limits", [{"max_depth": 0}, {"max_attrs": -1}, {"max_stanza_bytes": 2**40}]
)
def test_bad_limits_are_refused(backend: str, limits: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        StreamParser(backend=backend, **limits)


def test_reparse_deferral_probe_matches_the_parser() -> None:
    """The probe behind the fallback's warning tells the truth here."""
    from stanzalink.xml.expat_backend import reparse_deferral_stuck

    parser = StreamParser(backend="expat")
    events = []
    for byte in HEADER + STANZA:
        events += parser.feed(bytes([byte]))
    delivered = len(events) == 2
    assert delivered == (not reparse_deferral_stuck())


def test_stanza_views_read_the_same_whatever_is_read_first(backend: str) -> None:
    """Native stanza views start lazy (tag from the tokenizer's tag_id, the
    node table sliced on first use): any first read, after later feeds and a
    reset, gives what an eager view gives; names beyond the numbered ones
    and a name in two namespaces keep their own tags."""
    names = [f"n{i}" for i in range(40)]  # more than SL_TAG_IDS
    body = b"".join(
        f"<{n} a='{i}'><c>t{i}</c>tail</{n}>".encode()
        + f"<{n} xmlns='urn:other' b='{i}'/>".encode()
        for i, n in enumerate(names)
    )
    p = StreamParser(backend=backend)
    first = [e for e in p.feed(HEADER + body) if isinstance(e, Element)]
    p.feed(b"<message/>")  # the next feed replaces the C arena
    p.reset()
    second = [e for e in p.feed(HEADER + body) if isinstance(e, Element)]
    assert len(first) == len(second) == 2 * len(names)
    for i, n in enumerate(names):
        a, b = first[2 * i], first[2 * i + 1]
        # attributes first on one view, the tag first on the other
        assert a.attrib == {"a": str(i)} and a.tag == f"{{jabber:client}}{n}"
        assert b.tag == f"{{urn:other}}{n}" and b.attrib == {"b": str(i)}
        assert a.findtext("{jabber:client}c") == f"t{i}"
        assert [c.tail for c in a] == ["tail"] and len(b) == 0
        assert ET.tostring(a.to_etree()) == ET.tostring(second[2 * i].to_etree())
        assert second[2 * i + 1].text is None and second[2 * i + 1].tag == b.tag
    # once read, no view is lazy any more: decoded (whole, or the stanza
    # element alone when only its attributes and text were read), or a view
    # of its node table (the expat backend, or after a find)
    types = {type(e) for e in first + second}
    if backend == "native":
        assert LazyElement not in types and types <= {DecodedElement, _HeadRead, Element}
    else:
        assert types == {Element}

"""A stanza that crosses a parser limit is skipped, not fatal: both backends
drop it whole, report one StanzaSkipped, and the stream goes on; broken XML
inside it still ends the stream."""

from __future__ import annotations

import io
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stanzalink.xml import (
    DEFAULT_LIMITS,
    Element,
    StanzaSkipped,
    StreamClose,
    StreamError,
    StreamOpen,
    StreamParser,
    available_backends,
)
from stanzalink.xml.stream import NativeBackend

from ..conftest import expat_usable
from .cases import CLOSE, HEADER, STANZA
from .helpers import run

AFTER = b"<message from='a@example.net/r' id='after'><body>still here</body></message>"
# the issue's messages: 70 nested elements, 70 attributes (about 600 bytes)
DEEP = (
    b"<message from='x@example.net/r' to='dev@example.net' id='deep' type='chat'>"
    + b"<a>" * 70
    + b"</a>" * 70
    + b"</message>"
)
WIDE = (
    b"<message from='x@example.net/r' id='wide' type='chat'"
    + b"".join(b" a%d='%d'" % (i, i) for i in range(70))
    + b"><body>hi</body></message>"
)


def events(backend: str, data: bytes, chunk: int | None = None, **limits: int) -> list[object]:
    parser = StreamParser(backend=backend, **limits)
    out: list[object] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        out += parser.feed(piece)
    return out


def reference_backend() -> str:
    """expat, whole, is the reference; where this libexpat defers small
    chunks (Debian 12's target Python under qemu) even a whole feed may hold
    its last stanza back, so the native tokenizer is, checked elsewhere
    against expat."""
    if expat_usable() or "native" not in available_backends():
        return "expat"
    return "native"


def every_chunking(data: bytes, **limits: int) -> list[str]:
    """The event lines of ``data``: the same for both backends, whole and in
    every chunk size from 1 to len(data)."""
    reference = run(reference_backend(), data, None, **limits)
    backends = ["expat"]
    if "native" in available_backends():
        backends.insert(0, "native")
        assert run("native", data, None, **limits) == reference
    if not expat_usable():
        backends.remove("expat")
    for backend in backends:
        for chunk in range(1, len(data) + 1):
            assert run(backend, data, chunk, **limits) == reference, (backend, chunk)
    return reference


def test_the_issues_messages_are_skipped_and_the_next_stanza_arrives(backend: str) -> None:
    assert len(DEEP) < 700 and len(WIDE) < 700
    data = HEADER + DEEP + AFTER + WIDE + AFTER + CLOSE
    evs = events(backend, data)
    kinds = [StreamOpen, StanzaSkipped, Element, StanzaSkipped, Element, StreamClose]
    assert len(evs) == len(kinds)
    assert all(isinstance(e, k) for e, k in zip(evs, kinds, strict=True)), evs
    deep, wide = evs[1], evs[3]
    start = len(HEADER)
    assert deep == StanzaSkipped(
        "max_depth",
        "{jabber:client}message",
        {"from": "x@example.net/r", "to": "dev@example.net", "id": "deep", "type": "chat"},
        start,
        start + len(DEEP),
        64,
    )
    start += len(DEEP) + len(AFTER)
    assert wide == StanzaSkipped(
        "max_attrs",
        "{jabber:client}message",
        {"from": "x@example.net/r", "id": "wide", "type": "chat"},
        start,
        start + len(WIDE),
        64,
    )
    for after in (evs[2], evs[4]):
        assert isinstance(after, Element)
        assert after.get("id") == "after"
        assert after.findtext("{jabber:client}body") == "still here"
    assert str(deep) == "stanza skipped: elements nested deeper than 64"
    assert str(wide) == "stanza skipped: more than 64 attributes on one element"


def test_the_issues_messages_in_every_chunking() -> None:
    for stanza in (DEEP, WIDE):
        lines = every_chunking(HEADER + stanza + AFTER)
        assert lines[1].startswith("skip ") and lines[2].startswith("stanza <message ")
        assert len(lines) == 3


def test_limits_in_every_chunking() -> None:
    """Each limit on a small stream, every chunk size, both backends."""
    head = b"<stream xmlns='http://etherx.jabber.org/streams'>"
    ok = b"<m id='k'/>"
    cases = [
        # (stream, limits, expected limit, tag)
        (head + b"<m id='1'><a><b><c/></b></a></m>" + ok, {"max_depth": 3}, "max_depth"),
        (head + b"<m id='2' a='1' b='2' c='3'/>" + ok, {"max_attrs": 3}, "max_attrs"),
        (head + b"<m id='3'><longname/></m>" + ok, {"max_name_len": 7}, "max_name_len"),
        (head + b"<m id='4'><b>" + b"x" * 40 + b"</b></m>" + ok, {"max_stanza_bytes": 50}, None),
        (head + b"<m id='5'" + b" " * 60 + b"><b/></m>" + ok, {"max_stanza_bytes": 50}, None),
    ]
    for data, limits, limit in cases:
        lines = every_chunking(data, **limits)
        skip = json.loads(lines[1][5:].rsplit(" @", 1)[0])
        assert skip["limit"] == (limit or "max_stanza_bytes"), lines
        assert lines[2] == 'stanza <m xmlns="http://etherx.jabber.org/streams" id="k"/>'


def test_an_over_long_body(backend: str) -> None:
    body = b"<message id='long' type='chat'><body>" + b"y" * 5000 + b"</body></message>"
    for chunk in (None, 1, 7, 4096):
        evs = events(backend, HEADER + body + AFTER, chunk, max_stanza_bytes=1000)
        skipped = evs[1]
        assert isinstance(skipped, StanzaSkipped)
        assert (skipped.limit, skipped.tag, skipped.attrib) == (
            "max_stanza_bytes",
            "{jabber:client}message",
            {"id": "long", "type": "chat"},
        )
        assert (skipped.offset, skipped.end) == (len(HEADER), len(HEADER) + len(body))
        assert str(skipped) == "stanza skipped: larger than 1000 bytes"
        assert isinstance(evs[2], Element) and evs[2].get("id") == "after"


def test_a_start_tag_over_the_byte_limit_has_no_tag(backend: str) -> None:
    stanza = b"<iq id='q' type='get'" + b" " * 2000 + b"><ping xmlns='urn:xmpp:ping'/></iq>"
    evs = events(backend, HEADER + stanza + AFTER, 100, max_stanza_bytes=1000)
    assert evs[1] == StanzaSkipped(
        "max_stanza_bytes", "", {}, len(HEADER), len(HEADER) + len(stanza), 1000
    )


def test_the_first_limit_crossed_wins(backend: str) -> None:
    deep_then_long = b"<message id='a'>" + b"<a>" * 70 + b"x" * 2000 + b"</a>" * 70 + b"</message>"
    long_then_deep = b"<message id='b'>" + b"x" * 2000 + b"<a>" * 70 + b"</a>" * 70 + b"</message>"
    evs = events(backend, HEADER + deep_then_long + long_then_deep, 64, max_stanza_bytes=1000)
    assert [(e.limit, e.get("id")) for e in evs[1:]] == [  # type: ignore[union-attr]
        ("max_depth", "a"),
        ("max_stanza_bytes", "b"),
    ]


@pytest.mark.parametrize(
    ("inside", "condition"),
    [
        (b"</c>", "not-well-formed"),  # a mismatched end tag
        (b"<!-- x -->", "restricted-xml"),
        (b"&nbsp;", "restricted-xml"),
        (b"<q:r/>", "not-well-formed"),  # an unbound prefix
        (b"<r a='1' a='2'/>", "not-well-formed"),
        (b"<r xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' q:a='2'/>", "not-well-formed"),
        (b"\xc3(", "not-well-formed"),
        (b"<stream:stream/>", "not-well-formed"),
        (b"<?pi x?>", "restricted-xml"),
    ],
)
def test_broken_xml_inside_a_skipped_stanza_ends_the_stream(
    backend: str, inside: bytes, condition: str
) -> None:
    data = HEADER + b"<message><a>" + b"<b>" * 70 + inside + b"</b>" * 70 + b"</a></message>"
    for chunk in (None, 1, 5, 64):
        lines = run(backend, data + AFTER, chunk)
        assert lines[1:] == ["error " + condition], (chunk, lines)


def test_the_same_inside_a_skipped_stanza_in_every_chunking() -> None:
    data = (
        HEADER + b"<message id='m'><a>" + b"<b>" * 66 + b"</c>" + b"</b>" * 66 + b"</a></message>"
    )
    assert every_chunking(data)[1:] == ["error not-well-formed"]


def test_the_header_over_a_limit_is_still_a_stream_error(backend: str) -> None:
    with pytest.raises(StreamError) as err:
        events(backend, HEADER + AFTER, max_attrs=3)
    assert err.value.condition == "policy-violation"
    with pytest.raises(StreamError) as err:
        events(backend, HEADER + AFTER, max_stanza_bytes=len(HEADER) - 1)
    assert err.value.condition == "policy-violation"


def test_a_skipped_stanza_over_max_skip_bytes_is_a_stream_error(backend: str) -> None:
    def stanza(size: int) -> bytes:
        head, tail = b"<message><body>", b"</body></message>"
        return head + b"z" * (size - len(head) - len(tail)) + tail

    limits = {"max_stanza_bytes": 200, "max_skip_bytes": 400}
    for chunk in (None, 1, 9):
        evs = events(backend, HEADER + stanza(400) + AFTER, chunk, **limits)
        assert isinstance(evs[1], StanzaSkipped) and isinstance(evs[2], Element)
        with pytest.raises(StreamError) as err:
            events(backend, HEADER + stanza(401) + AFTER, chunk, **limits)
        assert err.value.condition == "policy-violation"
        assert err.value.offset == len(HEADER) + 400


def test_max_skip_bytes_below_max_stanza_bytes_is_refused(backend: str) -> None:
    with pytest.raises(ValueError, match="max_skip_bytes"):
        StreamParser(backend=backend, max_stanza_bytes=2000, max_skip_bytes=1000)


def test_feed_some_counts_a_skip_as_an_event(backend: str) -> None:
    parser = StreamParser(backend=backend)
    data = HEADER + DEEP + AFTER
    evs, used = parser.feed_some(data, max_events=1)
    assert isinstance(evs[0], StreamOpen) and used == len(HEADER)
    evs, used2 = parser.feed_some(data[used:], max_events=1)
    assert isinstance(evs[0], StanzaSkipped) and used2 == len(DEEP)
    evs, _ = parser.feed_some(data[used + used2 :], max_events=1)
    assert isinstance(evs[0], Element)


def test_reset_during_a_skip(backend: str) -> None:
    parser = StreamParser(backend=backend)
    parser.feed(HEADER + DEEP[:400])
    parser.reset()
    evs = parser.feed(HEADER + AFTER)
    assert isinstance(evs[1], Element) and evs[1].get("id") == "after"


@pytest.mark.skipif("native" not in available_backends(), reason="native module not built")
def test_native_memory_stays_bounded_while_skipping_a_deep_stanza() -> None:
    parser = StreamParser(backend="native")
    impl = parser._impl
    assert isinstance(impl, NativeBackend)
    parser.feed(HEADER + AFTER)
    base = impl.memory()
    parser.feed(b"<message id='d'>")
    peak = 0
    for _ in range(20_000):  # 180 KB of nesting, 20,000 levels
        parser.feed(b"<element>")
        peak = max(peak, impl.memory())
    for _ in range(200):  # 800 KB of text in it: not kept
        parser.feed(b"t" * 4000)
    peak = max(peak, impl.memory())
    # the names (7 bytes a level) and 4 bytes of stack, at most doubled
    assert peak < base + 20_000 * 24, (base, peak)
    parser.feed(b"</element>" * 20_000)
    evs = parser.feed(b"</message>" + AFTER)
    assert isinstance(evs[0], StanzaSkipped) and evs[0].limit == "max_depth"
    assert isinstance(evs[1], Element)
    assert impl.memory() < base + 128 * 1024  # what a long skip grew is given back


@pytest.mark.skipif("native" not in available_backends(), reason="native module not built")
def test_the_c_defaults_are_default_limits() -> None:
    from stanzalink.xml import _native

    lim = _native.ffi.new("sl_limits *")
    _native.lib.sl_limits_default(lim)
    c = {name: getattr(lim, name) for name in DEFAULT_LIMITS}
    assert c == DEFAULT_LIMITS
    assert DEFAULT_LIMITS["max_stanza_bytes"] == 1048576
    assert DEFAULT_LIMITS["max_stanza_bytes"] == _native.lib.SL_DEFAULT_MAX_STANZA_BYTES
    assert StreamParser(backend="native").limits == DEFAULT_LIMITS
    assert StreamParser(backend="expat").limits == DEFAULT_LIMITS


def test_default_limits_take_what_servers_deliver(backend: str) -> None:
    """A body just under Prosody's 256 KiB c2s limit, stamped with from and
    <delay/> on delivery; and a 512 KiB s2s stanza."""
    for size in (262144 - 200, 524288):
        body = b"y" * (size - 200)
        stanza = (
            b"<message from='stranger@example.org/x' to='dev@example.net' type='chat' id='big'>"
            b"<body>" + body + b"</body><delay xmlns='urn:xmpp:delay' from='example.net'"
            b" stamp='2026-12-05T00:00:00Z'/></message>"
        )
        evs = events(backend, HEADER + stanza + AFTER, 4096)
        assert isinstance(evs[1], Element) and len(
            evs[1].findtext("{jabber:client}body") or ""
        ) == len(body)


def test_dump_prints_one_skip_line(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from stanzalink import cli

    data = HEADER + DEEP + AFTER + WIDE + CLOSE
    outputs = set()
    for chunk in (1, 3, 64, 4096):
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        monkeypatch.setattr(sys, "stdout", out)
        args = cli.build_parser().parse_args(["dump", "--backend", backend, "--chunk", str(chunk)])
        assert cli.cmd_dump(args) == 0
        outputs.add(out.getvalue())
    assert len(outputs) == 1
    lines = outputs.pop().splitlines()
    assert lines[1] == (
        'skip {"attrib": {"from": "x@example.net/r", "id": "deep", "to": "dev@example.net",'
        ' "type": "chat"}, "limit": "max_depth", "tag": "{jabber:client}message"}'
    )
    assert lines[2].startswith("stanza <message ")
    assert lines[3] == (
        'skip {"attrib": {"from": "x@example.net/r", "id": "wide", "type": "chat"},'
        ' "limit": "max_attrs", "tag": "{jabber:client}message"}'
    )
    assert lines[4:] == ["close"]


def test_the_byte_limit_at_every_byte_of_a_stanza() -> None:
    """max_stanza_bytes falling on each byte of a stanza (in its start tag's
    name, attribute values with references and UTF-8, text, child tags, end
    tags): the same events from both backends, whole and in small chunks."""
    head = b"<stream xmlns='http://etherx.jabber.org/streams' xmlns:p='urn:p'>"
    # (the limit is at least the header's length: the start tag is padded
    # so that it falls on each byte of the attributes)
    stanza = (
        b"<message pad='" + b"x" * (len(head) - 14) + b"' id='a&amp;b' to=\"caf\xc3\xa9&#x1F680;\""
        b" p:x='1'><body>t&lt;\xe2\x82\xac<![CDATA[c]]></body><p:y z='&#65;'/>tail</message>"
    )
    data = head + stanza + b"<m id='k'/>"
    for limit in range(len(head), len(stanza) + 1):
        reference = run(reference_backend(), data, None, max_stanza_bytes=limit)
        assert reference[-1] == 'stanza <m xmlns="http://etherx.jabber.org/streams" id="k"/>'
        if limit >= len(stanza):
            assert reference[1].startswith("stanza <message ")
        else:
            assert reference[1].startswith('skip {"attrib": '), (limit, reference)
        for backend in ("native", "expat"):
            if backend not in available_backends() or (backend == "expat" and not expat_usable()):
                continue
            for chunk in (None, 1, 2, 3, 7):
                assert run(backend, data, chunk, max_stanza_bytes=limit) == reference, (
                    limit,
                    backend,
                    chunk,
                )


def _many_declarations(tail: bytes) -> bytes:
    """A stanza skipped for depth with 100 nested namespace declarations in
    scope (distinct prefixes, and p bound again every 7th level), ``tail``
    at the deepest point."""
    opens = b"".join(
        b"<a xmlns:p='urn:%d'>" % i if i % 7 == 3 else b"<a xmlns:q%d='urn:q'>" % i
        for i in range(100)
    )
    return b"<message xmlns:p='urn:p' id='n'>" + opens + tail + b"</a>" * 100 + b"</message>"


@pytest.mark.parametrize(
    ("tail", "outcome"),
    [
        (b"<p:b q1:c='1' q99:d='2'/><q0:e/>", "skip"),
        (b"<p:b q1:c='1' q2:c='2'/>", "error not-well-formed"),  # the same {urn:q}c twice
        (b"<x xmlns:r='urn:p' p:c='1' r:c='2'/>", "skip"),  # p is urn:94 here
        (b"<x xmlns:r='urn:94' p:c='1' r:c='2'/>", "error not-well-formed"),
        (b"<zz:b/>", "error not-well-formed"),  # never bound
        (b"</a><q99:b/><a>", "error not-well-formed"),  # q99 went with its element
        (b"</a></a><p:b/><a><a>", "skip"),
    ],
)
def test_many_declarations_in_a_skipped_stanza(tail: bytes, outcome: str) -> None:
    """The prefix index the native tokenizer keeps while skipping with many
    declarations in scope answers as the plain scan (and expat) does."""
    data = HEADER + _many_declarations(tail) + AFTER
    reference = run(reference_backend(), data, None)
    assert reference[1].startswith(outcome), reference
    if outcome == "skip":
        assert reference[2].startswith("stanza <message ")
    for backend in ("native", "expat"):
        if backend not in available_backends() or (backend == "expat" and not expat_usable()):
            continue
        for chunk in (None, 1, 3, 64):
            assert run(backend, data, chunk) == reference, (backend, chunk)


# -- the byte limit of a stanza that follows a skipped one ----------------------
SMALL_HEAD = b"<stream xmlns='http://etherx.jabber.org/streams'>"
# skipped at its <c/> (max_depth=3), before byte 80 of the stream
SKIPPED_FOR_DEPTH = b"<m id='1'><a><b><c/></b></a>" + b"y" * 30 + b"</m>"


@pytest.mark.parametrize(
    ("stanza", "expected"),
    [
        # over the byte limit in its text
        (
            b"<m id='big'><b>" + b"x" * 80 + b"</b></m>",
            'skip {"attrib": {"id": "big"}, "limit": "max_stanza_bytes",'
            ' "tag": "{http://etherx.jabber.org/streams}m"} @111-214 80',
        ),
        # over the byte limit before its start tag ends, which has too many
        # attributes: the byte limit is crossed first
        (
            b"<m id='big' a='1' b='2' c='3'" + b" " * 60 + b"/>",
            'skip {"attrib": {}, "limit": "max_stanza_bytes", "tag": ""} @111-202 80',
        ),
        # over the byte limit before it nests too deep
        (
            b"<m id='big'>" + b"x" * 80 + b"<a><b><c/></b></a></m>",
            'skip {"attrib": {"id": "big"}, "limit": "max_stanza_bytes",'
            ' "tag": "{http://etherx.jabber.org/streams}m"} @111-225 80',
        ),
    ],
    ids=["text", "attrs", "depth"],
)
def test_the_byte_limit_after_a_skipped_stanza(stanza: bytes, expected: str) -> None:
    """A stanza skipped for depth, then one over max_stanza_bytes in the same
    feed: the second is skipped for its bytes, by both backends in every
    chunking (the fallback once handed the rest of the skip's budget to
    expat in one piece, past the next stanza's byte limit)."""
    ok = b"<m id='k'/>"
    data = SMALL_HEAD + SKIPPED_FOR_DEPTH + stanza + ok
    limits = {"max_stanza_bytes": 80, "max_depth": 3, "max_attrs": 3}
    lines = every_chunking(data, **limits)
    assert lines == [
        'open {} {"": "http://etherx.jabber.org/streams"}',
        'skip {"attrib": {"id": "1"}, "limit": "max_depth",'
        ' "tag": "{http://etherx.jabber.org/streams}m"} @49-111 3',
        expected,
        'stanza <m xmlns="http://etherx.jabber.org/streams" id="k"/>',
    ]


def test_the_byte_limit_after_a_skipped_stanza_in_a_client_stream() -> None:
    """The same in a client stream: an <iq> skipped for depth, then a
    <message> over a small byte limit; counted from the stream's start, that
    limit falls in the <iq> before and after the <c/> that crossed max_depth."""
    head = (
        b"<stream:stream xmlns='jabber:client'"
        b" xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    iq = b"<iq><a><b><c/></b></a></iq>"
    start = len(head) + len(iq)
    for size in (137, 282):
        message = b"<message><body>" + b"x" * (size - 32) + b"</body></message>"
        assert len(message) == size
        data = head + iq + message + STANZA
        for limit in (len(head) + 1, start - 1):
            lines = every_chunking(data, max_stanza_bytes=limit, max_depth=3)
            assert lines[1].startswith('skip {"attrib": {}, "limit": "max_depth"')
            assert lines[2] == (
                'skip {"attrib": {}, "limit": "max_stanza_bytes", "tag": "{jabber:client}message"}'
                f" @{start}-{start + size} {limit}"
            ), (size, limit)
            assert lines[3].startswith("stanza <message ")


@st.composite
def _small_stanza(draw: st.DrawFn) -> bytes:
    """A stanza around small limits: name length, attribute count, padding
    in its start tag, text and nesting all drawn."""
    name = b"n" * draw(st.integers(1, 24))
    attrs = b"".join(b" a%d='v'" % i for i in range(draw(st.integers(0, 6))))
    pad = b" " * draw(st.integers(0, 60))
    depth = draw(st.integers(0, 6))
    before = b"x" * draw(st.integers(0, 120))
    after = draw(st.sampled_from([b"", b"&lt;", b"\xe2\x82\xac", b"<![CDATA[c]]>"]))
    if not (depth or before or after) and draw(st.booleans()):
        return b"<" + name + attrs + pad + b"/>"
    inner = b"<a>" * depth + after + b"</a>" * depth
    return b"<" + name + attrs + pad + b">" + before + inner + b"</" + name + b">"


@pytest.mark.skipif(
    "native" not in available_backends() or not expat_usable(),
    reason="needs both backends, and a libexpat that does not defer small chunks",
)
@given(
    st.lists(st.tuples(st.sampled_from([b"", b" ", b"\n"]), _small_stanza()), max_size=5),
    st.lists(st.integers(0, 1200), max_size=6),
    st.integers(60, 250),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(3, 20),
    st.integers(0, 300),
)
@settings(max_examples=200, deadline=None)
def test_small_limits_after_skips_differential(
    stanzas: list[tuple[bytes, bytes]],
    cuts: list[int],
    stanza_bytes: int,
    depth: int,
    attrs: int,
    name_len: int,
    extra_skip: int,
) -> None:
    """Stanzas crossing small limits (often one after another): the native
    tokenizer whole is the reference; both backends give its events whole
    and split at ``cuts``."""
    data = SMALL_HEAD + b"".join(ws + s for ws, s in stanzas)
    limits = {
        "max_stanza_bytes": stanza_bytes,
        "max_depth": depth,
        "max_attrs": attrs,
        "max_name_len": name_len,
        "max_skip_bytes": stanza_bytes + extra_skip,
    }
    reference = run("native", data, None, **limits)
    assert run("expat", data, None, **limits) == reference
    assert run("native", data, cuts, **limits) == reference
    assert run("expat", data, cuts, **limits) == reference

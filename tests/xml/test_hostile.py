"""Every rejection rule of native/README.md, for both backends, in every chunking."""

from __future__ import annotations

import json

import pytest

from .cases import AT_START, CLOSE, HEADER, IN_STREAM, STANZA
from .helpers import run

CHUNKINGS = [None, 1, 2, 5]
# a header with one attribute and short names, for the tight limits below
MINI_HEADER = b"<stream xmlns='http://etherx.jabber.org/streams'>"


@pytest.mark.parametrize(("name", "bad", "condition"), IN_STREAM, ids=[c[0] for c in IN_STREAM])
def test_in_stream(backend: str, name: str, bad: bytes, condition: str) -> None:
    data = HEADER + STANZA + bad + STANZA + CLOSE
    for chunk in CHUNKINGS:
        lines = run(backend, data, chunk)
        assert lines[-1] == "error " + condition, (chunk, lines)
        # nothing accepted before the fault is lost
        assert lines[0].startswith("open ")
        assert lines[1].startswith("stanza <message ")
        extra = 1 if bad.startswith(CLOSE) else 0  # the close event precedes junk after it
        assert len(lines) == 3 + extra, (chunk, lines)


@pytest.mark.parametrize(("name", "data", "condition"), AT_START, ids=[c[0] for c in AT_START])
def test_at_start(backend: str, name: str, data: bytes, condition: str | None) -> None:
    for chunk in CHUNKINGS:
        lines = run(backend, data, chunk)
        if condition is None:
            assert lines and not lines[-1].startswith("error"), lines
        else:
            assert lines == ["error " + condition], (chunk, lines)


def _stanza_of(size: int) -> bytes:
    head, tail = b"<message><body>", b"</body></message>"
    return head + b"x" * (size - len(head) - len(tail)) + tail


def _skip(line: str) -> dict[str, object]:
    """The JSON of a 'skip' line (without the byte range)."""
    assert line.startswith("skip "), line
    return json.loads(line[5:].rsplit(" @", 1)[0])  # type: ignore[no-any-return]


@pytest.mark.parametrize("limit", [64, 100, 1000])
def test_stanza_byte_limit_is_exact(backend: str, limit: int) -> None:
    ok = _stanza_of(limit)
    assert len(ok) == limit
    for chunk in CHUNKINGS:
        lines = run(backend, HEADER + ok + b" " + ok, chunk, max_stanza_bytes=max(limit, 300))
        assert lines[-1].startswith("stanza"), lines
    big = _stanza_of(limit + 1)
    # the header must fit too
    limits = {"max_stanza_bytes": limit} if limit >= len(HEADER) else None
    if limits is None:
        return
    for chunk in CHUNKINGS:
        lines = run(backend, HEADER + ok + big + ok, chunk, **limits)
        start = len(HEADER) + limit
        assert lines[1].startswith("stanza") and lines[3].startswith("stanza"), lines
        assert lines[2] == (
            'skip {"attrib": {}, "limit": "max_stanza_bytes", "tag": "{jabber:client}message"}'
            f" @{start}-{start + limit + 1} {limit}"
        ), (chunk, lines)
        assert len(lines) == 4


def test_broken_xml_after_the_byte_limit_still_ends_the_stream(backend: str) -> None:
    """Past max_stanza_bytes the stanza is skipped, but its bytes are still
    checked: bad UTF-8 after the limit is not-well-formed."""
    body = b"<message><body>" + b"y" * 300 + b"\xff</body></message>"
    for chunk in CHUNKINGS:
        assert run(backend, HEADER + body, chunk, max_stanza_bytes=200)[-1] == (
            "error not-well-formed"
        )


def test_header_limit(backend: str) -> None:
    for chunk in CHUNKINGS:
        lines = run(backend, HEADER + STANZA, chunk, max_stanza_bytes=len(HEADER))
        assert lines[-1].startswith("stanza"), lines
        lines = run(backend, HEADER + STANZA, chunk, max_stanza_bytes=len(HEADER) - 1)
        assert lines == ["error policy-violation"]


def test_header_depth_attrs_and_names_stay_faults(backend: str) -> None:
    for chunk in CHUNKINGS:
        assert run(backend, MINI_HEADER + b"<a/>", chunk, max_attrs=1)[-1].startswith("stanza")
        assert run(backend, HEADER + STANZA, chunk, max_attrs=3) == ["error policy-violation"]
        assert run(backend, HEADER + STANZA, chunk, max_name_len=12) == ["error policy-violation"]


def test_depth_limit(backend: str) -> None:
    ok = b"<message><a><b/></a></message>"  # depth 3
    bad = b"<message id='d'><a><b><c/></b></a></message>"
    for chunk in CHUNKINGS:
        assert run(backend, HEADER + ok, chunk, max_depth=3)[-1].startswith("stanza")
        lines = run(backend, HEADER + bad + ok, chunk, max_depth=3)
        assert _skip(lines[1]) == {
            "attrib": {"id": "d"},
            "limit": "max_depth",
            "tag": "{jabber:client}message",
        }
        assert lines[2].startswith("stanza") and len(lines) == 3


def test_attribute_limit_counts_namespace_declarations(backend: str) -> None:
    ok = b"<message xmlns='jabber:client' a='1' b='2'/>"
    bad = b"<message xmlns='jabber:client' xmlns:p='urn:p' a='1' b='2'/>"
    for chunk in CHUNKINGS:
        assert run(backend, MINI_HEADER + ok, chunk, max_attrs=3)[-1].startswith("stanza")
        lines = run(backend, MINI_HEADER + bad + ok, chunk, max_attrs=3)
        assert _skip(lines[1])["limit"] == "max_attrs", lines
        assert lines[2].startswith("stanza") and len(lines) == 3


def test_name_length_limit(backend: str) -> None:
    ok = b"<p:abcdefgh xmlns:p='jabber:client'/>"  # p:abcdefgh = 10 bytes
    bad = b"<p:abcdefghi xmlns:p='jabber:client'/>"
    attr_bad = b"<message abcdefghijk='1'/>"
    head = MINI_HEADER
    for chunk in CHUNKINGS:
        assert run(backend, head + ok, chunk, max_name_len=19)[-1].startswith("stanza")
        assert run(backend, head + ok, chunk, max_name_len=10)[-1].startswith("stanza")
        assert _skip(run(backend, head + bad, chunk, max_name_len=10)[-1]) == {
            "attrib": {},
            "limit": "max_name_len",
            "tag": "{jabber:client}abcdefghi",
        }
        assert _skip(run(backend, head + attr_bad, chunk, max_name_len=10)[-1]) == {
            "attrib": {},
            "limit": "max_name_len",
            "tag": "{http://etherx.jabber.org/streams}message",
        }


def test_huge_text_fed_bytewise_is_linear(backend: str) -> None:
    """A long text fed one byte at a time completes (a quadratic parser would
    take minutes here); timing is not asserted, completion and content are."""
    n = 200_000
    body = b"<message><body>" + b"z" * n + b"</body></message>"
    from stanzalink.xml import StreamParser

    parser = StreamParser(backend=backend, max_stanza_bytes=n + 100)
    parser.feed(HEADER)
    events = []
    for i in range(len(body)):
        events += parser.feed(body[i : i + 1])
    assert len(events) == 1
    assert len(events[0].findtext("{jabber:client}body") or "") == n  # type: ignore[union-attr]

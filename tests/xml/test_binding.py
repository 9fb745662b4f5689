"""The cffi binding below StreamParser: Tokenizer.feed returning the packed
events, nodes and pool over one copy, and the ring buffer a transport
writes into and the tokenizer reads in place."""

from __future__ import annotations

import pytest

from stanzalink.xml import _native

pytestmark = pytest.mark.skipif(
    not _native.AVAILABLE,
    reason="native module not built (allowed only outside CI: tests/conftest.py)",
)

HEADER = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
BODY = b"<message id='a1'><body>caf\xc3\xa9 &amp; tea</body></message><iq type='get' id='p'/>"


def _strings(raw: _native.Packed | None, k: int) -> list[tuple[int, str, str]]:
    """(kind, name, value) of every node of event k."""
    assert raw is not None
    ev, n, blob, pool_off = raw
    start, count, pool_start = ev[k * 4 + 1], ev[k * 4 + 2], ev[k * 4 + 3]
    base = pool_off + pool_start
    out = []
    for i in range(start, start + count):
        w = n[i * 8 : i * 8 + 8]
        name = blob[base + w[4] : base + w[4] + w[5]].decode()
        value = blob[base + w[6] : base + w[6] + w[7]].decode() if w[0] != 1 else ""
        out.append((w[0], name, value))
    return out


def _count(raw: _native.Packed | None) -> int:
    return 0 if raw is None else len(raw[0]) // _native.PACKED_WORDS


def test_tokenizer_feed_packs_events_nodes_and_pool() -> None:
    tok = _native.Tokenizer()
    raw = tok.feed(HEADER)
    assert _count(raw) == 1 and tok.consumed == len(HEADER)
    raw = tok.feed(BODY + b"<presence><sh")
    assert _count(raw) == 2 and tok.consumed == len(BODY) + len(b"<presence><sh")
    assert raw is not None and len(raw[2]) % 4 == 0
    assert _strings(raw, 0) == [
        (1, "message", ""),
        (2, "id", "a1"),
        (1, "body", ""),
        (3, "", "café & tea"),
    ]
    assert _strings(raw, 1) == [(1, "iq", ""), (2, "type", "get"), (2, "id", "p")]
    # the presence completes in the next feed
    raw = tok.feed(b"ow>away</show></presence>")
    assert _count(raw) == 1
    assert _strings(raw, 0) == [(1, "presence", ""), (1, "show", ""), (3, "", "away")]


def test_tokenizer_feed_reports_a_fault_with_the_events_before_it() -> None:
    tok = _native.Tokenizer()
    tok.feed(HEADER)
    with pytest.raises(_native.Fault) as caught:
        tok.feed(b"<a/><b></c>")
    fault = caught.value
    assert _count(fault.completed) == 1 and _strings(fault.completed, 0) == [(1, "a", "")]
    assert fault.condition == "not-well-formed"


def test_ring_feeds_what_the_transport_wrote() -> None:
    ring = _native.Ring(64)
    tok = _native.Tokenizer()
    data = HEADER + BODY
    seen: list[list[tuple[int, str, str]]] = []
    off = 0
    while off < len(data):
        buf = ring.get_buffer()
        n = min(len(buf), len(data) - off, 37)
        buf[:n] = data[off : off + n]
        ring.commit(n)
        off += n
        while ring.readable:
            view = ring.peek()
            raw = tok.feed(view)  # read where the transport wrote it
            assert tok.consumed == len(view)
            ring.consume(len(view))
            seen += [_strings(raw, k) for k in range(_count(raw))]
    assert [s[0][1] for s in seen] == ["stream", "message", "iq"]
    assert seen[1][-1] == (3, "", "café & tea")

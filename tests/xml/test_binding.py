"""The cffi binding below StreamParser: Tokenizer.feed and the ring buffer
a transport writes into, both returning a RawFeed over one packed copy."""

from __future__ import annotations

import pytest

from stanzalink.xml import _native

pytestmark = pytest.mark.skipif(
    not _native.AVAILABLE,
    reason="native module not built (allowed only outside CI: tests/conftest.py)",
)

HEADER = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
BODY = b"<message id='a1'><body>caf\xc3\xa9 &amp; tea</body></message><iq type='get' id='p'/>"


def _strings(raw: _native.RawFeed, k: int) -> list[tuple[int, str, str]]:
    """(kind, name, value) of every node of event k."""
    ev = raw.events
    start, count, pool_start = ev[k * 4 + 1], ev[k * 4 + 2], ev[k * 4 + 3]
    n = raw.nodes
    base = raw.pool_off + pool_start
    out = []
    for i in range(start, start + count):
        w = n[i * 8 : i * 8 + 8]
        name = raw.blob[base + w[4] : base + w[4] + w[5]].decode()
        value = raw.blob[base + w[6] : base + w[6] + w[7]].decode() if w[0] != 1 else ""
        out.append((w[0], name, value))
    return out


def test_tokenizer_feed_packs_events_nodes_and_pool() -> None:
    tok = _native.Tokenizer()
    raw = tok.feed(HEADER)
    assert raw.n_events == 1 and raw.consumed == len(HEADER) and raw.error is None
    raw = tok.feed(BODY + b"<presence><sh")
    assert raw.n_events == 2 and raw.consumed == len(BODY) + len(b"<presence><sh")
    assert len(raw.blob) % 4 == 0
    assert _strings(raw, 0) == [
        (1, "message", ""),
        (2, "id", "a1"),
        (1, "body", ""),
        (3, "", "café & tea"),
    ]
    assert _strings(raw, 1) == [(1, "iq", ""), (2, "type", "get"), (2, "id", "p")]
    # the presence completes in the next feed
    raw = tok.feed(b"ow>away</show></presence>")
    assert raw.n_events == 1
    assert _strings(raw, 0) == [(1, "presence", ""), (1, "show", ""), (3, "", "away")]


def test_tokenizer_feed_reports_a_fault_with_the_events_before_it() -> None:
    tok = _native.Tokenizer()
    tok.feed(HEADER)
    raw = tok.feed(b"<a/><b></c>")
    assert raw.n_events == 1 and _strings(raw, 0) == [(1, "a", "")]
    assert raw.error is not None and raw.error[0] == "not-well-formed"


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
        raw = ring.feed(tok)
        assert raw.error is None and ring.readable == 0
        seen += [_strings(raw, k) for k in range(raw.n_events)]
    assert [s[0][1] for s in seen] == ["stream", "message", "iq"]
    assert seen[1][-1] == (3, "", "café & tea")

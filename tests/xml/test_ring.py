"""The receive buffer: the C ring and its Python twin hand out the same
regions, keep their bound, and feed a StreamParser in place."""

from __future__ import annotations

import pytest

from stanzalink.xml import StreamParser, _native
from stanzalink.xml.ring import ByteRing, ReceiveBuffer, receive_buffer

KINDS = ["python"] + (["native"] if _native.AVAILABLE else [])


def _ring(kind: str, capacity: int) -> ReceiveBuffer:
    return receive_buffer(capacity, native=kind == "native")


@pytest.mark.parametrize("kind", KINDS)
def test_regions_wrap_and_the_bound_holds(kind: str) -> None:
    ring = _ring(kind, 10)
    buf = ring.get_buffer()
    assert len(buf) == 10
    buf[:6] = b"abcdef"
    ring.commit(6)
    assert bytes(ring.peek()) == b"abcdef"
    ring.consume(4)
    # the free space wraps: first up to the end of the storage, then the front
    buf = ring.get_buffer()
    assert len(buf) == 4
    buf[:4] = b"ghij"
    ring.commit(4)
    buf = ring.get_buffer()
    assert len(buf) == 4
    buf[:4] = b"klmn"
    ring.commit(4)
    assert ring.readable == 10 and ring.writable == 0
    assert len(ring.get_buffer()) == 0  # full: no more space, never a larger buffer
    with pytest.raises(ValueError):
        ring.commit(1)
    assert bytes(ring.peek()) == b"efghij"
    ring.consume(6)
    assert bytes(ring.peek()) == b"klmn"
    with pytest.raises(ValueError):
        ring.consume(5)
    ring.consume(4)
    assert ring.readable == 0 and len(ring.get_buffer()) == 10
    assert ring.write(b"x" * 12) == 10
    ring.clear()
    assert ring.readable == 0


@pytest.mark.parametrize("kind", KINDS)
def test_commit_beyond_the_region_is_refused(kind: str) -> None:
    ring = _ring(kind, 8)
    assert len(ring.get_buffer()) == 8
    with pytest.raises(ValueError):
        ring.commit(9)


def test_python_ring_is_the_fallback() -> None:
    assert isinstance(receive_buffer(16, native=False), ByteRing)
    if _native.AVAILABLE:
        assert isinstance(receive_buffer(16), _native.Ring)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["expat", "native"] if _native.AVAILABLE else ["expat"])
def test_parser_reads_the_ring_in_place(kind: str, backend: str) -> None:
    data = (
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        + b"<message id='m'><body>hello</body></message>" * 20
    )
    ring = _ring(kind, 53)
    parser = StreamParser(backend)
    tags = []
    off = 0
    while off < len(data):
        buf = ring.get_buffer()
        n = min(len(buf), len(data) - off)
        buf[:n] = data[off : off + n]
        ring.commit(n)
        off += n
        while ring.readable:
            view = ring.peek()
            tags += [getattr(ev, "tag", None) for ev in parser.feed(view)]
            ring.consume(len(view))
    assert tags == [None] + ["{jabber:client}message"] * 20

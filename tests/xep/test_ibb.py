"""XEP-0047 In-Band Bytestreams, with the XEP's own examples (Juliet is
the device, Romeo a controller)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from stanzalink.xep.ibb import NS, Ibb, IBBError, IBBStream, decode_block
from stanzalink_testing.harness import Harness

ROMEO = "romeo@montague.net/orchard"
JULIET = "juliet@capulet.com/balcony"
ACCESS = {"viewer": ["romeo@montague.net"]}
E = "{urn:ietf:params:xml:ns:xmpp-stanzas}"

OPEN = (
    f"<iq from='{ROMEO}' id='jn3h8g65' to='{JULIET}' type='set'>"
    f"<open xmlns='{NS}' block-size='4096' sid='i781hf64' stanza='iq'/></iq>"
)
BLOCK = """
    qANQR1DBwU4DX7jmYZnncmUQB/9KuKBddzQH+tZ1ZywKK0yHKnq57kWq+RFtQdCJ
    WpdWpR0uQsuJe7+vh3NWn59/gTc5MDlX8dS9p0ovStmNcyLhxVgmqS8ZKhsblVeu
    IpQ0JgavABqibJolc3BKrVtVV1igKiX/N7Pi8RtY1K18toaMDhdEfhBRzO/XB0+P
    AQhYlRjNacGcslkhXqNjK5Va4tuOAPy2n1Q8UUrHbUd0g+xJ9Bm0G0LZXyvCWyKH
    kuNEHFQiLuCY6Iv0myq6iX6tjuHehZlFSh80b5BVV9tNLwNR5Eqz1klxMhoghJOA
  """
DATA = (
    f"<iq from='{ROMEO}' id='kr91n475' to='{JULIET}' type='set'>"
    f"<data xmlns='{NS}' seq='0' sid='i781hf64'>{BLOCK}</data></iq>"
)
CLOSE = (
    f"<iq from='{ROMEO}' id='us71g45j' to='{JULIET}' type='set'>"
    f"<close xmlns='{NS}' sid='i781hf64'/></iq>"
)


def harness() -> tuple[Harness, Ibb, list[IBBStream]]:
    h = Harness([Ibb], ACCESS, jid=JULIET)
    ibb = h.feature(Ibb)
    taken: list[IBBStream] = []
    ibb.listen(lambda stream, role: taken.append(stream) or True)
    return h, ibb, taken


def data(seq: int, payload: bytes, id_: str = "d", sid: str = "i781hf64") -> str:
    text = base64.b64encode(payload).decode()
    return (
        f"<iq from='{ROMEO}' id='{id_}' to='{JULIET}' type='set'>"
        f"<data xmlns='{NS}' seq='{seq}' sid='{sid}'>{text}</data></iq>"
    )


def error_of(el: object) -> str:
    err = el.find("{jabber:client}error")  # type: ignore[attr-defined]
    return next(iter(err)).tag.replace(E, "")


async def test_examples_open_data_close() -> None:
    h, _ibb, taken = harness()
    h.receive(OPEN)  # example 1
    ack = await h.next_sent()  # example 2
    assert h.sent_xml[-1] == f'<iq type="result" id="jn3h8g65" to="{ROMEO}"/>'
    assert ack.get("type") == "result"
    (stream,) = taken
    assert (stream.peer, stream.sid, stream.block_size) == (ROMEO, "i781hf64", 4096)
    h.receive(DATA)  # example 6
    await h.next_sent()
    assert h.sent_xml[-1] == f'<iq type="result" id="kr91n475" to="{ROMEO}"/>'  # example 7
    chunk = await stream.read()
    assert chunk == base64.b64decode("".join(BLOCK.split()))
    h.receive(CLOSE)  # example 8
    await h.next_sent()
    assert h.sent_xml[-1] == f'<iq type="result" id="us71g45j" to="{ROMEO}"/>'  # example 9
    assert await stream.read() == b""
    # example 10: the session is gone
    h.receive(CLOSE)
    assert error_of(await h.next_sent()) == "item-not-found"
    await h.close()


async def test_message_data_is_accepted() -> None:
    h, _ibb, taken = harness()
    h.receive(OPEN)
    await h.next_sent()
    h.receive(  # example 11
        f"<message from='{ROMEO}' id='dsw71gj3' to='{JULIET}'>"
        f"<data xmlns='{NS}' seq='0' sid='i781hf64'>{BLOCK}</data></message>"
    )
    assert len(await asyncio.wait_for(taken[0].read(), 2)) == len(
        base64.b64decode("".join(BLOCK.split()))
    )
    await h.close()


async def test_refusals() -> None:
    h, ibb, _taken = harness()
    # too big a block: resource-constraint (example 4)
    h.receive(OPEN.replace("4096", "1000000"))
    reply = await h.next_sent()
    assert error_of(reply) == "resource-constraint"
    assert reply.find("{jabber:client}error").get("type") == "modify"
    # nobody takes it: not-acceptable (example 5)
    ibb._listeners.clear()
    h.receive(OPEN)
    assert error_of(await h.next_sent()) == "not-acceptable"
    # data for an unknown sid
    h.receive(DATA)
    assert error_of(await h.next_sent()) == "item-not-found"
    # a stranger learns nothing
    h.receive(OPEN.replace("romeo@montague.net", "eve@evil.example"))
    assert error_of(await h.next_sent()) == "service-unavailable"
    await h.close()


@pytest.mark.parametrize(
    ("bad", "condition"),
    [
        (data(1, b"x"), "unexpected-request"),  # seq must be 0
        (data(0, b"x").replace("eA==", "e=A="), "bad-request"),  # misplaced padding
        (data(0, b"x").replace("eA==", "eA==!"), "bad-request"),  # outside the alphabet
        (data(0, b"x" * 5000), "bad-request"),  # larger than the block-size
    ],
)
async def test_protocol_faults_close_the_stream(bad: str, condition: str) -> None:
    h, _ibb, taken = harness()
    h.receive(OPEN)
    await h.next_sent()
    h.receive(bad)
    assert error_of(await h.next_sent()) == condition
    with pytest.raises(IBBError):
        await taken[0].read()
    h.receive(data(0, b"late"))  # the stream is gone now
    assert error_of(await h.next_sent()) == "item-not-found"
    await h.close()


async def test_sequence_wraps_at_65535() -> None:
    h, _ibb, taken = harness()
    h.receive(OPEN)
    await h.next_sent()
    taken[0].in_seq = 65535
    h.receive(data(65535, b"a", "w1"))
    h.receive(data(0, b"b", "w2"))
    assert [(await h.next_sent()).get("type") for _ in range(2)] == ["result", "result"]
    assert await taken[0].read() + await taken[0].read() == b"ab"
    await h.close()


async def test_device_opens_and_writes_with_a_window() -> None:
    h = Harness([Ibb], ACCESS, jid=JULIET)
    ibb: Ibb = h.feature(Ibb)
    ibb.window = 2
    opening = asyncio.ensure_future(ibb.open(ROMEO, sid="s1", block_size=4))
    op = await h.next_sent()
    o = op.find(f"{{{NS}}}open")
    assert (o.get("sid"), o.get("block-size"), o.get("stanza")) == ("s1", "4", "iq")
    h.receive(f"<iq type='result' id='{op.get('id')}' from='{ROMEO}'/>")
    stream = await opening
    stream.out_seq = 65535
    writing = asyncio.ensure_future(stream.write(b"0123456789"))
    first, second = await h.next_sent(), await h.next_sent()
    with pytest.raises(TimeoutError):  # the window is full: the third waits for an ack
        await h.next_sent(timeout=0.2)
    h.receive(f"<iq type='result' id='{first.get('id')}' from='{ROMEO}'/>")
    third = await h.next_sent()
    for iq in (second, third):
        h.receive(f"<iq type='result' id='{iq.get('id')}' from='{ROMEO}'/>")
    await writing
    blocks = [iq.find(f"{{{NS}}}data") for iq in (first, second, third)]
    assert [b.get("seq") for b in blocks] == ["65535", "0", "1"]
    assert b"".join(decode_block(b.text) for b in blocks) == b"0123456789"
    closing = asyncio.ensure_future(stream.close())
    cl = await h.next_sent()
    assert cl.find(f"{{{NS}}}close").get("sid") == "s1"
    h.receive(f"<iq type='result' id='{cl.get('id')}' from='{ROMEO}'/>")
    await closing
    await h.close()


async def test_refused_block_breaks_the_writer() -> None:
    h = Harness([Ibb], ACCESS, jid=JULIET)
    ibb: Ibb = h.feature(Ibb)
    opening = asyncio.ensure_future(ibb.open(ROMEO, sid="s2"))
    op = await h.next_sent()
    h.receive(f"<iq type='result' id='{op.get('id')}' from='{ROMEO}'/>")
    stream = await opening
    writing = asyncio.ensure_future(stream.write(b"hello"))
    d = await h.next_sent()
    h.receive(  # example: failed delivery
        f"<iq type='error' id='{d.get('id')}' from='{ROMEO}'><error type='cancel'>"
        "<remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    with pytest.raises(IBBError):
        await writing
    assert stream.closed and ibb.streams() == []
    await h.close()


async def test_slow_reader_delays_acks_and_buffer_is_bounded() -> None:
    h, ibb, taken = harness()
    ibb.buffer_blocks = 2
    h.receive(OPEN)
    await h.next_sent()
    for i in range(3):
        h.receive(data(i, bytes([65 + i]), f"b{i}"))
    assert [(await h.next_sent()).get("id") for _ in range(2)] == ["b0", "b1"]
    with pytest.raises(TimeoutError):  # the third is held until the reader reads
        await h.next_sent(timeout=0.2)
    assert await taken[0].read() == b"A"
    assert (await h.next_sent()).get("id") == "b2"
    await h.close()


async def test_peer_going_offline_ends_its_streams() -> None:
    h, ibb, taken = harness()
    h.receive(OPEN)
    await h.next_sent()
    h.receive(f"<presence from='{ROMEO}' type='unavailable'/>")
    with pytest.raises(IBBError):
        await taken[0].read()
    assert ibb.streams() == []
    await h.close()


async def test_held_blocks_are_bounded_and_the_excess_is_refused_at_once() -> None:
    """Blocks held for a reader that does not read were unbounded: a peer
    that does not wait for acknowledgements could pile up any number of
    waiting handlers (each holding its block for ``stall_timeout``).  Now at
    most ``max_held`` wait; the next is answered resource-constraint at
    once, without taking its sequence number or breaking the stream, and
    nothing accepted is lost: it can be sent again once the reader read."""
    h, ibb, taken = harness()
    ibb.buffer_blocks, ibb.max_held = 2, 3
    h.receive(OPEN)
    await h.next_sent()
    for i in range(8):
        h.receive(data(i, bytes([65 + i]), f"b{i}"))
    await h.settle()
    out = [await h.next_sent(timeout=0.5) for _ in range(5)]
    assert [x.get("id") for x in out[:2]] == ["b0", "b1"]  # buffered, acknowledged
    assert all(x.get("type") == "error" and error_of(x) == "resource-constraint" for x in out[2:])
    assert {x.get("id") for x in out[2:]} == {"b5", "b6", "b7"}  # b2..b4 held
    assert not taken[0].closed
    got = b"".join([await taken[0].read() for _ in range(5)])
    assert got == b"ABCDE"
    h.receive(data(5, b"F", "again"))  # the refused one, sent again
    assert (await h.next_sent()).get("id") in ("b2", "b3", "b4", "again")
    await h.close()

"""The XEP-0332 wire format both sides share: what the controller's client
builds, the device's feature reads back, byte for byte."""

from __future__ import annotations

import pytest

from stanzalink.xep.http.codec import (
    HttpProblem,
    body_element,
    chunk_element,
    chunked_data,
    close_element,
    inline_body,
    parse_chunk,
    read_headers,
    request_element,
)
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import parse_stanza

NS = "urn:xmpp:http"


def wire(el: object) -> Element:
    """Through the wire format, as the peer receives it."""
    msg = parse_stanza("<message>" + tostring(el).decode() + "</message>")  # type: ignore[arg-type]
    return next(iter(msg))


def test_a_request_with_an_inline_text_body() -> None:
    req = request_element(
        "POST", "/api", [("Content-Type", "text/plain")], body_element(b"hi <3", "text/plain")
    )
    assert tostring(req) == (
        b'<req xmlns="urn:xmpp:http" method="POST" resource="/api" version="1.1">'
        b'<headers xmlns="http://jabber.org/protocol/shim">'
        b'<header name="Content-Type">text/plain</header></headers>'
        b"<data><text>hi &lt;3</text></data></req>"
    )
    back = wire(req)
    assert read_headers(back) == [("Content-Type", "text/plain")]
    data = back.find(f"{{{NS}}}data")
    assert data is not None and inline_body(data, 100) == b"hi <3"


def test_binary_bodies_go_as_base64_and_are_bounded() -> None:
    data = body_element(b"\x00\xff" * 10, "application/octet-stream")
    assert data is not None
    assert tostring(data) == (
        b'<data xmlns="urn:xmpp:http"><base64>AP8A/wD/AP8A/wD/AP8A/wD/AP8=</base64></data>'
    )
    assert inline_body(wire(data), 20) == b"\x00\xff" * 10
    with pytest.raises(HttpProblem) as exc:
        inline_body(wire(data), 19)
    assert exc.value.status == 413


def test_chunks_and_their_close() -> None:
    assert tostring(request_element("PUT", "/f", [], chunked_data("s1"), 4096)) == (
        b'<req xmlns="urn:xmpp:http" method="PUT" resource="/f" version="1.1" maxChunkSize="4096">'
        b'<headers xmlns="http://jabber.org/protocol/shim"/>'
        b'<data><chunkedBase64 streamId="s1"/></data></req>'
    )
    first, last = chunk_element("s1", 0, b"abc", False), chunk_element("s1", 1, b"", True)
    assert tostring(first) == b'<chunk xmlns="urn:xmpp:http" streamId="s1" nr="0">YWJj</chunk>'
    assert tostring(last) == b'<chunk xmlns="urn:xmpp:http" streamId="s1" nr="1" last="true"/>'
    assert parse_chunk(wire(first)) == (0, b"abc", False)
    assert parse_chunk(wire(last)) == (1, b"", True)
    assert tostring(close_element("s1")) == b'<close xmlns="urn:xmpp:http" streamId="s1"/>'


@pytest.mark.parametrize(
    ("xml", "parsed"),
    [
        ("<chunk xmlns='urn:xmpp:http' streamId='s' nr='²'>YQ==</chunk>", (None, b"a", False)),
        (
            "<chunk xmlns='urn:xmpp:http' streamId='s' nr='1234567890'>YQ==</chunk>",
            (None, b"a", False),
        ),
        (
            "<chunk xmlns='urn:xmpp:http' streamId='s' nr='2' last='1'>Y Q\n==</chunk>",
            (2, b"a", True),
        ),
        ("<chunk xmlns='urn:xmpp:http' streamId='s' nr='3'>not base64!</chunk>", (3, None, False)),
    ],
)
def test_chunks_that_break_the_rules(xml: str, parsed: tuple[object, ...]) -> None:
    assert parse_chunk(next(iter(parse_stanza(f"<message>{xml}</message>")))) == parsed

"""XEP-0332 controller side as a conversation: the request the controller
sends, the answers a device (through its server) delivers, what the
caller reads."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from stanzalink.errors import LocalProtocolError
from stanzalink.fleet.http_client import HttpClient, HttpTransportError, Response
from stanzalink.jid import JID
from stanzalink_testing.harness import RecordingClient, parse_stanza

DEV = "httpserver@example.org/dev"
H = "{urn:xmpp:http}"
SHIM = "{http://jabber.org/protocol/shim}"


def controller(**kw: float) -> tuple[RecordingClient, HttpClient]:
    c = RecordingClient(JID.parse("httpclient@example.org/browser"))
    c.config.csi_inactive = False
    return c, HttpClient(c, **kw)  # type: ignore[arg-type]


async def sent(c: RecordingClient, n: int) -> None:
    for _ in range(50):
        if len(c.sent) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"sent {len(c.sent)} stanzas, expected {n}")


def deliver(c: RecordingClient, xml: str) -> None:
    c._dispatch(parse_stanza(xml))


def chunk(sid: str, nr: int, data: bytes, last: bool = False, frm: str = DEV) -> str:
    attr = " last='true'" if last else ""
    text = base64.b64encode(data).decode()
    return (
        f"<message from='{frm}' to='httpclient@example.org/browser'>"
        f"<chunk xmlns='urn:xmpp:http' streamId='{sid}' nr='{nr}'{attr}>{text}</chunk></message>"
    )


def result(iq_id: str, body: str, status: str = "200", message: str = "OK") -> str:
    return (
        f"<iq type='result' from='{DEV}' to='httpclient@example.org/browser' id='{iq_id}'>"
        f"<resp xmlns='urn:xmpp:http' version='1.1' statusCode='{status}' "
        f"statusMessage='{message}'><headers xmlns='http://jabber.org/protocol/shim'>"
        f"<header name='Content-Type'>text/turtle</header></headers>{body}</resp></iq>"
    )


async def test_request_and_inline_text_response() -> None:
    c, http = controller()
    task = asyncio.ensure_future(
        http.request(DEV, "POST", "/sparql/", [("Content-Type", "text/plain")], b"SELECT <x>")
    )
    await sent(c, 1)
    iq = c.sent[0]
    assert iq.get("type") == "set" and iq.get("to") == DEV
    req = iq.find(H + "req")
    assert req is not None
    assert (req.get("method"), req.get("resource"), req.get("version")) == (
        "POST", "/sparql/", "1.1")  # fmt: skip
    assert req.find(f"{SHIM}headers/{SHIM}header").get("name") == "Content-Type"  # type: ignore[union-attr]
    assert req.findtext(f"{H}data/{H}text") == "SELECT <x>"  # textual type: <text>
    deliver(c, result(iq.get("id"), "<data><text>@prefix dc: &lt;x&gt;.</text></data>"))
    resp = await task
    assert (resp.status, resp.reason, resp.header("content-type")) == (200, "OK", "text/turtle")
    assert await resp.read() == b"@prefix dc: <x>."


async def test_binary_request_body_goes_as_base64_and_limits() -> None:
    c, http = controller(max_inline=100, max_upload=100)
    task = asyncio.ensure_future(http.request(DEV, "PUT", "/f", {}, bytes(range(50))))
    await sent(c, 1)
    assert base64.b64decode(c.sent[0].findtext(f"{H}req/{H}data/{H}base64") or "") == bytes(
        range(50))  # fmt: skip
    deliver(c, result(c.sent[0].get("id"), ""))
    assert await (await task).read() == b""
    with pytest.raises(LocalProtocolError):
        await http.request(DEV, "PUT", "/f", {}, b"x" * 101)


async def test_chunked_response_reordered_with_an_early_chunk() -> None:
    c, http = controller()
    task = asyncio.ensure_future(http.request(DEV, "GET", "/big"))
    await sent(c, 1)
    # chunk 1 overtakes the response (a reordering server); a stranger's
    # chunk for the same stream id is ignored
    deliver(c, chunk("S1", 1, b"world"))
    deliver(c, chunk("S1", 0, b"EVIL", frm="eve@example.org/x"))
    deliver(c, result(c.sent[0].get("id"), "<data><chunkedBase64 streamId='S1'/></data>"))
    resp: Response = await task
    deliver(c, chunk("S1", 2, b"!", last=True))
    deliver(c, chunk("S1", 1, b"world"))  # a duplicate
    deliver(c, chunk("S1", 0, b"hello "))
    assert await resp.read() == b"hello world!"
    assert http._streams == {} and http._early == {}


async def test_stream_limits_and_aborts_close_at_the_device() -> None:
    c, http = controller(max_body=10, chunk_timeout=0.3)
    for sid, feed, why in (
        ("A", [chunk("A", 0, b"x" * 11)], "exceeds 10 bytes"),
        ("B", [chunk("B", 0, b"xx")], "no chunk for 0.3 s"),
        ("C", [f"<message from='{DEV}'><close xmlns='urn:xmpp:http' streamId='C'/></message>"],
         "broke off"),
    ):  # fmt: skip
        before = len(c.sent)
        task = asyncio.ensure_future(http.request(DEV, "GET", "/x"))
        await sent(c, before + 1)
        deliver(c, result(c.sent[-1].get("id"), f"<data><chunkedBase64 streamId='{sid}'/></data>"))
        resp = await task
        for m in feed:
            deliver(c, m)
        with pytest.raises(HttpTransportError, match=why):
            await resp.read()
        closes = [m for m in c.sent[before + 1 :] if m.find(H + "close") is not None]
        if sid == "C":
            assert closes == []  # the device ended it: nothing to close
        else:
            assert [m.find(H + "close").get("streamId") for m in closes] == [sid]  # type: ignore[union-attr]
            assert closes[0].get("to") == DEV
            ping = c.sent[c.sent.index(closes[0]) + 1]  # flushes a CSI-inactive device's queue
            assert ping.find("{urn:xmpp:ping}ping") is not None and ping.get("to") == DEV
    # leaving early closes too
    task = asyncio.ensure_future(http.request(DEV, "GET", "/x"))
    await sent(c, len(c.sent) + 1)
    deliver(c, result(c.sent[-1].get("id"), "<data><chunkedBase64 streamId='D'/></data>"))
    resp = await task
    await resp.aclose()
    assert c.sent[-2].find(H + "close").get("streamId") == "D"  # type: ignore[union-attr]
    assert http._streams == {}


async def test_refusals_are_transport_errors() -> None:
    c, http = controller()
    task = asyncio.ensure_future(http.request(DEV, "GET", "/admin/"))
    await sent(c, 1)
    refusal = "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
    iq_id = c.sent[0].get("id")
    deliver(
        c, f"<iq type='error' from='{DEV}' id='{iq_id}'><error type='cancel'>{refusal}</error></iq>"
    )
    with pytest.raises(HttpTransportError) as info:
        await task
    assert info.value.condition == "service-unavailable"
    task = asyncio.ensure_future(http.request(DEV, "GET", "/"))
    await sent(c, 2)
    deliver(c, f"<iq type='result' from='{DEV}' id='{c.sent[1].get('id')}'/>")
    with pytest.raises(HttpTransportError, match="without a valid"):
        await task
    # a chunk from a peer nobody asked is not kept
    deliver(c, chunk("Z", 0, b"x", frm="eve@example.org/x"))
    assert http._early == {}


def test_command_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stanzalink.cli import main

    cfg = tmp_path / "ctl.toml"
    assert main(["http", DEV, "GET", "/", "--config", str(cfg)]) == 2  # no such file
    cfg.write_text('[account]\njid = "ctl@example.org"\npassword = "x"\n')
    assert main(["http", DEV, "GET", "/", "-H", "no-colon", "--config", str(cfg)]) == 2
    assert main(["http", DEV, "POST", "/", "--data", "@/no/such/file", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "expected NAME:VALUE" in err and "/no/such/file" in err


async def test_large_request_body_goes_chunked_and_stops_at_the_answer() -> None:
    c, http = controller(max_inline=100, upload_chunk_size=128)
    body = bytes(range(256)) + b"end"
    task = asyncio.ensure_future(http.request(DEV, "POST", "/up", {}, body))
    await sent(c, 5)  # the request, 3 chunks, a ping
    sid = c.sent[0].find(f"{H}req/{H}data/{H}chunkedBase64").get("streamId")  # type: ignore[union-attr]
    chunks = [m.find(H + "chunk") for m in c.sent[1:4]]
    assert [(x.get("streamId"), x.get("nr"), x.get("last")) for x in chunks] == [  # type: ignore[union-attr]
        (sid, "0", None), (sid, "1", None), (sid, "2", "true")]  # fmt: skip
    assert b"".join(base64.b64decode(x.text or "") for x in chunks) == body  # type: ignore[union-attr]
    assert c.sent[4].find("{urn:xmpp:ping}ping") is not None  # flushes a CSI-inactive device
    deliver(c, result(c.sent[0].get("id"), ""))
    assert (await task).status == 200
    # the device answers before the body is through (a 413): no more chunks
    c, http = controller(max_inline=10, upload_chunk_size=10)
    task = asyncio.ensure_future(http.request(DEV, "POST", "/up", {}, b"x" * 100_000))
    await sent(c, 3)
    deliver(c, result(c.sent[0].get("id"), "", "413", "Content Too Large"))
    assert (await task).status == 413
    at_answer = len(c.sent)
    for _ in range(5):
        await asyncio.sleep(0)
    # how many went before the answer depends on the scheduler; none after it,
    # and never the body's last chunk
    assert len(c.sent) == at_answer
    last = [m.find(H + "chunk") for m in c.sent[1:]]
    assert last and all(x is not None and x.get("last") is None for x in last)


@pytest.mark.parametrize("nr", ["\u00b2", "1" * 5000])
async def test_a_chunk_nr_int_cannot_read_is_ignored_not_raised(nr: str) -> None:
    """str.isdigit() takes "²" and 5000 digits, int() raises on both: out of
    the message handler, that ended the controller's connection."""
    c, http = controller()
    task = asyncio.ensure_future(http.request(DEV, "GET", "/big"))
    await sent(c, 1)
    deliver(c, chunk("S1", 0, b"early").replace("nr='0'", f"nr='{nr}'"))  # before the answer
    deliver(c, result(c.sent[0].get("id"), "<data><chunkedBase64 streamId='S1'/></data>"))
    resp: Response = await task
    deliver(c, chunk("S1", 0, b"x").replace("nr='0'", f"nr='{nr}'"))
    deliver(c, chunk("S1", 0, b"hello", last=True))
    assert await resp.read() == b"hello"


async def test_a_status_code_int_cannot_read_is_a_transport_error() -> None:
    c, http = controller()
    task = asyncio.ensure_future(http.request(DEV, "GET", "/x"))
    await sent(c, 1)
    deliver(c, result(c.sent[0].get("id"), "", status="\u00b2\u00b2\u00b2"))
    with pytest.raises(HttpTransportError):
        await task

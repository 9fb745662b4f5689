"""XEP-0332 conversations: what a controller's server delivers to the
device, what the device sends back, with a real HTTP origin behind it
(tests/xep/origin.py: ThreadingHTTPServer on 127.0.0.1).  The requests are
the XEP's own examples (§4.1 OPTIONS, GET, HEAD, POST, PUT, DELETE, TRACE,
PATCH; §4.2 text, xml, base64, chunkedBase64)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest

from stanzalink.agent import parse_config
from stanzalink.config import ConfigError
from stanzalink.errors import LocalProtocolError
from stanzalink.xep.http.codec import NS, SHIM, read_headers
from stanzalink.xep.http.feature import Http, request_path
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness, ManualClock
from tests.xep.origin import SPARQL_RESULT, TURTLE, Origin, big, running_origin

ALICE = "httpclient@example.org/browser"
ACCESS = {
    "admin": ["httpclient@example.org"],
    "operator": ["ops@example.org"],
    "viewer": ["viewer@example.org"],
}
PATHS = {"/api/": "viewer", "/admin/": "admin"}
H = "{urn:xmpp:http}"


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as o:
        yield o


def device(origin: Origin, clock: ManualClock | None = None, **http: Any) -> Harness:
    http.setdefault("origin", origin.url)
    http.setdefault("paths", PATHS)
    return Harness([Http], ACCESS, jid="httpserver@example.org/dev", clock=clock, http=http)


def req(
    iq_id: str,
    method: str,
    resource: str,
    headers: list[tuple[str, str]] | None = None,
    data: str = "",
    frm: str = ALICE,
    attrs: str = "",
) -> str:
    hs = "".join(
        f"<header name='{k}'>{v}</header>" for k, v in (headers or [("Host", "example.org")])
    )
    return (
        f"<iq type='set' from='{frm}' to='httpserver@example.org/dev' id='{iq_id}'>"
        f"<req xmlns='urn:xmpp:http' method='{method}' resource='{resource}' version='1.1'{attrs}>"
        f"<headers xmlns='http://jabber.org/protocol/shim'>{hs}</headers>{data}</req></iq>"
    )


def resp_of(reply: Element) -> tuple[Element, dict[str, str]]:
    assert reply.get("type") == "result", reply
    resp = reply.find(H + "resp")
    assert resp is not None and resp.get("version") == "1.1"
    return resp, {k.lower(): v for k, v in read_headers(resp)}


async def test_get_text_xep_example(origin: Origin) -> None:
    h = device(origin)
    h.receive(req("2", "GET", "/rdf/xep"))
    reply = await h.next_sent()
    assert reply.get("to") == ALICE and reply.get("id") == "2"
    resp, headers = resp_of(reply)
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("200", "OK")
    assert headers["content-type"] == "text/turtle"
    assert headers["content-length"] == str(len(TURTLE.encode()))
    assert resp.findtext(H + "data/" + H + "text") == TURTLE
    assert "<text>@prefix dc: &lt;http://purl.org" in h.sent_xml[0]
    # hop-by-hop fields of the origin are not passed on (Connection, the
    # field it names, Keep-Alive)
    assert not {"connection", "keep-alive", "x-hop"} & set(headers)
    assert origin.seen[0]["method"] == "GET" and origin.seen[0]["path"] == "/rdf/xep"
    await h.close()


async def test_post_text_sparql_gets_xml_result(origin: Origin) -> None:
    h = device(origin)
    query = "PREFIX dc: &lt;http://purl.org/dc/elements/1.1/&gt;\nSELECT ?title"
    h.receive(req(
        "4", "POST", "/sparql/?default-graph-uri=http%3A%2F%2Fexample.org%2Frdf/xep",
        [("Host", "example.org"), ("User-agent", "Clayster HTTP/XMPP Client"),
         ("Content-Type", "application/sparql-query"), ("Content-Length", "...")],
        f"<data><text>{query}</text></data>",
    ))  # fmt: skip
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200"
    assert headers["content-type"] == "application/sparql-results+xml"
    assert resp.findtext(H + "data/" + H + "text") == SPARQL_RESULT  # sent as text (XEP §4.2.2)
    seen = origin.seen[0]
    assert seen["path"] == "/sparql/?default-graph-uri=http%3A%2F%2Fexample.org%2Frdf/xep"
    assert seen["body"] == b"PREFIX dc: <http://purl.org/dc/elements/1.1/>\nSELECT ?title"
    sent = dict(seen["headers"])
    # the device sets Content-Length (the example's "..." never reaches the origin) and Host
    assert sent["Content-Length"] == str(len(seen["body"]))
    assert sent["Host"] == origin.url.removeprefix("http://")
    assert sent["User-agent"] == "Clayster HTTP/XMPP Client"
    await h.close()


async def test_post_base64_and_xml_bodies(origin: Origin) -> None:
    h = device(origin)
    payload = big(3000)
    h.receive(
        req(
            "b1",
            "POST",
            "/echo",
            [("Content-Type", "application/octet-stream")],
            f"<data><base64>{base64.b64encode(payload).decode()}</base64></data>",
        )
    )
    resp, _ = resp_of(await h.next_sent())
    assert origin.seen[0]["body"] == payload
    echoed = resp.findtext(H + "data/" + H + "base64")
    assert echoed is not None and base64.b64decode(echoed) == payload  # binary: base64
    h.receive(
        req(
            "x1",
            "POST",
            "/echo",
            [("Content-Type", "application/xml")],
            "<data><xml><doc xmlns='urn:example:doc'><p>a &amp; b</p></doc></xml></data>",
        )
    )
    resp, _ = resp_of(await h.next_sent())
    assert origin.seen[1]["body"] == b'<doc xmlns="urn:example:doc"><p>a &amp; b</p></doc>'
    assert resp.findtext(H + "data/" + H + "text") == origin.seen[1]["body"].decode()
    await h.close()


def chunk_msg(sid: str, nr: int, data: bytes, last: bool = False, frm: str = ALICE) -> str:
    attr = " last='true'" if last else ""
    text = base64.b64encode(data).decode()
    return (f"<message from='{frm}'><chunk xmlns='urn:xmpp:http' streamId='{sid}' nr='{nr}'"
            f"{attr}>{text}</chunk></message>")  # fmt: skip


async def test_chunked_request_body(origin: Origin) -> None:
    h = device(origin, ManualClock(), max_request_body=50_000, timeout=0.5)
    payload = big(20_000)
    pieces = [payload[i : i + 4096] for i in range(0, len(payload), 4096)]
    chunked = "<data><chunkedBase64 streamId='up1'/></data>"
    # the last chunk overtakes the request, the rest come out of order; another
    # controller's chunk with the same stream id is not taken
    h.receive(chunk_msg("up1", 4, pieces[4], last=True))
    h.receive(req("u1", "POST", "/echo", [("Content-Type", "application/octet-stream")], chunked))
    for nr in (1, 0, 3):
        h.receive(chunk_msg("up1", nr, pieces[nr]))
    h.receive(chunk_msg("up1", 2, b"EVIL" * 1024, frm="ops@example.org/o"))
    await asyncio.sleep(0.05)
    h.receive(chunk_msg("up1", 2, pieces[2]))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200" and origin.seen[0]["body"] == payload
    sid = resp.find(H + "data/" + H + "chunkedBase64").get("streamId")  # type: ignore[union-attr]
    assert (await collect_stream(h, sid))[0] == payload  # and back, chunked
    # too large: 413; never complete: 408; the origin is not asked
    h.receive(req("u2", "POST", "/echo", data="<data><chunkedBase64 streamId='up2'/></data>"))
    await asyncio.sleep(0.05)  # (chunks before the request are kept only up to the limit)
    for nr in range(13):
        h.receive(chunk_msg("up2", nr, pieces[0]))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "413"
    h.receive(req("u3", "POST", "/echo", data="<data><chunkedBase64 streamId='up3'/></data>"))
    h.receive(chunk_msg("up3", 0, b"only the first"))
    await h.advance(0.49)
    assert h.unread() == []
    await h.advance(0.01)
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "408" and len(origin.seen) == 1
    assert h.feature(Http)._uploads == {}
    await h.close()


async def test_put_patch_delete_options_head(origin: Origin) -> None:
    h = device(origin)
    h.receive(req("5", "PUT", "/index.html", [("Content-Type", "text/html")],
                  "<data><text>&lt;html&gt;&lt;body/&gt;&lt;/html&gt;</text></data>"))  # fmt: skip
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("204", "No Content")
    assert resp.find(H + "data") is None and origin.seen[-1]["body"] == b"<html><body/></html>"

    # the XEP's PATCH example has its text right inside <data>
    h.receive(req("8", "PATCH", "/file.txt", [("If-Match", "e0023aa4e")],
                  "<data>\n    [description of changes]\n  </data>"))  # fmt: skip
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "204" and headers["etag"] == "e0023aa4e"
    assert dict(origin.seen[-1]["headers"])["If-Match"] == "e0023aa4e"
    assert origin.seen[-1]["body"] == b"[description of changes]"

    h.receive(req("6", "DELETE", "/index.html"))
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("403", "Forbidden")
    assert resp.findtext(H + "data/" + H + "text") == "You're not allowed to change the home page!"

    h.receive(req("1", "OPTIONS", "*"))
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200" and "GET" in headers["allow"]
    assert origin.seen[-1]["path"] == "*"

    h.receive(req("3", "HEAD", "/video/video1.m4"))
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200" and resp.find(H + "data") is None
    assert headers["content-length"] == "12345678" and headers["content-type"] == "video/mp4"
    await h.close()


def chunks_of(h: Harness, msgs: list[Element], sid: str) -> tuple[bytes, list[int]]:
    data, nrs = b"", []
    for m in msgs:
        c = m.find(H + "chunk")
        assert c is not None and c.get("streamId") == sid and m.get("to") == ALICE
        nrs.append(int(c.get("nr")))
        data += base64.b64decode(c.text or "")
    return data, nrs


async def collect_stream(h: Harness, sid: str) -> tuple[bytes, list[int]]:
    msgs = []
    while True:
        m = await h.next_sent(5)
        msgs.append(m)
        if m.find(H + "chunk").get("last") == "true":  # type: ignore[union-attr]
            return chunks_of(h, msgs, sid)


@pytest.mark.parametrize("kind", ["big", "chunked"])
async def test_chunked_base64_response(origin: Origin, kind: str) -> None:
    """Content-Length known (streamed as it comes) and chunked transfer coding
    from the origin (collected, then sent): both as chunkedBase64."""
    h = device(origin, chunk_size=4096)
    h.receive(req("10", "GET", f"/{kind}/20000"))
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200" and "transfer-encoding" not in headers
    cb = resp.find(H + "data/" + H + "chunkedBase64")
    assert cb is not None and len(cb.get("streamId")) >= 16
    data, nrs = await collect_stream(h, cb.get("streamId"))
    assert data == big(20000)
    assert nrs == [0, 1, 2, 3, 4]  # 4096-byte pieces, the last one marked
    assert h.unread() == []
    await h.close()


async def test_max_chunk_size_from_request(origin: Origin) -> None:
    h = device(origin, chunk_size=4096)
    h.receive(req("11", "GET", "/big/1000", attrs=" maxChunkSize='256'"))
    resp, _ = resp_of(await h.next_sent())
    sid = resp.find(H + "data/" + H + "chunkedBase64").get("streamId")  # type: ignore[union-attr]
    data, nrs = await collect_stream(h, sid)
    assert data == big(1000) and nrs == [0, 1, 2, 3]
    h.receive(req("12", "GET", "/big/10", attrs=" maxChunkSize='100'"))
    bad = await h.next_sent()
    assert bad.get("type") == "error" and "bad-request" in h.sent_xml[-1]
    await h.close()


async def test_close_stops_a_stream(origin: Origin) -> None:
    h = device(origin, chunk_size=256)
    h.receive(req("13", "GET", "/drip/10"))  # 10 x 300 bytes, 0.1 s apart
    resp, _ = resp_of(await h.next_sent())
    sid = resp.find(H + "data/" + H + "chunkedBase64").get("streamId")  # type: ignore[union-attr]
    first = await h.next_sent()
    assert first.find(H + "chunk").get("nr") == "0"  # type: ignore[union-attr]
    # a close from somebody else is ignored; from the requester it ends the stream
    h.receive(
        f"<message from='viewer@example.org/x'><close xmlns='{NS}' streamId='{sid}'/></message>"
    )
    await asyncio.sleep(0.05)
    assert sid in h.feature(Http)._streams
    h.receive(f"<message from='{ALICE}'><close xmlns='{NS}' streamId='{sid}'/></message>")
    await asyncio.sleep(1.2)
    rest = h.unread()
    assert all(m.find(H + "chunk").get("last") is None for m in rest)  # type: ignore[union-attr]
    assert len(rest) < 9 and sid not in h.feature(Http)._streams
    assert h.feature(Http)._active == 0
    await h.close()


async def test_device_made_errors(origin: Origin) -> None:
    h = device(origin, ManualClock(), max_request_body=1000, max_response_body=5000, timeout=0.5)
    h.receive(req("n", "GET", "/missing"))
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("404", "Not Found")
    assert resp.findtext(H + "data/" + H + "text") == "no such resource"  # the origin's

    h.receive(
        req(
            "t",
            "POST",
            "/echo",
            data=f"<data><base64>{base64.b64encode(big(1001)).decode()}</base64></data>",
        )
    )
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("413", HTTPStatus(413).phrase)
    assert len(origin.seen) == 1  # never forwarded

    h.receive(req("s", "GET", "/slow"))  # the origin answers after 1.5 s
    await h.advance(0.5)
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("504", "Gateway Timeout")

    for kind in ("big", "chunked"):  # too large: known at once, or found while reading
        h.receive(req("L", "GET", f"/{kind}/6000"))
        resp, _ = resp_of(await h.next_sent())
        assert resp.get("statusCode") == "502"
        assert "larger than 5000 bytes" in (resp.findtext(H + "data/" + H + "text") or "")

    h.receive(req("tr", "TRACE", "/rdf/ex1.turtle"))
    resp, headers = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "405" and "TRACE" not in headers["allow"]
    h.receive(req("c", "CONNECT", "/x"))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "501"
    for target in ("/a/../admin/x", "/a/%2e%2e/admin", "/a%2fb", "http://elsewhere/", "/a#f"):
        h.receive(req("p", "GET", target))
        resp, _ = resp_of(await h.next_sent())
        assert resp.get("statusCode") == "400", target
    h.receive("<iq type='set' from='httpclient@example.org/browser' id='m'>"
              "<req xmlns='urn:xmpp:http' method='GET' resource='/'/></iq>")  # fmt: skip
    bad = await h.next_sent()
    assert bad.get("type") == "error" and "bad-request" in h.sent_xml[-1]
    await h.close()


async def test_origin_down_is_502() -> None:
    with running_origin() as o:
        url = o.url
    h = Harness([Http], ACCESS, jid="httpserver@example.org/dev", http={"origin": url})
    h.receive(req("d", "GET", "/rdf/xep"))
    resp, _ = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("502", "Bad Gateway")
    await h.close()


async def test_hop_by_hop_and_identity_headers(origin: Origin) -> None:
    h = device(origin)
    h.receive(req("hh", "GET", "/headers", [
        ("Host", "example.org"), ("Connection", "X-Private, close"), ("X-Private", "1"),
        ("Keep-Alive", "300"), ("TE", "trailers"), ("Trailer", "X"), ("Upgrade", "h2c"),
        ("Transfer-Encoding", "chunked"), ("Proxy-Authorization", "Basic eA=="),
        ("X-Stanzalink-Role", "admin"), ("X_Stanzalink_From", "boss@example.org/x"),
        ("x-stanzalink-from", "boss@example.org/y"), ("Accept", "text/plain"),
    ]))  # fmt: skip
    resp, _ = resp_of(await h.next_sent())
    got = json.loads(resp.findtext(H + "data/" + H + "text") or "")
    names = {k.lower() for k, _ in got}
    assert not names & {"x-private", "keep-alive", "te", "trailer", "upgrade",
                        "transfer-encoding", "proxy-authorization"}  # fmt: skip
    assert dict(got)["Connection"] == "close"  # the device's own, not the requester's
    assert dict(got)["Accept"] == "text/plain"
    assert [v for k, v in got if k.lower().replace("_", "-") == "x-stanzalink-from"] == [ALICE]
    assert [v for k, v in got if k == "X-Stanzalink-Role"] == ["admin"]  # set by the device
    h.receive(
        req("hv", "GET", "/headers", [("Accept", "a\nInjected: yes")], frm="viewer@example.org/v")
    )
    denied = await h.next_sent()  # /headers needs operator
    assert denied.get("type") == "error"
    await h.close()


async def test_header_xml_cannot_carry_is_left_out(origin: Origin) -> None:
    h = device(origin)
    h.receive(req("cc", "GET", "/control"))
    resp, headers = resp_of(await h.next_sent())
    assert headers["x-good"] == "fine" and "x-bad" not in headers
    assert resp.findtext(H + "data/" + H + "text") == "ok"
    await h.close()


async def test_access_per_path_reveals_nothing(origin: Origin) -> None:
    h = device(origin)
    viewer = "viewer@example.org/v"
    h.receive(req("v1", "GET", "/api/status", frm=viewer))
    resp, _ = resp_of(await h.next_sent())
    assert resp.findtext(H + "data/" + H + "text") == "content of /api/status"
    assert [v for k, v in origin.seen[0]["headers"] if k == "X-Stanzalink-Role"] == ["viewer"]
    # a viewer on an admin path, on an encoded or case-changed spelling of it,
    # on a path that does not exist, and a stranger: one and the same answer,
    # and the origin is never asked
    answers = []
    for i, (frm, target) in enumerate([
        (viewer, "/admin/users"), (viewer, "/%61dmin/users"), (viewer, "/ADMIN/users"),
        (viewer, "/nothing/here"), ("ops@example.org/o", "/admin/users"),
        ("eve@example.org/x", "/api/status"),
    ]):  # fmt: skip
        h.receive(req(f"q{i}", "GET", target, frm=frm))
        answer = await h.next_sent()
        assert answer.get("type") == "error"
        answers.append(h.sent_xml[-1].replace(f"q{i}", "Q").replace(frm, "F"))
    h.receive("<iq type='set' from='eve@example.org/x' id='Q'><nothing xmlns='urn:x'/></iq>")
    await h.next_sent()
    answers.append(h.sent_xml[-1].replace("eve@example.org/x", "F"))
    assert len(set(answers)) == 1 and "service-unavailable" in answers[0]
    assert len(origin.seen) == 1
    # an operator may use what is neither /api/ nor /admin/ (the default)
    h.receive(req("o1", "GET", "/nothing/here", frm="ops@example.org/o"))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "404"
    await h.close()


def test_paths_and_roles() -> None:
    assert request_path("/a/b?x=/../y") == "/a/b"
    assert request_path("/%61dmin/") == "/admin/"
    for bad in (
        "/a/../b",
        "/a/./b",
        "/%2E%2E/b",
        "/a%2Fb",
        "/a%5cb",
        "/a\\b",
        "a",
        "/a b",
        "/a%00",
    ):
        assert request_path(bad) is None, bad
    h = Harness([Http], ACCESS, http={"origin": "http://127.0.0.1:9", "paths": {
        "/": "viewer", "/api/": "operator", "/api/admin/": "admin"}})  # fmt: skip
    http = h.feature(Http)
    assert str(http.need("/index.html")) == "viewer"
    assert str(http.need("/api/x")) == "operator"
    assert str(http.need("/api/admin/x")) == "admin"
    assert str(http.need("/API/Admin/x")) == "admin"  # a case-folding origin is covered
    assert http.disco_features == (NS,)
    assert Harness([Http], ACCESS).feature(Http).disco_features == ()


def test_config_keys_are_checked() -> None:
    base = {"account": {"jid": "d@example.org", "password": "x"}}
    good = {"origin": "http://127.0.0.1:8080/base", "paths": PATHS, "chunk_size": 256,
            "timeout": 2, "max_concurrent": 1}  # fmt: skip
    ok = parse_config({**base, "http": good})
    assert ok.section("http")["paths"] == PATHS
    for http, key in (
        ({"origin": "ftp://x"}, "http.origin"),
        ({"origin": "127.0.0.1:8080"}, "http.origin"),
        ({"paths": {"api/": "viewer"}}, "http.paths"),
        ({"paths": {"/api/": "root"}}, "http.paths./api/"),
        ({"paths": ["/api/"]}, "http.paths"),
        ({"chunk_size": 100}, "http.chunk_size"),
        ({"max_request_body": -1}, "http.max_request_body"),
        ({"max_concurrent": 0}, "http.max_concurrent"),
        ({"timeout": 0}, "http.timeout"),
        ({"origins": "x"}, "http.origins"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config({**base, "http": http})
        assert str(info.value).startswith(key), info.value
    with pytest.raises(LocalProtocolError, match=r"http\.wsgi_app"):
        Harness([Http], ACCESS, http={"wsgi_app": "tests.xep.http.test_feature:no_such_app"})


async def test_too_many_at_once(origin: Origin) -> None:
    h = device(origin, max_concurrent=1, timeout=5)
    h.receive(req("s1", "GET", "/slow"))
    await asyncio.sleep(0.2)
    h.receive(req("s2", "GET", "/rdf/xep"))
    busy = await h.next_sent()
    assert busy.get("id") == "s2" and busy.get("type") == "error"
    assert "resource-constraint" in h.sent_xml[-1] and 'type="wait"' in h.sent_xml[-1]
    late = await h.next_sent(5)
    assert late.get("id") == "s1" and late.get("type") == "result"
    await h.close()


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    out = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"], "from": environ.get("HTTP_X_STANZALINK_FROM"),
        "role": environ.get("HTTP_X_STANZALINK_ROLE"),
        "body": body.decode(),
    }).encode()  # fmt: skip
    if environ["PATH_INFO"] == "/big":
        out = b"x" * 10000
    start_response("201 Created", [("Content-Type", "application/json"), ("Connection", "close")])
    return [out]


async def test_wsgi_application() -> None:
    h = Harness(
        [Http],
        ACCESS,
        jid="httpserver@example.org/dev",
        http={"wsgi_app": "tests.xep.http.test_feature:wsgi_app", "max_response_body": 5000},
    )
    assert h.feature(Http).disco_features == (NS,)
    h.receive(req("w1", "POST", "/api/items?x=1", [("Content-Type", "text/plain"),
                                                   ("X_Stanzalink_Role", "root")],
                  "<data><text>hello</text></data>"))  # fmt: skip
    resp, headers = resp_of(await h.next_sent())
    assert (resp.get("statusCode"), resp.get("statusMessage")) == ("201", "Created")
    assert "connection" not in headers
    assert json.loads(resp.findtext(H + "data/" + H + "text") or "") == {
        "method": "POST",
        "path": "/api/items",
        "query": "x=1",
        "from": ALICE,
        "role": "admin",  # the device's, not the requester's X_Stanzalink_Role
        "body": "hello",
    }
    h.receive(req("w2", "GET", "/big"))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "502"
    await h.close()
    # the API a product uses
    h = Harness([Http], ACCESS, jid="httpserver@example.org/dev")
    h.feature(Http).set_wsgi_app(wsgi_app)
    presence = await h.next_sent()  # what the device offers changed: caps go out again
    assert presence.tag == "{jabber:client}presence"
    h.receive(req("w3", "GET", "/x"))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "201"
    await h.close()


async def test_no_origin_serves_nothing() -> None:
    h = Harness([Http], ACCESS)
    h.receive(req("z", "GET", "/"))
    await h.next_sent()
    assert "service-unavailable" in h.sent_xml[-1]
    await h.close()


_ = SHIM


@pytest.mark.parametrize("nr", ["\u00b2", "1" * 5000, "-1", ""])
async def test_chunk_with_a_bad_nr_is_dropped_not_raised(origin: Origin, nr: str) -> None:
    """A chunk whose nr is not a number Python's int() takes (a superscript
    digit passes str.isdigit, 5000 digits pass it too) must not raise out of
    the message handler (it would end the connection); the upload it names
    fails with 400, and the next request is served."""
    h = device(origin, timeout=0.5)
    body = base64.b64encode(b"x").decode()
    msg = (f"<message from='{ALICE}' to='httpserver@example.org/dev'><chunk"
           f" xmlns='urn:xmpp:http' streamId='bad' nr='{nr}'>{body}</chunk></message>")  # fmt: skip
    h.receive(msg)  # early: before its request
    h.receive(req("b1", "POST", "/echo", data="<data><chunkedBase64 streamId='bad'/></data>"))
    await asyncio.sleep(0.05)
    h.receive(msg)  # while the upload waits
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "400"
    h.receive(req("b2", "GET", "/rdf/xep"))
    resp, _ = resp_of(await h.next_sent())
    assert resp.get("statusCode") == "200"
    await h.close()


def test_spellings_an_origin_may_merge_need_the_stricter_role() -> None:
    """Many origins merge repeated slashes (nginx's merge_slashes, most
    routers) and drop ``;parameters`` from segments (servlet containers):
    for them ``//admin/x`` and ``/admin;v=1/x`` are ``/admin/x``.  The
    prefix check took them for other paths, so a viewer reached an admin
    path.  They need the stricter role now, like a case-changed spelling."""
    h = Harness([Http], ACCESS, http={"origin": "http://127.0.0.1:9", "paths": PATHS})
    http = h.feature(Http)
    for spelling in ("//admin/x", "/admin//x", "///ADMIN/x", "/admin;v=1/x", "/api/../admin/"):
        path = request_path(spelling)
        assert path is None or str(http.need(path)) == "admin", spelling
    assert str(http.need("/api/x;y")) == "viewer"
    assert str(http.need("/api//x")) == "viewer"


async def test_one_account_cannot_take_every_slot(origin: Origin) -> None:
    """``max_concurrent`` was for everybody together: one account's
    resources could hold every slot (slow paths, chunked bodies that never
    come) and the others got resource-constraint.  One account gets at most
    half of them now."""
    h = device(origin, max_concurrent=4, timeout=5)
    for i in range(2):
        h.receive(req(f"s{i}", "GET", "/slow", frm=f"ops@example.org/r{i}"))
    await asyncio.sleep(0.2)
    h.receive(req("s9", "GET", "/slow", frm="ops@example.org/r9"))
    busy = await h.next_sent()
    assert busy.get("id") == "s9" and "resource-constraint" in h.sent_xml[-1]
    h.receive(req("a1", "GET", "/rdf/xep"))  # another account is served
    ok = await h.next_sent()
    assert ok.get("id") == "a1" and resp_of(ok)[0].get("statusCode") == "200"
    late = [await h.next_sent(5) for _ in range(2)]
    assert sorted(x.get("id") for x in late) == ["s0", "s1"]
    assert h.feature(Http)._active == 0 and h.feature(Http)._per_account == {}
    await h.close()


async def test_chunks_from_a_controller_no_path_admits_are_not_kept(origin: Origin) -> None:
    """Chunks that overtake their request are kept (bounded, shared by
    everybody) for any controller: one whose role no path admits (it can
    never make a request) could fill that room for the others."""
    h = device(origin, paths={"/admin/": "admin"})  # least role: operator
    h.receive(chunk_msg("up1", 0, b"x" * 100, frm="viewer@example.org/v"))
    assert h.feature(Http)._early == {}
    h.receive(chunk_msg("up2", 0, b"x" * 100, frm="ops@example.org/o"))
    assert list(h.feature(Http)._early) == [("ops@example.org/o", "up2")]
    await h.close()

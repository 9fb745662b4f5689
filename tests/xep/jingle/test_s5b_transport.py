"""XEP-0260 SOCKS5 as the Jingle transport of file transfer, through the
Jingle core, with the XEP's examples (sid vj3hs98y, cids hft54dqy /
hutr46fe / ht567dq, its priorities; hosts moved to loopback, where the
SOCKS5 connections are real: the peer's direct candidate and the "proxy"
are local streamhosts the test holds the other end of).  Fallback to IBB
(§3) on candidate-error, proxy-error and a failed activation."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from stanzalink.net.socks5 import Socks5Stream, StreamHostServer
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb, decode_block
from stanzalink.xep.jingle import s5b as j
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xep.jingle.s5b_transport import JingleS5B
from stanzalink.xep.jingle.session import NS as JNS
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness, ManualClock
from stanzalink_testing.prosody import free_port

from .test_file_transfer import (
    ACCESS,
    CONTENT,
    IBB_NS,
    IBBT,
    JULIET,
    ROMEO,
    ack,
    ibb_send,
    jingle_action,
    jingle_of,
    next_jingle,
    offer,
    reason_of,
)

S5B = j.NS
PROXY = "streamer.shakespeare.lit"
BYTESTREAMS = "http://jabber.org/protocol/bytestreams"
FEATURES = [Ibb, Jingle, JingleS5B, JingleIBB, Hashes, Files]


async def make(
    tmp: Path, proxy_port: int | None, clock: ManualClock | None = None, **files: Any
) -> tuple[Harness, Files]:
    """The device online, its proxy (``socks5_proxy``) answering with a
    streamhost on loopback at ``proxy_port`` (None: the proxy answers an error)."""
    for d in ("inbox", "export"):
        (tmp / d).mkdir(exist_ok=True)
    cfg = {"inbox": str(tmp / "inbox"), "export": [str(tmp / "export")], "min_free": 0,
           "socks5": True, "socks5_proxy": PROXY, **files}  # fmt: skip
    h = Harness(FEATURES, ACCESS, jid=JULIET, clock=clock, files=cfg)
    h.go_online()
    req = await h.next_sent()
    if req.tag == "{jabber:client}presence":
        req = await h.next_sent()
    assert req.get("to") == PROXY and req.find(f"{{{BYTESTREAMS}}}query") is not None
    if proxy_port is None:
        h.receive(f"<iq type='error' id='{req.get('id')}' from='{PROXY}' to='{JULIET}'>"
                  "<error type='cancel'><item-not-found "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")  # fmt: skip
    else:
        h.receive(f"<iq type='result' id='{req.get('id')}' from='{PROXY}' to='{JULIET}'>"
                  f"<query xmlns='{BYTESTREAMS}'><streamhost host='127.0.0.1' jid='{PROXY}'"
                  f" port='{proxy_port}'/></query></iq>")  # fmt: skip
    s5b = h.feature(JingleS5B)
    for _ in range(50):
        if s5b.proxies is not None:
            break
        await asyncio.sleep(0.01)
    return h, h.feature(Files)


def s5b_info(sid: str, inner: str, id_: str, name: str = "a-file-offer") -> str:
    return jingle_action(
        sid, "transport-info",
        f"<content creator='initiator' name='{name}'>"
        f"<transport xmlns='{S5B}' sid='vj3hs98y'>{inner}</transport></content>", id_=id_,
    )  # fmt: skip


async def sent_info(h: Harness) -> Element:
    """The next transport-info the device sends (acknowledged), its <transport/>."""
    iq = await next_jingle(h)
    jj = jingle_of(iq)
    assert jj.get("action") == "transport-info", jj.get("action")
    ack(h, iq)
    t = jj.find(f".//{{{S5B}}}transport")
    assert t is not None
    return t


async def read_all(stream: Socks5Stream) -> bytes:
    out = b""
    while chunk := await stream.read():
        out += chunk
    return out


async def test_put_over_romeos_direct_candidate(tmp_path: Path) -> None:
    """XEP-0260 examples 1-9: Romeo offers a direct and a proxy candidate;
    the device answers with its proxy, connects to Romeo's direct candidate
    (candidate-used), Romeo could not reach the device's (candidate-error):
    Romeo's direct candidate is used, and the file arrives over it."""
    romeo = StreamHostServer()
    _host, port = await romeo.start()
    dead = free_port()
    h, files = await make(tmp_path, dead, dial_direct=True)
    incoming = romeo.expect(j.candidate_dst("vj3hs98y", ROMEO, JULIET))
    transport = (
        f"<transport xmlns='{S5B}' dstaddr='{j.candidate_dst('vj3hs98y', ROMEO, JULIET)}'"
        " mode='tcp' sid='vj3hs98y'>"
        f"<candidate cid='hft54dqy' host='127.0.0.1' jid='{ROMEO}' port='{port}'"
        " priority='8257636' type='direct'/>"
        f"<candidate cid='hutr46fe' host='127.0.0.1' jid='{PROXY}' port='{dead}'"
        " priority='655360' type='proxy'/></transport>"
    )
    h.receive(offer().replace(f"<transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>",
                              transport))  # fmt: skip
    assert (await h.next_sent()).get("type") == "result"
    acc = await next_jingle(h)
    jj = jingle_of(acc)
    assert jj.get("action") == "session-accept"
    t = jj.find(f".//{{{S5B}}}transport")
    assert t.get("sid") == "vj3hs98y" and t.get("mode") is None  # mode: the initiator's
    assert t.get("dstaddr") == j.candidate_dst("vj3hs98y", JULIET, ROMEO)
    (cand,) = t.findall(f"{{{S5B}}}candidate")
    assert (cand.get("type"), cand.get("jid"), cand.get("port")) == ("proxy", PROXY, str(dead))
    assert int(cand.get("priority")) == j.priority("proxy", 65535)
    ack(h, acc)
    used = await sent_info(h)  # example 5: the device reached Romeo's listener
    assert used.find(f"{{{S5B}}}candidate-used").get("cid") == "hft54dqy"
    h.receive(s5b_info("851ba2", "<candidate-error/>", "ce1"))  # example 8
    assert (await h.next_sent()).get("type") == "result"
    stream = await asyncio.wait_for(incoming, 5)
    await stream.write(CONTENT)
    await stream.close()
    assert reason_of(await next_jingle(h))[0] == "success"
    assert (tmp_path / "inbox" / "test.txt").read_bytes() == CONTENT
    (res,) = files.received_files()
    assert res.ok and res.sha256 == hashlib.sha256(CONTENT).hexdigest()
    await h.close()
    await romeo.close()


async def offer_through_proxy(tmp_path: Path) -> SimpleNamespace:
    """The device offers a file; its session-initiate carries its proxy."""
    proxy = StreamHostServer()
    _host, pport = await proxy.start()
    h, files = await make(tmp_path, pport)
    src = tmp_path / "export" / "report.csv"
    src.write_bytes(CONTENT)
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    jj = jingle_of(init)
    assert jj.get("action") == "session-initiate"
    t = jj.find(f".//{{{S5B}}}transport")
    sid_t = t.get("sid")
    assert t.get("mode") == "tcp" and t.get("dstaddr") == j.candidate_dst(sid_t, JULIET, ROMEO)
    (cand,) = t.findall(f"{{{S5B}}}candidate")
    assert (cand.get("type"), cand.get("jid"), cand.get("host"), cand.get("port")) == (
        "proxy", PROXY, "127.0.0.1", str(pport))  # fmt: skip
    ack(h, init)
    sid = jj.get("sid")
    name = jj.find(f"{{{JNS}}}content").get("name")
    # Romeo accepts with a candidate the device cannot reach (example 3's shape)
    h.receive(jingle_action(
        sid, "session-accept",
        f"<content creator='initiator' name='{name}' senders='initiator'>"
        f"<transport xmlns='{S5B}' sid='{sid_t}'><candidate cid='ht567dq' host='127.0.0.1'"
        f" jid='{ROMEO}' port='{free_port()}' priority='8258636' type='direct'/>"
        "</transport></content>", id_="acc"))  # fmt: skip
    assert (await h.next_sent()).get("type") == "result"
    err = await sent_info(h)
    assert err.find(f"{{{S5B}}}candidate-error") is not None  # example 7
    at_proxy = proxy.expect(j.candidate_dst(sid_t, JULIET, ROMEO))
    info = (f"<content creator='initiator' name='{name}'><transport xmlns='{S5B}' sid='{sid_t}'>"
            f"<candidate-used cid='{cand.get('cid')}'/></transport></content>")  # fmt: skip
    h.receive(jingle_action(sid, "transport-info", info, id_="cu"))
    assert (await h.next_sent()).get("type") == "result"
    # the device's proxy won: it connects to it and activates it (examples 11-13)
    act = await h.next_sent()
    assert act.get("to") == PROXY and act.get("type") == "set"
    q = act.find(f"{{{BYTESTREAMS}}}query")
    assert q.get("sid") == sid_t and q.findtext(f"{{{BYTESTREAMS}}}activate") == ROMEO
    return SimpleNamespace(
        h=h,
        sending=sending,
        proxy=proxy,
        at_proxy=at_proxy,
        act=act,
        sid=sid,
        name=name,
        cid=cand.get("cid"),
    )


async def test_get_through_the_devices_proxy_activated(tmp_path: Path) -> None:
    o = await offer_through_proxy(tmp_path)
    h, sending, proxy, act, sid = o.h, o.sending, o.proxy, o.act, o.sid
    stream = await asyncio.wait_for(o.at_proxy, 5)  # the device's connection to the proxy
    h.receive(f"<iq type='result' id='{act.get('id')}' from='{PROXY}' to='{JULIET}'/>")
    done = await sent_info(h)
    assert done.find(f"{{{S5B}}}activated").get("cid") == o.cid  # example 14
    assert await asyncio.wait_for(read_all(stream), 5) == CONTENT  # ended by the close
    h.receive(jingle_action(sid, "session-terminate", "<reason><success/></reason>"))
    res = await asyncio.wait_for(sending, 5)
    assert res.ok and res.transferred == len(CONTENT)
    await h.close()
    await proxy.close()


async def ibb_receive(h: Harness, sid: str, name: str) -> bytes:
    """The device sent transport-replace with IBB: accept it, take the data."""
    rep = await next_jingle(h)
    jj = jingle_of(rep)
    assert jj.get("action") == "transport-replace"
    t = jj.find(f".//{{{IBBT}}}transport")
    ack(h, rep)
    body = (f"<content creator='initiator' name='{name}'><transport xmlns='{IBBT}'"
            f" block-size='4096' sid='{t.get('sid')}'/></content>")  # fmt: skip
    h.receive(jingle_action(sid, "transport-accept", body, id_="ta"))
    assert (await h.next_sent()).get("type") == "result"
    op = await h.next_sent()
    assert op.find(f"{{{IBB_NS}}}open").get("sid") == t.get("sid")
    ack(h, op)
    data = b""
    while True:
        iq = await h.next_sent()
        ack(h, iq)
        if iq.find(f"{{{IBB_NS}}}close") is not None:
            return data
        data += decode_block(iq.find(f"{{{IBB_NS}}}data").text)


async def test_failed_activation_sends_proxy_error_and_falls_back(tmp_path: Path) -> None:
    o = await offer_through_proxy(tmp_path)
    h, sending, proxy, act, sid, name = o.h, o.sending, o.proxy, o.act, o.sid, o.name
    h.receive(f"<iq type='error' id='{act.get('id')}' from='{PROXY}' to='{JULIET}'>"
              "<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
              "</error></iq>")  # fmt: skip
    pe = await sent_info(h)
    assert pe.find(f"{{{S5B}}}proxy-error") is not None  # example 15
    assert await ibb_receive(h, sid, name) == CONTENT
    h.receive(jingle_action(sid, "session-terminate", "<reason><success/></reason>"))
    res = await asyncio.wait_for(sending, 5)
    assert res.ok and res.transferred == len(CONTENT)
    await h.close()
    await proxy.close()


async def test_candidate_error_both_ways_initiator_replaces_with_ibb(tmp_path: Path) -> None:
    h, files = await make(tmp_path, free_port())  # the proxy's port: nobody listens
    src = tmp_path / "export" / "r.bin"
    src.write_bytes(CONTENT)
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    jj = jingle_of(init)
    sid, sid_t = jj.get("sid"), jj.find(f".//{{{S5B}}}transport").get("sid")
    name = jj.find(f"{{{JNS}}}content").get("name")
    ack(h, init)
    body = (f"<content creator='initiator' name='{name}' senders='initiator'>"
            f"<transport xmlns='{S5B}' sid='{sid_t}'/></content>")  # fmt: skip
    h.receive(jingle_action(sid, "session-accept", body, id_="a"))
    assert (await h.next_sent()).get("type") == "result"
    assert (await sent_info(h)).find(f"{{{S5B}}}candidate-error") is not None
    body = (f"<content creator='initiator' name='{name}'><transport xmlns='{S5B}'"
            f" sid='{sid_t}'><candidate-error/></transport></content>")  # fmt: skip
    h.receive(jingle_action(sid, "transport-info", body, id_="e"))
    assert (await h.next_sent()).get("type") == "result"
    assert await ibb_receive(h, sid, name) == CONTENT
    h.receive(jingle_action(sid, "session-terminate", "<reason><success/></reason>"))
    assert (await asyncio.wait_for(sending, 5)).ok
    await h.close()


async def test_responder_waits_for_the_initiators_replace(tmp_path: Path) -> None:
    """Nothing reachable either way: the device (responder) reports
    candidate-error, accepts Romeo's transport-replace to IBB, receives."""
    h, _files = await make(tmp_path, free_port())
    transport = (f"<transport xmlns='{S5B}' mode='tcp' sid='vj3hs98y'>"
                 f"<candidate cid='hft54dqy' host='127.0.0.1' jid='{ROMEO}' port='{free_port()}'"
                 " priority='8257636' type='direct'/></transport>")  # fmt: skip
    h.receive(offer().replace(f"<transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>",
                              transport))  # fmt: skip
    assert (await h.next_sent()).get("type") == "result"
    acc = await next_jingle(h)
    ack(h, acc)
    assert (await sent_info(h)).find(f"{{{S5B}}}candidate-error") is not None
    # a candidate-used naming a cid the device never offered
    h.receive(s5b_info("851ba2", "<candidate-used cid='nope'/>", "bad"))
    err = await h.next_sent()
    assert err.get("type") == "error" and err.find(".//{*}item-not-found") is not None
    h.receive(s5b_info("851ba2", "<candidate-error/>", "ce"))
    assert (await h.next_sent()).get("type") == "result"
    h.receive(jingle_action("851ba2", "transport-replace",
                            "<content creator='initiator' name='a-file-offer'>"
                            f"<transport xmlns='{IBBT}' block-size='4096' sid='ibb1'/></content>",
                            id_="tr"))  # fmt: skip
    assert (await h.next_sent()).get("type") == "result"
    ta = await next_jingle(h)
    assert jingle_of(ta).get("action") == "transport-accept"
    ack(h, ta)
    await ibb_send(h, "ibb1", CONTENT)
    assert reason_of(await next_jingle(h))[0] == "success"
    assert (tmp_path / "inbox" / "test.txt").read_bytes() == CONTENT
    await h.close()


async def test_no_proxy_found_offers_ibb_and_disco(tmp_path: Path) -> None:
    h, files = await make(tmp_path, None)
    assert S5B in h.feature(JingleS5B).disco_features
    src = tmp_path / "export" / "r.bin"
    src.write_bytes(b"x")
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    assert jingle_of(init).find(f".//{{{IBBT}}}transport") is not None  # SOCKS5 not offered
    sending.cancel()
    await h.close()
    # socks5 = false: neither advertised nor accepted
    h2 = Harness(FEATURES, ACCESS, jid=JULIET, files={"min_free": 0})
    assert h2.feature(JingleS5B).disco_features == ()
    assert h2.feature(Jingle).transport(S5B) is None
    await h2.close()


async def test_direct_candidate_when_configured(tmp_path: Path) -> None:
    """``direct_candidates = true``: the device also offers its own
    listener (type direct, the higher priority); Romeo connects to it."""
    from stanzalink.net.socks5 import connect

    h, files = await make(tmp_path, free_port(), direct_candidates=True)
    src = tmp_path / "export" / "d.bin"
    src.write_bytes(CONTENT)
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    jj = jingle_of(init)
    sid, t = jj.get("sid"), jj.find(f".//{{{S5B}}}transport")
    sid_t, name = t.get("sid"), jj.find(f"{{{JNS}}}content").get("name")
    direct, proxy = t.findall(f"{{{S5B}}}candidate")
    assert (direct.get("type"), direct.get("jid"), direct.get("host")) == (
        "direct", JULIET, "127.0.0.1")  # fmt: skip
    assert int(direct.get("priority")) == j.priority("direct", 65535)
    assert proxy.get("type") == "proxy"
    ack(h, init)
    body = (f"<content creator='initiator' name='{name}' senders='initiator'>"
            f"<transport xmlns='{S5B}' sid='{sid_t}'/></content>")  # fmt: skip
    h.receive(jingle_action(sid, "session-accept", body, id_="a"))
    assert (await h.next_sent()).get("type") == "result"
    assert (await sent_info(h)).find(f"{{{S5B}}}candidate-error") is not None
    stream = await connect(
        "127.0.0.1", int(direct.get("port")), j.candidate_dst(sid_t, JULIET, ROMEO), timeout=5
    )
    used = f"<candidate-used cid='{direct.get('cid')}'/>"
    body = (f"<content creator='initiator' name='{name}'><transport xmlns='{S5B}'"
            f" sid='{sid_t}'>{used}</transport></content>")  # fmt: skip
    h.receive(jingle_action(sid, "transport-info", body, id_="u"))
    assert (await h.next_sent()).get("type") == "result"
    assert await asyncio.wait_for(read_all(stream), 5) == CONTENT  # no activation for direct
    h.receive(jingle_action(sid, "session-terminate", "<reason><success/></reason>"))
    assert (await asyncio.wait_for(sending, 5)).ok
    assert h.feature(JingleS5B).established == 1
    await h.close()


async def test_proxies_found_again_after_a_new_stream_only(tmp_path: Path) -> None:
    h, _files = await make(tmp_path, 7777)
    s5b = h.feature(JingleS5B)
    assert s5b.proxies[0].port == 7777
    h.go_online(resumed=True)  # stream management resumed: the cache stays
    await h.settle()
    assert [x for x in h.unread() if x.get("to") == PROXY] == []
    h.go_online(resumed=False)  # a new stream: ask again
    req = next(x for x in [await h.next_sent(), await h.next_sent()] if x.get("to") == PROXY)
    assert s5b.proxies is None and not s5b.can_offer()
    hosts = "".join(
        f"<streamhost host='127.0.0.1' jid='{PROXY}' port='{7000 + i}'/>" for i in range(9)
    )
    h.receive(f"<iq type='result' id='{req.get('id')}' from='{PROXY}' to='{JULIET}'>"
              f"<query xmlns='{BYTESTREAMS}'>{hosts}</query></iq>")  # fmt: skip
    await h.settle()
    assert [x.port for x in s5b.proxies] == [7000, 7001, 7002, 7003]  # bounded
    await h.close()


class Listening:
    """A plain TCP port that counts who connects (a service on the
    device's network a peer might point a candidate at)."""

    def __init__(self) -> None:
        self.hits = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        async def serve(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.hits += 1
            w.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_peer_candidates_are_not_dialled_as_named(tmp_path: Path) -> None:
    """The SSRF hole: by default the device dials no direct candidate of the
    peer, no proxy it does not know, and a known proxy only at the address
    the proxy itself gave (never the host/port the peer claims for it)."""
    proxy = StreamHostServer()
    _host, pport = await proxy.start()
    inner, claimed, stranger = Listening(), Listening(), Listening()
    ports = [await x.start() for x in (inner, claimed, stranger)]
    h, _files = await make(tmp_path, pport)
    dst = j.candidate_dst("vj3hs98y", ROMEO, JULIET)
    at_proxy = proxy.expect(dst)
    transport = (
        f"<transport xmlns='{S5B}' dstaddr='{dst}' mode='tcp' sid='vj3hs98y'>"
        f"<candidate cid='c-direct' host='127.0.0.1' jid='{ROMEO}' port='{ports[0]}'"
        " priority='8257636' type='direct'/>"
        f"<candidate cid='c-assist' host='127.0.0.1' jid='{ROMEO}' port='{ports[0]}'"
        " priority='7929856' type='assisted'/>"
        f"<candidate cid='c-evil' host='127.0.0.1' jid='evil.example' port='{ports[2]}'"
        " priority='655370' type='proxy'/>"
        f"<candidate cid='c-proxy' host='127.0.0.1' jid='{PROXY}' port='{ports[1]}'"
        " priority='655360' type='proxy'/></transport>"
    )
    h.receive(offer().replace(f"<transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>",
                              transport))  # fmt: skip
    assert (await h.next_sent()).get("type") == "result"
    acc = await next_jingle(h)
    assert jingle_of(acc).get("action") == "session-accept"
    ack(h, acc)
    used = await sent_info(h)
    assert used.find(f"{{{S5B}}}candidate-used").get("cid") == "c-proxy"
    stream = await asyncio.wait_for(at_proxy, 5)  # reached where the proxy said it is
    assert (inner.hits, claimed.hits, stranger.hits) == (0, 0, 0)
    await stream.close()
    await h.close()
    for x in (inner, claimed, stranger):
        await x.close()
    await proxy.close()


async def test_initiator_does_not_dial_the_responders_direct_candidate(tmp_path: Path) -> None:
    """The same rule when the device offers a file: the direct candidate in
    Romeo's session-accept is not dialled (candidate-error); with
    ``dial_direct = true`` it is."""
    for dial, expect_hits in ((False, 0), (True, 1)):
        inner = Listening()
        port = await inner.start()
        h, files = await make(tmp_path, free_port(), dial_direct=dial)
        src = tmp_path / "export" / "r.bin"
        src.write_bytes(CONTENT)
        sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
        init = await h.next_sent()
        jj = jingle_of(init)
        sid, sid_t = jj.get("sid"), jj.find(f".//{{{S5B}}}transport").get("sid")
        name = jj.find(f"{{{JNS}}}content").get("name")
        ack(h, init)
        h.receive(jingle_action(
            sid, "session-accept",
            f"<content creator='initiator' name='{name}' senders='initiator'>"
            f"<transport xmlns='{S5B}' sid='{sid_t}'><candidate cid='d1' host='127.0.0.1'"
            f" jid='{ROMEO}' port='{port}' priority='8258636' type='direct'/>"
            "</transport></content>", id_="acc"))  # fmt: skip
        assert (await h.next_sent()).get("type") == "result"
        assert (await sent_info(h)).find(f"{{{S5B}}}candidate-error") is not None
        assert inner.hits == expect_hits
        sending.cancel()
        await h.close()
        await inner.close()


async def test_a_refused_initiate_leaves_no_session_behind(tmp_path: Path) -> None:
    """A session-initiate whose transport is malformed is answered
    bad-request, but the Jingle session made for it kept its pending timer (not
    counted by max_sessions) and sent a session-terminate for it later."""
    h, _files = await make(tmp_path, free_port(), clock=ManualClock())
    transport = (f"<transport xmlns='{S5B}' mode='tcp' sid='vj3hs98y'>"
                 f"<candidate cid='c1' host='127.0.0.1' jid='{ROMEO}' port='nope'"
                 " priority='8257636' type='direct'/></transport>")  # fmt: skip
    h.receive(offer().replace(f"<transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>",
                              transport))  # fmt: skip
    err = await h.next_sent()
    assert err.get("type") == "error" and err.find(".//{*}bad-request") is not None
    await h.advance(h.feature(Jingle).pending_timeout + 1)
    assert h.unread() == []  # no session-terminate for a session that never was
    await h.close()

"""XEP-0234 file transfer to and from the device, with the XEP's examples
(the S5B transport of the examples replaced by XEP-0261 IBB, and sha-1 by
sha-256 where the device must accept the offer)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb, decode_block
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import NS, NS_ERR, Files, sanitize
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xep.jingle.session import NS as JNS
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness

ROMEO = "romeo@montague.example/dr4hcr0st3lup4c"
JULIET = "juliet@capulet.example/yn0cl4bnw0yr3vym"
NURSE = "nurse@capulet.example/kitchen"
ACCESS = {"operator": ["romeo@montague.example"], "viewer": ["nurse@capulet.example"]}
IBB_NS = "http://jabber.org/protocol/ibb"
IBBT = "urn:xmpp:jingle:transports:ibb:1"
HASH = "urn:xmpp:hashes:2"
CONTENT = bytes(range(256)) * 24  # 6144 bytes, the size of the examples' test.txt


def b64hash(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def offer(
    data: bytes = CONTENT,
    name: str = "test.txt",
    sid: str = "851ba2",
    frm: str = ROMEO,
    hash_el: str | None = None,
    size: int | None = None,
    id_: str = "nzu25s8",
) -> str:
    hash_el = hash_el or f"<hash xmlns='{HASH}' algo='sha-256'>{b64hash(data)}</hash>"
    return f"""<iq from='{frm}' id='{id_}' to='{JULIET}' type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='{frm}' sid='{sid}'>
    <content creator='initiator' name='a-file-offer' senders='initiator'>
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file>
          <date>1969-07-21T02:56:15Z</date>
          <desc>This is a test. If this were a real file...</desc>
          <media-type>text/plain</media-type>
          <name>{name}</name>
          <range/>
          <size>{len(data) if size is None else size}</size>
          {hash_el}
        </file>
      </description>
      <transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>
    </content>
  </jingle>
</iq>"""


def make(tmp: Path, **files: Any) -> tuple[Harness, Files]:
    inbox, export = tmp / "inbox", tmp / "export"
    inbox.mkdir(exist_ok=True)
    export.mkdir(exist_ok=True)
    cfg = {"inbox": str(inbox), "export": [str(export)], "min_free": 0, **files}
    h = Harness([Ibb, Jingle, JingleIBB, Hashes, Files], ACCESS, jid=JULIET, files=cfg)
    return h, h.feature(Files)


def jingle_of(iq: Element) -> Element:
    j = iq.find(f"{{{JNS}}}jingle")
    assert j is not None, iq
    return j


def reason_of(iq: Element) -> tuple[str, list[str]]:
    j = jingle_of(iq)
    assert j.get("action") == "session-terminate", j.get("action")
    r = j.find(f"{{{JNS}}}reason")
    assert r is not None
    tags = [c.tag for c in r if c.tag != f"{{{JNS}}}text"]
    return tags[0].split("}")[1], tags[1:]


async def next_jingle(h: Harness) -> Element:
    """The next Jingle request the device sends (acks in between skipped)."""
    while True:
        iq = await h.next_sent()
        if iq.find(f"{{{JNS}}}jingle") is not None:
            return iq


def ack(h: Harness, iq: Element, frm: str = ROMEO) -> None:
    h.receive(f"<iq type='result' id='{iq.get('id')}' from='{frm}' to='{JULIET}'/>")


def jingle_action(sid: str, action: str, body: str, frm: str = ROMEO, id_: str = "t1") -> str:
    return (
        f"<iq from='{frm}' id='{id_}' to='{JULIET}' type='set'>"
        f"<jingle xmlns='{JNS}' action='{action}' sid='{sid}'>{body}</jingle></iq>"
    )


async def ibb_send(
    h: Harness, sid: str, data: bytes, block: int = 4096, close: bool = True, seq0: int = 0
) -> None:
    """The controller opens IBB ``sid`` and sends ``data`` (acks read)."""
    h.receive(
        f"<iq from='{ROMEO}' id='op-{sid}' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='{block}' sid='{sid}' stanza='iq'/></iq>"
    )
    assert (await h.next_sent()).get("type") == "result"
    for n, off in enumerate(range(0, len(data), block)):
        text = base64.b64encode(data[off : off + block]).decode()
        h.receive(
            f"<iq from='{ROMEO}' id='d{n}' to='{JULIET}' type='set'>"
            f"<data xmlns='{IBB_NS}' seq='{seq0 + n}' sid='{sid}'>{text}</data></iq>"
        )
        reply = await h.next_sent()
        assert reply.get("type") == "result", reply
    if close:
        h.receive(
            f"<iq from='{ROMEO}' id='cl-{sid}' to='{JULIET}' type='set'>"
            f"<close xmlns='{IBB_NS}' sid='{sid}'/></iq>"
        )


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


async def accepted(h: Harness, sid: str = "851ba2") -> Element:
    assert (await h.next_sent()).get("type") == "result"  # the ack of session-initiate
    acc = await h.next_sent()
    j = jingle_of(acc)
    assert (j.get("action"), j.get("sid"), j.get("responder")) == ("session-accept", sid, JULIET)
    ack(h, acc)
    return j


async def test_offer_received_verified_and_placed(tmp_path: Path) -> None:
    h, files = make(tmp_path)
    h.receive(offer())  # example 1, over IBB
    j = await accepted(h)  # examples 2-4
    f = j.find(f".//{{{NS}}}file")
    assert f.findtext(f"{{{NS}}}name") == "test.txt" and f.findtext(f"{{{NS}}}size") == "6144"
    assert f.find(f"{{{NS}}}range") is not None  # ranged transfers supported
    assert j.find(f".//{{{IBBT}}}transport").get("sid") == "vj3hs98y"
    await ibb_send(h, "vj3hs98y", CONTENT)
    term = await next_jingle(h)
    assert reason_of(term) == ("success", [])  # example: the receiver ends it
    inbox = tmp_path / "inbox"
    assert visible(inbox) == ["test.txt"]
    assert (inbox / "test.txt").read_bytes() == CONTENT
    assert list((inbox / ".partial").iterdir()) == []
    (res,) = files.received_files()
    assert res.ok and res.size == 6144 and res.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert res.peer == ROMEO and res.direction == "in"
    # a second offer of the same name gets a unique name
    h.receive(offer(b"second", sid="s2", id_="i2"))
    await accepted(h, "s2")
    await ibb_send(h, "vj3hs98y", b"second")
    assert reason_of(await next_jingle(h))[0] == "success"
    assert visible(inbox) == ["test-1.txt", "test.txt"]
    await h.close()


S5B_TRANSPORT = (
    "<transport xmlns='urn:xmpp:jingle:transports:s5b:1' mode='tcp' sid='vj3hs98y'>"
    f"<candidate cid='hft54dqy' host='192.168.4.1' jid='{ROMEO}' port='5086'"
    " priority='8257636' type='direct'/></transport>"
)


async def replaced_by_ibb(h: Harness, sid: str) -> Element:
    """The device knows no offered transport: it proposes IBB, the peer accepts."""
    assert (await h.next_sent()).get("type") == "result"
    replace = await h.next_sent()
    j = jingle_of(replace)
    assert j.get("action") == "transport-replace"
    t = j.find(f".//{{{IBBT}}}transport")
    ack(h, replace)
    h.receive(
        jingle_action(
            sid,
            "transport-accept",
            f"<content creator='initiator' name='a-file-offer'><transport xmlns='{IBBT}'"
            f" block-size='4096' sid='{t.get('sid')}'/></content>",
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    return t


async def test_example_offer_with_s5b_falls_back_to_ibb(tmp_path: Path) -> None:
    # XEP-0234 example 1 as sent (SOCKS5 candidates), with a sha-256 hash
    h, _files = make(tmp_path)
    h.receive(offer().replace(f"<transport xmlns='{IBBT}' block-size='4096' sid='vj3hs98y'/>",
                              S5B_TRANSPORT))  # fmt: skip
    t = await replaced_by_ibb(h, "851ba2")
    acc = await h.next_sent()
    j = jingle_of(acc)
    assert j.get("action") == "session-accept"
    assert j.find(f".//{{{IBBT}}}transport").get("sid") == t.get("sid")
    ack(h, acc)
    await ibb_send(h, t.get("sid"), CONTENT)
    assert reason_of(await next_jingle(h))[0] == "success"
    assert (tmp_path / "inbox" / "test.txt").read_bytes() == CONTENT
    await h.close()


async def test_sha1_alone_is_not_accepted(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    # the example's own sha-1 hash
    h.receive(
        offer(hash_el=f"<hash xmlns='{HASH}' algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>")
    )
    assert (await h.next_sent()).get("type") == "result"
    assert reason_of(await next_jingle(h))[0] == "security-error"  # before any data
    await h.close()


async def test_hash_mismatch_never_appears(tmp_path: Path) -> None:
    h, files = make(tmp_path)
    h.receive(offer(hash_el=f"<hash xmlns='{HASH}' algo='sha-256'>{b64hash(b'other')}</hash>"))
    await accepted(h)
    await ibb_send(h, "vj3hs98y", CONTENT)
    assert reason_of(await next_jingle(h))[0] == "media-error"
    inbox = tmp_path / "inbox"
    assert visible(inbox) == [] and list((inbox / ".partial").iterdir()) == []
    assert files.received_files() == []
    await h.close()


async def test_too_large_and_no_space(tmp_path: Path) -> None:
    h, _files = make(tmp_path, max_size=1000)
    h.receive(offer())
    assert (await h.next_sent()).get("type") == "result"
    reason, extra = reason_of(await next_jingle(h))
    assert (reason, extra) == ("media-error", [f"{{{NS_ERR}}}file-too-large"])
    await h.close()
    h, _files = make(tmp_path, min_free=1 << 62)
    h.receive(offer())
    assert (await h.next_sent()).get("type") == "result"
    assert reason_of(await next_jingle(h))[0] == "media-error"
    await h.close()


async def test_more_data_than_offered_is_refused(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer(size=4096))  # 6144 bytes come, their hash over 6144
    await accepted(h)
    await ibb_send(h, "vj3hs98y", CONTENT[:4096], close=False)
    assert reason_of(await next_jingle(h))[0] == "media-error"
    await h.close()
    assert visible(tmp_path / "inbox") == []
    assert list((tmp_path / "inbox" / ".partial").iterdir()) == []


async def test_viewer_may_not_put(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer(frm=NURSE))
    assert (await h.next_sent()).get("type") == "result"
    assert reason_of(await next_jingle(h))[0] == "security-error"
    await h.close()


async def test_stranger_offer_is_refused(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer(frm="eve@evil.example/x"))
    reply = await h.next_sent()
    assert reply.get("type") == "error" and "service-unavailable" in h.sent_xml[-1]
    await h.close()


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        (".bashrc", "bashrc"),
        ("..", "file"),
        ("a\x1b[31mb\u202ec.txt", "a[31mbc.txt"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("/", "file"),
    ],
)
def test_sanitize(name: str, safe: str) -> None:
    assert sanitize(name) == safe


async def test_cut_off_transfer_resumes_with_a_range(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer())
    await accepted(h)
    await ibb_send(h, "vj3hs98y", CONTENT[:4096], close=False)
    # the controller goes away mid-transfer
    h.receive(f"<presence from='{ROMEO}' type='unavailable'/>")
    await h.settle(20)
    inbox = tmp_path / "inbox"
    assert visible(inbox) == []
    (part,) = (inbox / ".partial").iterdir()
    assert part.read_bytes() == CONTENT[:4096]
    assert h.feature(Jingle).sessions() == [] and h.feature(Ibb).streams() == []
    # the same file offered again: accepted from where it stopped
    h.receive(offer(sid="again", id_="i2"))
    j = await accepted(h, "again")
    r = j.find(f".//{{{NS}}}range")
    assert r.get("offset") == "4096"
    await ibb_send(h, "vj3hs98y", CONTENT[4096:])
    assert reason_of(await next_jingle(h))[0] == "success"
    assert (inbox / "test.txt").read_bytes() == CONTENT
    assert list((inbox / ".partial").iterdir()) == []
    await h.close()


async def test_old_partials_are_dropped(tmp_path: Path) -> None:
    h, _files = make(tmp_path, partial_max_age=60)
    part = tmp_path / "inbox" / ".partial"
    part.mkdir()
    stale = part / "0123.part"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    h.receive(offer())
    await accepted(h)
    assert not stale.exists()
    await h.close()


async def test_checksum_in_session_info(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer(hash_el=f"<hash-used xmlns='{HASH}' algo='sha-256'/>"))
    await accepted(h)
    await ibb_send(h, "vj3hs98y", CONTENT)
    await h.settle(10)
    h.receive(  # example: the initiator sends the checksum in session-info
        jingle_action(
            "851ba2",
            "session-info",
            f"<checksum xmlns='{NS}' creator='initiator' name='a-file-offer'><file>"
            f"<hash xmlns='{HASH}' algo='sha-256'>{b64hash(CONTENT)}</hash></file></checksum>",
            id_="kqh401b5",
        )
    )
    while (await h.next_sent()).get("id") != "kqh401b5":
        pass
    assert reason_of(await next_jingle(h))[0] == "success"
    assert visible(tmp_path / "inbox") == ["test.txt"]
    await h.close()


def request(name: str, sid: str = "uj3b2", frm: str = ROMEO, rng: str = "") -> str:
    return f"""<iq from='{frm}' id='wsn361c3' to='{JULIET}' type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='{frm}' sid='{sid}'>
    <content creator='initiator' name='a-file-request' senders='responder'>
      <description xmlns='urn:xmpp:jingle:apps:file-transfer:5'>
        <file><name>{name}</name>{rng}</file>
      </description>
      <transport xmlns='{IBBT}' block-size='4096' sid='xig361fj'/>
    </content>
  </jingle>
</iq>"""


async def fetch(h: Harness, sid: str = "uj3b2") -> tuple[Element, bytes]:
    """The controller's side of a request: open IBB, collect what the device sends."""
    j = await accepted(h, sid)
    h.receive(
        f"<iq from='{ROMEO}' id='op' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='4096' sid='xig361fj' stanza='iq'/></iq>"
    )
    assert (await h.next_sent()).get("type") == "result"
    got = b""
    while True:
        iq = await h.next_sent()
        ack(h, iq)
        if iq.find(f"{{{IBB_NS}}}close") is not None:
            return j, got
        got += decode_block(iq.find(f"{{{IBB_NS}}}data").text)


async def test_request_from_export(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    (tmp_path / "export" / "logs").mkdir()
    (tmp_path / "export" / "logs" / "app.log").write_bytes(CONTENT)
    h.receive(request("logs/app.log"))  # example 5, by name, over IBB
    j, got = await fetch(h)
    f = j.find(f".//{{{NS}}}file")
    assert f.findtext(f"{{{NS}}}size") == "6144"
    assert f.find(f"{{{HASH}}}hash").text == b64hash(CONTENT)
    assert got == CONTENT
    h.receive(jingle_action("uj3b2", "session-terminate", "<reason><success/></reason>"))
    assert (await h.next_sent()).get("type") == "result"
    await h.close()


async def test_ranged_request(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    (tmp_path / "export" / "big.bin").write_bytes(CONTENT)
    h.receive(request("big.bin", rng="<range offset='2048' length='1024'/>"))
    _j, got = await fetch(h)
    assert got == CONTENT[2048:3072]
    await h.close()


@pytest.mark.parametrize("name", ["../secret.txt", "link.txt", "/etc/hostname", "missing", "."])
async def test_request_outside_exports_is_refused(tmp_path: Path, name: str) -> None:
    h, _files = make(tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "export" / "link.txt").symlink_to(tmp_path / "secret.txt")
    h.receive(request(name))
    assert (await h.next_sent()).get("type") == "result"
    reason, extra = reason_of(await next_jingle(h))
    assert (reason, extra) == ("failed-application", [f"{{{NS_ERR}}}file-not-available"])
    assert not any(iq.find(f"{{{IBB_NS}}}data") is not None for iq in h.unread())
    await h.close()


async def test_offer_file_api(tmp_path: Path) -> None:
    h, files = make(tmp_path)
    src = tmp_path / "export" / "report.csv"
    src.write_bytes(CONTENT)
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    j = jingle_of(init)
    assert (j.get("action"), j.get("initiator")) == ("session-initiate", JULIET)
    c = j.find(f"{{{JNS}}}content")
    assert c.get("senders") == "initiator"
    f = c.find(f".//{{{NS}}}file")
    assert f.findtext(f"{{{NS}}}name") == "report.csv"
    assert f.find(f"{{{HASH}}}hash").get("algo") == "sha-256"
    t = c.find(f"{{{IBBT}}}transport")
    ack(h, init)
    sid = j.get("sid")
    # the receiver accepts, asking for the rest of a partial copy it has
    h.receive(
        jingle_action(
            sid,
            "session-accept",
            f"<content creator='initiator' name='a-file-offer' senders='initiator'>"
            f"<description xmlns='{NS}'><file><range offset='6000'/></file></description>"
            f"<transport xmlns='{IBBT}' block-size='4096' sid='{t.get('sid')}'/></content>",
        ).replace("a-file-offer", "file-offer")
    )
    assert (await h.next_sent()).get("type") == "result"
    op = await h.next_sent()
    assert op.find(f"{{{IBB_NS}}}open").get("sid") == t.get("sid")
    ack(h, op)
    d = await h.next_sent()
    assert decode_block(d.find(f"{{{IBB_NS}}}data").text) == CONTENT[6000:]
    ack(h, d)
    ack(h, await h.next_sent())  # IBB close
    h.receive(jingle_action(sid, "session-terminate", "<reason><success/></reason>"))
    res = await asyncio.wait_for(sending, 2)
    assert res.ok and res.reason == "success" and res.transferred == 144
    assert res.direction == "out" and res.sha256 == hashlib.sha256(CONTENT).hexdigest()
    with pytest.raises(PermissionError):
        await files.offer_file("eve@evil.example/x", src)
    (tmp_path / "private").write_text("no")
    for outside in (tmp_path / "private", tmp_path / "export" / ".." / "private"):
        with pytest.raises(PermissionError):
            await files.offer_file(ROMEO, outside)
    await h.close()


async def test_offer_file_declined(tmp_path: Path) -> None:
    h, files = make(tmp_path)
    src = tmp_path / "export" / "r.txt"
    src.write_bytes(b"x")
    sending = asyncio.ensure_future(files.offer_file(ROMEO, src))
    init = await h.next_sent()
    ack(h, init)
    h.receive(
        jingle_action(
            jingle_of(init).get("sid"), "session-terminate", "<reason><decline/></reason>"
        )
    )
    res = await asyncio.wait_for(sending, 2)
    assert not res.ok and res.reason == "decline"
    await h.close()


async def test_the_same_file_twice_at_once_is_busy(tmp_path: Path) -> None:
    h, _files = make(tmp_path)
    h.receive(offer())
    await accepted(h)
    h.receive(offer(sid="twin", id_="i2"))
    assert (await h.next_sent()).get("type") == "result"
    assert reason_of(await next_jingle(h))[0] == "busy"
    await ibb_send(h, "vj3hs98y", CONTENT)  # the first one still completes
    assert reason_of(await next_jingle(h))[0] == "success"
    assert visible(tmp_path / "inbox") == ["test.txt"]
    await h.close()


def test_config_keys_are_checked() -> None:
    from stanzalink.agent import parse_config
    from stanzalink.config import ConfigError

    base = {"account": {"jid": "d@example.net", "password": "x"}}
    cfg = parse_config({**base, "files": {"role_put": "admin", "max_size": 10, "min_free": 0}})
    assert cfg.section("files")["role_put"] == "admin"
    with pytest.raises(ConfigError, match=r"files\.role_get"):
        parse_config({**base, "files": {"role_get": "root"}})
    with pytest.raises(ConfigError, match=r"files\.max_size"):
        parse_config({**base, "files": {"max_size": -1}})


async def test_a_partial_file_is_resumed_only_by_the_account_that_sent_it(
    tmp_path: Path,
) -> None:
    """Partial files were keyed by the file's hash alone: another controller
    offering a file with that hash was told how much of it someone else had
    uploaded (the range offset) and could finish that upload.  The key
    includes the sender's account now."""
    tybalt = "tybalt@capulet.example/sword"
    inbox, export = tmp_path / "inbox", tmp_path / "export"
    inbox.mkdir()
    export.mkdir()
    access = {"operator": ["romeo@montague.example", "tybalt@capulet.example"]}
    cfg = {"inbox": str(inbox), "export": [str(export)], "min_free": 0}
    h = Harness([Ibb, Jingle, JingleIBB, Hashes, Files], access, jid=JULIET, files=cfg)
    h.receive(offer())
    await accepted(h)
    await ibb_send(h, "vj3hs98y", CONTENT[:4096], close=False)
    h.receive(f"<presence from='{ROMEO}' type='unavailable'/>")
    await h.settle(20)
    (part,) = (inbox / ".partial").iterdir()
    h.receive(offer(sid="other", id_="t2", frm=tybalt))
    assert (await h.next_sent()).get("type") == "result"
    acc = await next_jingle(h)
    r = jingle_of(acc).find(f".//{{{NS}}}range")
    assert r is not None and r.get("offset") is None  # from the start: nothing told
    assert part.read_bytes() == CONTENT[:4096]  # romeo's partial untouched
    await h.close()


async def test_repeated_requests_hash_an_unchanged_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request (a viewer may make them) read and hashed the whole file
    again before answering: four sessions per account and sixteen in all
    kept the disk and CPU busy with a large export.  An unchanged file is
    hashed once; a changed one again."""
    from stanzalink.xep.jingle import file_transfer as ft

    calls: list[Path] = []
    real = ft.hashes.hash_file

    def counting(path: Path, algo: str) -> str:
        calls.append(path)
        return real(path, algo)

    monkeypatch.setattr(ft.hashes, "hash_file", counting)
    h, _files = make(tmp_path)
    log = tmp_path / "export" / "app.log"
    log.write_bytes(CONTENT)
    for i in range(3):
        if i == 2:
            log.write_bytes(CONTENT[::-1])
            os.utime(log, ns=(10**18, 10**18 + i))
        h.receive(request("app.log", sid=f"r{i}"))
        j, got = await fetch(h, f"r{i}")
        assert got == (CONTENT if i < 2 else CONTENT[::-1])
        assert j.find(f".//{{{HASH}}}hash").text == b64hash(got)
        h.receive(jingle_action(f"r{i}", "session-terminate", "<reason><success/></reason>"))
        assert (await h.next_sent()).get("type") == "result"
    assert len(calls) == 2
    await h.close()

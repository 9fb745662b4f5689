"""Files in the console, in conversation: ``get``/``ls``/``inbox``/``put``
typed in a chat, a :class:`FileOffer` from a plugin command and from an
ad-hoc command, and the refusals (traversal, symlinks, not exported, role,
a client without Jingle file transfer).  The controller's client is played
by :class:`Client`: it answers disco#info, accepts the Jingle offer, takes
the IBB stream and ends the session once the hash matches."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from stanzalink.commands import FileOffer, Invocation, Registry
from stanzalink.commands import files as filecmds
from stanzalink.console.feature import Console
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.hashes import Hashes
from stanzalink.xep.ibb import Ibb, decode_block
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_transfer import NS as FT
from stanzalink.xep.jingle.file_transfer import Files
from stanzalink.xep.jingle.ibb import JingleIBB
from stanzalink.xep.jingle.session import NS as JNS
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness
from tests.console.conftest import check_formatted
from tests.xep.jingle.test_file_transfer import (
    JULIET,
    ROMEO,
    accepted,
    ibb_send,
    next_jingle,
    offer,
)

ALICE = "alice@example.net/laptop"
VICTOR = "victor@example.net/phone"
ACCESS = {
    "admin": ["alice@example.net"],
    "operator": ["romeo@montague.example"],
    "viewer": ["victor@example.net"],
}
IBB = "http://jabber.org/protocol/ibb"
IBBT = "urn:xmpp:jingle:transports:ibb:1"
INFO = "http://jabber.org/protocol/disco#info"
CMD = "http://jabber.org/protocol/commands"
FILE_STACK = [Ibb, Jingle, JingleIBB, Hashes, Files]


class Client:
    """The asker's chat client, as far as the device can see it."""

    def __init__(self, h: Harness, jid: str = ALICE, disco: str = "jingle") -> None:
        self.h, self.jid, self.disco = h, jid, disco
        # the clients on this harness: a stanza for another one goes to it
        self.others: dict[str, Client] = h.__dict__.setdefault("clients", {})
        self.others[jid] = self
        self.data = bytearray()
        self.offered: dict[str, str] = {}
        self.terminated: str | None = None
        self.stall = False  # stop acknowledging data (a slow transfer)
        self.formatted = True  # console messages carry XHTML-IM; ad-hoc ones do not

    def send(self, xml: str) -> None:
        self.h.receive(xml)

    def ack(self, iq: Element) -> None:
        self.send(f"<iq type='result' id='{iq.get('id')}' from='{self.jid}' to='{JULIET}'/>")

    async def message(self, timeout: float = 5.0) -> str:
        """Play the client until the device sends a chat message; its body."""
        while True:
            st = await self.h.next_sent(timeout)
            if st.get("to") != self.jid:
                await self.others[st.get("to") or ""].handle(st)
            elif st.tag == "{jabber:client}message":
                if self.formatted:
                    check_formatted(st)
                return st.findtext("{jabber:client}body") or ""
            else:
                await self.handle(st)

    async def handle(self, st: Element) -> None:
        if st.get("to") != self.jid:
            await self.others[st.get("to") or ""].handle(st)
            return
        if st.tag != "{jabber:client}iq" or st.get("type") not in ("get", "set"):
            return  # the device's answers to our IQs
        if st.find(f"{{{INFO}}}query") is not None:
            self.disco_answer(st)
            return
        j = st.find(f"{{{JNS}}}jingle")
        if j is not None:
            self.ack(st)
            if j.get("action") == "session-initiate":
                self.accept(j)
            elif j.get("action") == "session-terminate":
                r = j.find(f"{{{JNS}}}reason")
                self.terminated = next(iter(r)).tag.split("}")[1] if r is not None else ""
            return
        d = st.find(f"{{{IBB}}}data")
        if d is not None:
            self.data += decode_block(d.text or "")
            if not self.stall:
                self.ack(st)
            return
        self.ack(st)  # IBB open
        if st.find(f"{{{IBB}}}close") is not None:
            ok = base64.b64encode(hashlib.sha256(self.data).digest()).decode()
            reason = "success" if ok == self.offered["hash"] else "media-error"
            self.send(
                f"<iq from='{self.jid}' id='end' to='{JULIET}' type='set'>"
                f"<jingle xmlns='{JNS}' action='session-terminate' sid='{self.offered['sid']}'>"
                f"<reason><{reason}/></reason></jingle></iq>"
            )

    def disco_answer(self, iq: Element) -> None:
        if self.disco == "offline":
            self.send(
                f"<iq type='error' id='{iq.get('id')}' from='{self.jid}' to='{JULIET}'>"
                "<error type='cancel'><service-unavailable"
                " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )
            return
        feats = ["http://jabber.org/protocol/disco#info", "urn:xmpp:jingle:1"]
        if self.disco == "jingle":
            feats += [FT, IBBT]
        vars_ = "".join(f"<feature var='{f}'/>" for f in feats)
        self.send(
            f"<iq type='result' id='{iq.get('id')}' from='{self.jid}' to='{JULIET}'>"
            f"<query xmlns='{INFO}'><identity category='client' type='pc'/>{vars_}</query></iq>"
        )

    def accept(self, j: Element) -> None:
        c = j.find(f"{{{JNS}}}content")
        assert c is not None and c.get("senders") == "initiator"
        f = c.find(f".//{{{FT}}}file")
        t = c.find(f"{{{IBBT}}}transport")
        assert f is not None and t is not None
        h = f.find("{urn:xmpp:hashes:2}hash")
        assert h is not None and h.get("algo") == "sha-256"
        self.offered = {
            "sid": j.get("sid") or "",
            "name": f.findtext(f"{{{FT}}}name") or "",
            "size": f.findtext(f"{{{FT}}}size") or "",
            "hash": h.text or "",
        }
        self.send(
            f"<iq from='{self.jid}' id='acc' to='{JULIET}' type='set'>"
            f"<jingle xmlns='{JNS}' action='session-accept' sid='{self.offered['sid']}'"
            f" responder='{self.jid}'><content creator='initiator' name='{c.get('name')}'"
            f" senders='initiator'><description xmlns='{FT}'><file/></description>"
            f"<transport xmlns='{IBBT}' block-size='4096' sid='{t.get('sid')}'/>"
            "</content></jingle></iq>"
        )


def chat(h: Harness, text: str, frm: str = ALICE) -> None:
    h.receive(
        f"<message from='{frm}' to='{JULIET}' type='chat'><body>{escape(text)}</body></message>"
    )


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    export, inbox = tmp_path / "export", tmp_path / "inbox"
    (export / "sub").mkdir(parents=True)
    inbox.mkdir()
    (export / "app.log").write_bytes(os.urandom(256 * 1024))
    (export / "sub" / "deep.txt").write_text("deep\n")
    (tmp_path / "secret").write_text("not for you\n")
    (export / "escape").symlink_to(tmp_path / "secret")  # leads outside
    (export / "inner").symlink_to(export / "sub" / "deep.txt")  # stays inside
    (export / "outdir").symlink_to(tmp_path, target_is_directory=True)  # a folder outside
    return {"root": tmp_path, "export": export, "inbox": inbox}


# the plugin fixture's commands, added to every device of its test
PLUGIN: list[Registry] = []


def device(tree: dict[str, Path], *extra: type[Any], **files: Any) -> Harness:
    cfg = {"inbox": str(tree["inbox"]), "export": [str(tree["export"])], "min_free": 0, **files}
    return with_plugin(Harness([Console, *extra, *FILE_STACK], ACCESS, jid=JULIET, files=cfg))


def with_plugin(h: Harness) -> Harness:
    for reg in PLUGIN:
        for cmd in reg.all():
            h.agent.commands.add(cmd)
    return h


async def first(h: Harness, text: str, frm: str = ALICE) -> Client:
    """First contact: the banner is read; the client for ``frm``."""
    c = Client(h, frm)
    chat(h, text, frm)
    assert "You are" in await c.message()
    return c


# ------------------------------------------------------------------ get
async def test_get_sends_an_exported_file_with_progress(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filecmds, "PROGRESS_INTERVAL", 0.0)
    h = device(tree)
    c = await first(h, "get app.log")
    size = (tree["export"] / "app.log").stat().st_size
    assert await c.message() == f"sending app.log ({size} bytes, 256.0 KiB)"
    # the file goes out in 64 KiB pieces: a line at each quarter
    assert await c.message() == "app.log: 25 % (64.0 KiB of 256.0 KiB)"
    assert await c.message() == "app.log: 50 % (128.0 KiB of 256.0 KiB)"
    assert await c.message() == "app.log: 75 % (192.0 KiB of 256.0 KiB)"
    done = await c.message()
    data = (tree["export"] / "app.log").read_bytes()
    assert bytes(c.data) == data
    assert c.offered["name"] == "app.log" and c.offered["size"] == str(size)
    sha = hashlib.sha256(data).hexdigest()
    assert done.startswith(f"sent app.log ({size} bytes, sha-256 {sha[:16]}…) in ")
    # an absolute path inside the export and a link that stays inside work too
    for line, content in ((f"get {tree['export']}/sub/deep.txt", b"deep\n"), ("get inner", None)):
        c.data.clear()
        chat(h, line)
        assert (await c.message()).startswith("sending ")
        assert (await c.message()).startswith("sent ")
        assert bytes(c.data) == (content or b"deep\n")
    await h.close()


async def test_get_refusals(tree: dict[str, Path]) -> None:
    h = device(tree, role_get="admin")
    c = await first(h, "get nope.log")
    assert await c.message() == "nope.log: not found under the export paths"
    answers = {
        "get ../secret": "../secret: not exported (send ls for what may be fetched)",
        "get /etc/passwd": "/etc/passwd: not exported (send ls for what may be fetched)",
        "get sub/../../secret": "sub/../../secret: not exported (send ls for what may be fetched)",
        "get escape": "escape: not exported (it leads outside the export paths,"
        " or is not a regular file)",
        "get sub": "sub: not exported (it leads outside the export paths,"
        " or is not a regular file)",
        # through a symlinked folder: the same answer whether the file exists or not
        "get outdir/secret": "outdir/secret: not exported (it leads outside the export"
        " paths, or is not a regular file)",
        "get outdir/nothing": "outdir/nothing: not exported (it leads outside the export"
        " paths, or is not a regular file)",
    }
    for line, answer in answers.items():
        chat(h, line)
        assert await c.message() == answer
    # role_get = admin: a viewer is refused before anything is looked up
    v = await first(h, "get app.log", VICTOR)
    assert await v.message() == "get: needs role admin (you are viewer)"
    chat(h, "ls", VICTOR)
    assert await v.message() == "ls: needs role admin (you are viewer)"
    assert h.unread() == [] and c.data == bytearray()  # no disco, no offer went out
    await h.close()


async def test_a_client_without_jingle_or_offline_is_told(tree: dict[str, Path]) -> None:
    h = device(tree)
    c = await first(h, "get sub/deep.txt")
    c.disco = "plain"
    assert await c.message() == (
        f"{ALICE} does not announce Jingle file transfer ({FT}):"
        " use a client that does (Gajim, Conversations, Dino)"
    )
    c.disco = "offline"
    chat(h, "get sub/deep.txt")
    assert await c.message() == f"{ALICE} is offline or unreachable (service-unavailable)"
    assert c.offered == {}
    await h.close()


async def test_cancel_ends_a_running_transfer(tree: dict[str, Path]) -> None:
    h = device(tree)
    c = await first(h, "get app.log")
    c.stall = True  # the client stops acknowledging: the transfer hangs
    assert (await c.message()).startswith("sending app.log")
    while not c.data:
        await c.handle(await h.next_sent())
    # another controller is not held up meanwhile
    v = await first(h, "version", VICTOR)
    assert "stanzalink: " in await v.message()
    # beyond the Jingle limit per peer, a second transfer is refused here
    h.feature(Jingle).max_per_peer = 1
    chat(h, "get sub/deep.txt")
    assert (await c.message()).startswith("sending deep.txt")
    assert await c.message() == "deep.txt: not sent (too many transfers at once)"
    chat(h, "cancel")
    assert await c.message() == "Cancelled: get."
    while c.terminated is None:
        await c.handle(await h.next_sent())
    assert c.terminated == "cancel"
    assert h.feature(Jingle).sessions() == []
    await h.close()


# ------------------------------------------------------------------ ls, inbox, put
async def test_ls_lists_only_what_may_be_fetched(tree: dict[str, Path]) -> None:
    h = device(tree)
    c = await first(h, "ls")
    listing = await c.message()
    ex = tree["export"]
    names = [ln.split()[0] for ln in listing.split("\n") if ln.startswith(str(ex))]
    assert names == [f"{ex}/app.log", f"{ex}/inner", f"{ex}/sub/"]  # not the escaping link
    assert "256.0 KiB" in listing and "Send get NAME to receive one." in listing
    chat(h, "files sub")
    assert f"{ex}/sub/deep.txt  5 B" in await c.message()
    for line, answer in {
        "ls ..": "..: not exported (send ls for what may be fetched)",
        "ls missing": "missing: not found under the export paths",
        "ls escape": "escape: not exported (it leads outside the export paths, or is not a folder)",
    }.items():
        chat(h, line)
        assert await c.message() == answer
    await h.close()


async def test_put_explains_and_inbox_lists_what_arrived(tree: dict[str, Path]) -> None:
    h = device(tree, max_size=1 << 20)
    c = await first(h, "put")
    answer = await c.message()
    assert "how: send a file to this chat from your client" in answer
    assert f"to: {JULIET}" in answer and "largest file: 1.0 MiB" in answer
    assert "free space: " in answer
    chat(h, "inbox")
    assert await c.message() == f"nothing received since the agent started (inbox: {tree['inbox']})"
    # romeo (operator) puts a file from his client
    h.receive(offer(b"hello device\n", name="note.txt"))
    await accepted(h)
    await ibb_send(h, "vj3hs98y", b"hello device\n")
    term = await next_jingle(h)
    assert term.find(f".//{{{JNS}}}success") is not None
    chat(h, "inbox")
    listing = await c.message()
    sha = hashlib.sha256(b"hello device\n").hexdigest()[:16]
    assert f"note.txt  13 B  {ROMEO}" in listing and sha in listing
    v = await first(h, "inbox", VICTOR)  # role_put is operator
    assert await v.message() == "inbox: needs role operator (you are viewer)"
    await h.close()


# ------------------------------------------------------------------ FileOffer
@pytest.fixture
def plugin(tree: dict[str, Path]) -> Iterator[dict[str, Path]]:
    """A plugin's commands: one producing its own file outside the exports,
    one returning an exported path, one returning a path it must not."""
    made = tree["root"] / "made"
    made.mkdir()
    registry = Registry()
    PLUGIN.append(registry)

    @registry.command("bundle", help="a file of the plugin's own")
    def bundle(inv: Invocation) -> list[Any]:
        p = made / "bundle.txt"
        p.write_text("diagnostics\n")
        return ["bundle written", FileOffer(str(p), "diagnostics", own=True, delete=True)]

    @registry.command("leak", help="a path outside the exports, not marked own")
    def leak(inv: Invocation) -> FileOffer:
        return FileOffer(str(tree["root"] / "secret"))

    @registry.command("linked", help="an own file that is a symlink")
    def linked(inv: Invocation) -> FileOffer:
        link = made / "link"
        if not link.exists():
            link.symlink_to(tree["root"] / "secret")
        return FileOffer(str(link), own=True)

    yield {"made": made}
    PLUGIN.clear()


async def test_file_offer_from_a_plugin(tree: dict[str, Path], plugin: dict[str, Path]) -> None:
    h = device(tree)
    c = await first(h, "bundle")
    assert await c.message() == "bundle written"
    assert await c.message() == "sending bundle.txt (12 bytes, 12 B)"
    assert (await c.message()).startswith("sent bundle.txt (12 bytes")
    assert bytes(c.data) == b"diagnostics\n"
    assert list(plugin["made"].iterdir()) == []  # delete=True: removed after sending
    chat(h, "leak")
    assert (await c.message()).endswith("secret: not exported (send ls for what may be fetched)")
    chat(h, "linked")
    assert await c.message() == "link: not a regular file, not sent"
    assert c.data == b"diagnostics\n"  # nothing else went out
    await h.close()


async def test_file_offer_needs_the_files_feature(plugin: dict[str, Path]) -> None:
    h = with_plugin(Harness([Console], ACCESS, jid=JULIET))
    c = await first(h, "bundle")
    assert await c.message() == "bundle written"
    assert await c.message() == (
        "bundle.txt not sent: file transfer is not running on this device"
        " (the files feature is off)"
    )
    assert list(plugin["made"].iterdir()) == []  # delete=True: removed anyway
    chat(h, "get x")
    assert await c.message() == (
        "file transfer is not running on this device (the files feature is off)"
    )
    await h.close()


async def test_file_offer_from_an_ad_hoc_command(
    tree: dict[str, Path], plugin: dict[str, Path]
) -> None:
    h = device(tree, AdHoc)
    c = Client(h)
    c.formatted = False

    async def run(node: str, args: str = "") -> list[tuple[str | None, str | None]]:
        h.receive(
            f"<iq type='set' id='x-{node}' from='{ALICE}' to='{JULIET}'>"
            f"<command xmlns='{CMD}' node='{node}' action='execute'>{args}</command></iq>"
        )
        while (reply := await h.next_sent()).get("id") != f"x-{node}":
            await c.handle(reply)  # the disco#info query may come first
        assert reply.get("type") == "result", reply
        return [(n.get("type"), n.text) for n in reply.iter(f"{{{CMD}}}note")]

    assert await run("bundle") == [
        ("info", "bundle written"),
        ("info", "sending bundle.txt (12 bytes)"),
    ]
    assert (await c.message()).startswith("bundle: sent bundle.txt (12 bytes, sha-256 ")
    assert bytes(c.data) == b"diagnostics\n"
    form = (
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='path'><value>sub/deep.txt</value></field></x>"
    )
    c.data.clear()
    assert await run("get", form) == [("info", "sending deep.txt (5 bytes)")]
    assert (await c.message()).startswith("get: sent deep.txt (5 bytes")
    assert bytes(c.data) == b"deep\n"
    assert await run("leak") == [
        ("error", f"{tree['root']}/secret: not exported (send ls for what may be fetched)")
    ]
    await h.close()


async def test_the_diag_example_plugin_sends_its_bundle(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys
    import tarfile

    monkeypatch.setattr("tempfile.tempdir", str(tree["root"]))
    log = tree["root"] / "agent.log"
    log.write_text("INFO started\nERROR something broke\n")
    plugin = Path(__file__).parents[2] / "examples" / "plugins" / "diag.py"
    cfg = {"inbox": str(tree["inbox"]), "export": [str(tree["export"])], "min_free": 0}
    h = Harness(
        [Console, *FILE_STACK],
        ACCESS,
        jid=JULIET,
        files=cfg,
        console={"plugins": [str(plugin)], "log_file": str(log)},
    )
    try:
        c = await first(h, "diag", ROMEO)  # operator
        assert await c.message() == "diag: collecting"
        summary = await c.message()
        assert summary.startswith("*diag*\nbundle: diag-") and "summary.txt" in summary
        assert (await c.message()).startswith("sending diag-")
        assert (await c.message()).startswith("sent diag-")
        with tarfile.open(fileobj=io.BytesIO(bytes(c.data)), mode="r:gz") as tar:
            names = tar.getnames()
            got = tar.extractfile("diag/log/agent.log")
            assert got is not None and b"ERROR something broke" in got.read()
        assert "diag/summary.txt" in names and "diag/proc/meminfo" in names
        assert [p.name for p in tree["root"].glob("diag-*")] == []  # removed once sent
        v = await first(h, "diag", VICTOR)  # a viewer: told the role it needs
        assert await v.message() == "diag: needs role operator (you are viewer)"
    finally:
        await h.close()
        for name in [m for m in sys.modules if m.startswith("stanzalink_plugin_") and "diag" in m]:
            del sys.modules[name]

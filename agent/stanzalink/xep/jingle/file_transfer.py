"""XEP-0234 Jingle File Transfer (with XEP-0300 hashes): controllers put
files on the device and get files from it, over any Jingle transport
(IBB by default, XEP-0261).

Receiving (a controller's offer, or our own request): the bytes go to a
temporary file in ``<inbox>/.partial/``, the XEP-0300 hash (sha-256 or
stronger; sha-1 alone is refused) is checked, the file is fsync'ed and
then renamed into the inbox under a sanitised, unique name.  A file whose
hash does not match never appears.  Size (``max_size``) and free space
(``min_free``) are checked at the offer and while receiving.  A transfer cut
off mid-way keeps its partial file (hidden, at most ``partial_max_age``
seconds): an offer of the same hash from the same account later is accepted with
``<range offset='N'/>`` and only the rest is transferred.

Sending (a controller's request, or :meth:`Files.offer_file`): only regular
files under the ``export`` paths, after resolving ``..`` and symlinks; a
request outside them gets the same answer as a missing file.  Ranged
requests (``<range offset length/>``) are honoured.

Roles: putting a file needs ``role_put`` (operator), getting one
``role_get`` (viewer); a controller with less is answered with a
session-terminate of reason ``security-error``.  Strangers never get here:
the agent's gate answers ``service-unavailable``.

The ``<file/>`` description and the result records are
:mod:`stanzalink.xep.jingle.file_description`.

Console API: ``await files.offer_file(to_full_jid, path) -> TransferResult``
(only files under the exports),
``await files.request_file(from_full_jid, name, dest_dir)``,
``files.received_files() -> list[TransferResult]``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import shutil
import stat
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from stanzalink.access import Role
from stanzalink.xep import hashes
from stanzalink.xep.base import Feature
from stanzalink.xep.files_config import FILES
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.file_description import (
    NS,
    NS_ERR,
    FileMeta,
    FileTransferError,
    TransferResult,
    file_element,
    sanitize,
)
from stanzalink.xep.jingle.file_store import DigestCache, clean_partials, place, resolve_export
from stanzalink.xep.jingle.session import Application, JingleSession, TransportFailed
from stanzalink.xml import Element
from stanzalink.xml.builder import E

__all__ = [
    "NS",
    "NS_ERR",
    "FileMeta",
    "FileTransferError",
    "Files",
    "TransferResult",
    "file_element",
    "sanitize",
]

log = logging.getLogger(__name__)

PARTIAL = ".partial"
CHUNK = 65536


class Files(Feature, Application):
    name = "files"
    config_sections = (FILES,)
    requires = (Jingle,)
    disco_features = (NS,)  # the hashes feature advertises XEP-0300
    jingle_application: ClassVar[str] = NS

    idle_timeout = 60.0  # no data for this long ends a transfer (timeout)
    finish_timeout = 30.0  # a sender waits this long for the receiver's verdict
    max_partials = 16
    history = 100

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        cfg = FILES.of(ctx.config)
        inbox = cfg["inbox"]
        self.inbox = Path(inbox) if inbox else None
        self.exports = [Path(p) for p in cfg["export"]]
        self.max_size = int(cfg["max_size"])
        self.min_free = int(cfg["min_free"])
        self.partial_max_age = float(cfg["partial_max_age"])
        self.role_put = Role.parse(cfg["role_put"])
        self.role_get = Role.parse(cfg["role_get"])
        self._received: deque[TransferResult] = deque(maxlen=self.history)
        self._waiters: dict[tuple[str, str], asyncio.Future[TransferResult]] = {}
        self._active: set[Path] = set()  # partial files being written
        self._digests = DigestCache()

    # ------------------------------------------------------------ public API
    def received_files(self) -> list[TransferResult]:
        """Files received into the inbox, newest last (bounded history)."""
        return list(self._received)

    async def offer_file(
        self,
        to: str,
        path: str | os.PathLike[str],
        name: str = "",
        *,
        exported: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferResult:
        """Send a file to ``to`` (a controller's full JID, allowed to get
        files); returns when the receiver accepted and verified it, or
        refused (``ok`` False and the reason).  ``path`` must be a regular
        file under an ``export`` path (relative to one, or absolute inside
        one) unless ``exported`` is False (a program sending its own file).
        ``progress(sent, total)`` is called as bytes go out.  Cancelling the
        call ends the session (reason ``cancel``)."""
        if not self.ctx.access.allows(to, self.role_get):
            raise PermissionError(f"{to} may not receive files from this device")
        if exported:
            found = self.resolve_export(os.fspath(path))
            if found is None:
                raise PermissionError(f"{path} is not a file under an export path")
            p = found
        else:
            p = Path(path)
        st = await asyncio.to_thread(os.stat, p)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{p} is not a regular file")
        digest = await self._digest(p, st)
        s = self._jingle().new_session(to, self)
        desc = E(f"{{{NS}}}description")
        desc.append(file_element(name or p.name, st.st_size, {"sha-256": digest}, range_=True))
        self._jingle().add_content(s, "file-offer", desc, senders="initiator")
        if progress is not None:
            s.data["progress"] = progress
        fut = self._wait_for(s)
        try:
            await self._jingle().initiate(s)
            self.ctx.spawn(self._send_after_accept(s, p, st.st_size, digest), name="files-send")
            return await fut
        except asyncio.CancelledError:
            self._waiters.pop((s.peer, s.sid), None)
            # sent without waiting for the acknowledgement: no suspension here
            await s.terminate("cancel", "cancelled by the sender", wait=False)
            raise

    async def request_file(
        self, frm: str, name: str, dest: str | os.PathLike[str]
    ) -> TransferResult:
        """Ask ``frm`` for its file ``name`` (XEP-0234 §5) and store it in
        ``dest`` (a folder) the same way as the inbox."""
        s = self._jingle().new_session(frm, self)
        desc = E(f"{{{NS}}}description")
        desc.append(file_element(name))
        self._jingle().add_content(s, "file-request", desc, senders="responder")
        s.data["dest"] = Path(dest)
        fut = self._wait_for(s)
        await self._jingle().initiate(s)
        self.ctx.spawn(self._receive_after_accept(s), name="files-request")
        return await fut

    # ------------------------------------------------------------ Jingle app
    def jingle_incoming(self, session: JingleSession, role: Role | None) -> None:
        c = session.content
        meta = FileMeta.parse(c.peer_description)
        if c.senders == "responder":
            self.ctx.spawn(self._serve_request(session, meta, role), name="files-serve")
        elif c.senders == "initiator" or (c.senders == "both" and meta.size is not None):
            self.ctx.spawn(self._receive_offer(session, meta, role), name="files-receive")
        else:
            self.ctx.spawn(session.terminate("failed-application", "senders"), name="files-refuse")

    def jingle_info(self, session: JingleSession, payload: Element) -> bool:
        if payload.tag == f"{{{NS}}}checksum":
            f = payload.find(f"{{{NS}}}file")
            if f is not None:
                session.data.setdefault("checksum", {}).update(hashes.parse_hashes(f)[0])
            ev = session.data.get("checksum_event")
            if isinstance(ev, asyncio.Event):
                ev.set()
            return True
        return payload.tag == f"{{{NS}}}received"

    def jingle_ended(self, session: JingleSession, reason: str, by_peer: bool) -> None:
        if session.data.get("busy"):
            return  # the transfer task sees the end and gives the result
        self._active.discard(session.data.get("tmp"))
        fut = self._waiters.pop((session.peer, session.sid), None)
        if fut is not None and not fut.done() and "result" not in session.data:
            fut.set_result(self._result(session, False, reason))
        elif fut is not None and not fut.done():
            fut.set_result(session.data["result"])

    def jingle_equivalent(self, ours: JingleSession, theirs: Element) -> bool:
        c = theirs.find("{urn:xmpp:jingle:1}content")
        if c is None:
            return False
        mine = ours.content
        return (c.get("senders") or "both") == mine.senders and FileMeta.parse(
            c.find(f"{{{NS}}}description")
        ).name == FileMeta.parse(_as_element(mine.description)).name

    # ------------------------------------------------------------ receiving
    async def _receive_offer(self, s: JingleSession, meta: FileMeta, role: Role | None) -> None:
        if role is None or role < self.role_put:
            self.ctx.access.denied(s.peer, "put a file", role, self.role_put)
            await s.terminate("security-error")
            return
        try:
            tmp = self._prepare_receive(s, meta, self.inbox)
        except FileTransferError as exc:
            await self._refuse(s, exc)
            return
        c = s.content
        have = tmp.stat().st_size if tmp.exists() else 0
        desc = E(f"{{{NS}}}description")
        fe = file_element(meta.name, meta.size, meta.hashes, offset=have or None, range_=True)
        desc.append(fe)
        c.description = desc
        s.data["resume_from"] = have
        try:
            await s.accept()
        except Exception:
            return
        await self._receive(s, meta, have)

    async def _receive_after_accept(self, s: JingleSession) -> None:
        try:
            await s.accepted
        except Exception:
            return
        meta = FileMeta.parse(s.content.peer_description)
        try:
            self._prepare_receive(s, meta, s.data["dest"])
        except FileTransferError as exc:
            await self._refuse(s, exc)
            return
        # we asked for the whole file: start from 0 (a stale partial is dropped)
        with contextlib.suppress(FileNotFoundError):
            s.data["tmp"].unlink()
        await self._receive(s, meta, 0)

    def _prepare_receive(self, s: JingleSession, meta: FileMeta, folder: Path | None) -> Path:
        if folder is None:
            raise FileTransferError("decline", "this device has no inbox")
        if meta.size is not None and meta.size > self.max_size:
            raise FileTransferError("media-error", "file too large", "file-too-large")
        algo = meta.algo()
        if algo is None:
            raise FileTransferError("security-error", "a sha-256 or stronger hash is needed")
        part = folder / PARTIAL
        part.mkdir(parents=True, exist_ok=True)
        clean_partials(part, self.partial_max_age, self.max_partials)
        free = shutil.disk_usage(folder).free
        if meta.size is not None and free - meta.size < self.min_free:
            raise FileTransferError("media-error", "not enough free space", "file-too-large")
        value = (meta.hashes or {}).get(algo)
        if value:
            # the sender's account is part of the key: another controller never
            # learns of (or finishes) somebody else's cut-off upload
            account = s.peer.split("/", 1)[0]
            key = hashlib.sha256(f"{account}:{algo}:{value}".encode()).hexdigest()[:32]
        else:
            key = "s-" + hashlib.sha256(f"{s.peer}:{s.sid}".encode()).hexdigest()[:30]
        tmp = part / f"{key}.part"
        if tmp in self._active:
            raise FileTransferError("busy", "the same file is being received")
        self._active.add(tmp)
        if tmp.exists() and meta.size is not None and tmp.stat().st_size > meta.size:
            tmp.unlink()
        s.data.update(tmp=tmp, algo=algo, folder=folder, resumable=bool(value))
        return tmp

    async def _receive(self, s: JingleSession, meta: FileMeta, have: int) -> None:
        tmp: Path = s.data["tmp"]
        algo: str = s.data["algo"]
        start = self.ctx.clock.now()
        h = hashes.ALGOS[algo]()
        sha = hashlib.sha256()
        got = 0
        s.data["busy"] = True
        try:
            if have:
                await asyncio.to_thread(hashes.feed_file, tmp, (h, sha))
            t = await s.connect()
            with open(tmp, "ab") as out:
                while meta.size is None or have + got < meta.size:
                    try:
                        chunk = await self.ctx.clock.wait_for(t.recv(), self.idle_timeout)
                    except TimeoutError:
                        raise FileTransferError("timeout", "no data") from None
                    if not chunk:
                        break
                    got += len(chunk)
                    total = have + got
                    if total > (meta.size if meta.size is not None else self.max_size):
                        raise FileTransferError("media-error", "more data than offered")
                    if got % (1 << 20) < len(chunk) and shutil.disk_usage(tmp.parent).free < (
                        self.min_free
                    ):
                        raise FileTransferError("media-error", "not enough free space")
                    out.write(chunk)
                    h.update(chunk)
                    sha.update(chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            if meta.size is not None and have + got != meta.size:
                raise FileTransferError("failed-transport", "the stream ended early")
            expected = await self._expected_hash(s, meta, algo)
            if hashes.encode(h.digest()) != expected:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise FileTransferError("media-error", "hash mismatch")
            final = await asyncio.to_thread(place, tmp, s.data["folder"], sanitize(meta.name))
        except FileTransferError as exc:
            self._keep_or_drop(s, tmp)
            await self._refuse(s, exc, got=got)
            return
        except (TransportFailed, OSError) as exc:
            self._keep_or_drop(s, tmp)
            if s.state != "ended":
                await s.terminate("media-error" if isinstance(exc, OSError) else "failed-transport")
            self._finish(s, False, s.reason or "failed-transport", str(exc), got=got)
            return
        res = self._finish(s, True, "success", got=got, path=str(final), size=have + got,
                           sha=sha.hexdigest(), start=start)  # fmt: skip
        self._received.append(res)
        log.info("received %s (%d bytes) from %s", final, res.size, s.peer)
        await s.terminate("success")

    async def _expected_hash(self, s: JingleSession, meta: FileMeta, algo: str) -> str:
        value = (meta.hashes or {}).get(algo) or s.data.get("checksum", {}).get(algo)
        if value:
            return str(value)
        ev = s.data.setdefault("checksum_event", asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await self.ctx.clock.wait_for(ev.wait(), self.finish_timeout)
        value = s.data.get("checksum", {}).get(algo)
        if not value:
            raise FileTransferError("media-error", "no checksum")
        return str(value)

    def _keep_or_drop(self, s: JingleSession, tmp: Path) -> None:
        if not s.data.get("resumable"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # ------------------------------------------------------------ sending
    async def _serve_request(self, s: JingleSession, meta: FileMeta, role: Role | None) -> None:
        if role is None or role < self.role_get:
            self.ctx.access.denied(s.peer, "get a file", role, self.role_get)
            await s.terminate("security-error")
            return
        path = self.resolve_export(meta.name)
        if path is None:
            await self._refuse(s, FileTransferError("failed-application", "", "file-not-available"))
            return
        try:
            st = await asyncio.to_thread(os.stat, path)
            size = st.st_size
            digest = await self._digest(path, st)
        except OSError:
            await self._refuse(s, FileTransferError("failed-application", "", "file-not-available"))
            return
        offset = min(meta.offset, size)
        length = size - offset if meta.length is None else min(meta.length, size - offset)
        desc = E(f"{{{NS}}}description")
        desc.append(file_element(path.name, size, {"sha-256": digest},
                                 offset=offset or None, length=meta.length))  # fmt: skip
        s.content.description = desc
        try:
            await s.accept()
        except Exception:
            return
        await self._send(s, path, offset, length, size, digest)

    async def _digest(self, path: Path, st: os.stat_result) -> str:
        """The sha-256 of an exported file (hashed again only when it changed)."""
        return await self._digests.sha256(path, st)

    def resolve_export(self, name: str, folder: bool = False) -> Path | None:
        """The regular file ``name`` under an export path (relative to it,
        or absolute inside it), after resolving ``..`` and symlinks; None
        for anything else.  ``folder``: a folder instead (an export folder
        itself included), for listing what may be fetched."""
        return resolve_export(self.exports, name, folder)

    async def _send_after_accept(
        self, s: JingleSession, path: Path, size: int, digest: str
    ) -> None:
        try:
            await s.accepted
        except Exception:
            return
        meta = FileMeta.parse(s.content.peer_description)
        offset = min(meta.offset, size)
        length = size - offset if meta.length is None else min(meta.length, size - offset)
        await self._send(s, path, offset, length, size, digest)

    async def _send(
        self, s: JingleSession, path: Path, offset: int, length: int, size: int, digest: str
    ) -> None:
        start = self.ctx.clock.now()
        sent = 0
        s.data["busy"] = True
        try:
            t = await s.connect()
            with open(path, "rb") as fh:
                fh.seek(offset)
                while sent < length:
                    chunk = fh.read(min(CHUNK, length - sent))
                    if not chunk:
                        raise OSError("the file shrank")
                    await t.send(chunk)
                    sent += len(chunk)
                    report = s.data.get("progress")
                    if report is not None:
                        with contextlib.suppress(Exception):
                            report(offset + sent, size)
            await t.close()
        except (TransportFailed, OSError) as exc:
            if s.state != "ended":
                await s.terminate("failed-transport" if isinstance(exc, TransportFailed)
                                  else "media-error", str(exc))  # fmt: skip
            self._finish(s, False, s.reason or "failed-transport", str(exc), got=sent)
            return
        s.data["sent"] = sent
        # the receiver verifies and ends the session (XEP-0234 §6.3)
        with contextlib.suppress(TimeoutError):
            await self.ctx.clock.wait_for(s.ended.wait(), self.finish_timeout)
        if s.state != "ended":
            await s.terminate("timeout", "no verdict from the receiver")
        ok = s.reason == "success"
        self._finish(s, ok, s.reason or "timeout", got=sent, path=str(path), size=size,
                     sha=base64.b64decode(digest).hex(), start=start)  # fmt: skip

    # ------------------------------------------------------------ helpers
    async def _refuse(self, s: JingleSession, exc: FileTransferError, got: int = 0) -> None:
        extra = E(f"{{{NS_ERR}}}{exc.extra}") if exc.extra else None
        log.info("file transfer %s with %s: %s %s", s.sid, s.peer, exc.reason, exc.text)
        self._finish(s, False, exc.reason, exc.text, got=got)
        await s.terminate(exc.reason, exc.text, extra)

    def _jingle(self) -> Jingle:
        j = self.ctx.feature(Jingle)
        if j is None:
            raise RuntimeError("the jingle feature is not running")
        return j

    def _wait_for(self, s: JingleSession) -> asyncio.Future[TransferResult]:
        fut: asyncio.Future[TransferResult] = asyncio.get_running_loop().create_future()
        self._waiters[(s.peer, s.sid)] = fut
        return fut

    def _result(
        self, s: JingleSession, ok: bool, reason: str, text: str = "", **kw: Any
    ) -> TransferResult:
        meta = FileMeta.parse(_as_element(s.content.description) if s.contents else None)
        incoming = (s.content.senders == "initiator") != s.we_initiated if s.contents else True
        return TransferResult(
            ok, reason, "in" if incoming else "out", s.peer, meta.name or "",
            size=kw.get("size", meta.size or 0), transferred=kw.get("got", 0),
            sha256=kw.get("sha", ""), path=kw.get("path", ""), text=text,
            seconds=self.ctx.clock.now() - kw["start"] if "start" in kw else 0.0,
        )  # fmt: skip

    def _finish(
        self, s: JingleSession, ok: bool, reason: str, text: str = "", **kw: Any
    ) -> TransferResult:
        self._active.discard(s.data.get("tmp"))
        res = self._result(s, ok, reason, text, **kw)
        s.data["result"] = res
        fut = self._waiters.pop((s.peer, s.sid), None)
        if fut is not None and not fut.done():
            fut.set_result(res)
        return res


def _as_element(el: ET.Element | Element | None) -> Any:
    return el

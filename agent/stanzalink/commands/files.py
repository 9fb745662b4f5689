"""The file commands: ``get``, ``ls``/``files``, ``inbox``, ``put``, and
the delivery of :class:`~stanzalink.commands.model.FileOffer` results
(from any command, plugins included, in the console and in ad-hoc
commands) by Jingle file transfer through the ``files`` feature, which
reaches them as a :class:`~stanzalink.commands.context.FileService`.

- ``get PATH`` sends a file under ``[files] export`` to the asker's full
  JID; the path check is the files feature's own
  (:meth:`~stanzalink.commands.context.FileService.resolve_export`: ``..``
  and symlinks resolved, the result must be a regular file inside an export).
- ``ls [DIR]`` (also ``files``) lists what may be fetched: name, size,
  modification time; entries the check refuses are not shown.
- ``inbox`` lists the files received since the agent started.
- ``put`` explains how to send a file (a Jingle file offer from the
  controller's client) and shows the limits.

Who may: ``get`` and ``ls`` need ``[files] role_get``, ``inbox`` and
``put`` ``role_put`` (their ``role_of``: help lists them, and the front
ends run them, only for that role; the handlers check it again).
Before an offer the asker's client is asked for its disco#info: one
that does not announce ``urn:xmpp:jingle:apps:file-transfer:5`` gets a
clear answer instead of a transfer that would never start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stanzalink.access import Role
from stanzalink.commands.context import Device, FileService
from stanzalink.commands.model import Arg, CommandError, FileOffer, Invocation, KeyValue, Table
from stanzalink.commands.registry import Registry
from stanzalink.commands.system import human_bytes
from stanzalink.errors import StanzaError
from stanzalink.jid import JID
from stanzalink.ns import DISCO_INFO
from stanzalink.xml.builder import E, sub

FILE_TRANSFER = "urn:xmpp:jingle:apps:file-transfer:5"  # XEP-0234, what a client must announce
MAX_LIST = 200  # rows of ls shown
MAX_SCAN = 10000  # directory entries looked at by ls
MAX_INBOX = 50  # rows of inbox shown
DISCO_TIMEOUT = 10.0
PROGRESS_INTERVAL = 1.0  # seconds at least between two progress messages
GONE = frozenset(
    {"service-unavailable", "recipient-unavailable", "item-not-found", "remote-server-not-found"}
)
REASONS = {
    "decline": "declined by your client",
    "cancel": "cancelled",
    "security-error": "refused by your client (security-error)",
    "media-error": "your client could not store it (too large, or no space)",
    "failed-application": "your client could not take it",
    "failed-transport": "the transfer broke off",
    "timeout": "no progress for too long",
    "gone": "your client went offline",
    "connectivity-error": "the transfer could not be connected",
}


def need_files(device: Device) -> FileService:
    f = device.files()
    if f is None:
        raise CommandError("file transfer is not running on this device (the files feature is off)")
    return f


def role_get(device: Device) -> Role:
    """The role ``get`` and ``ls`` need here (``[files] role_get``, default viewer)."""
    f = device.files()
    if f is not None:
        return f.role_get
    return Role.parse(device.config.section("files").get("role_get", "viewer"))


def role_put(device: Device) -> Role:
    """The role ``inbox`` and ``put`` need here (``[files] role_put``, default operator)."""
    f = device.files()
    if f is not None:
        return f.role_put
    return Role.parse(device.config.section("files").get("role_put", "operator"))


def check_role(inv: Invocation, need: Role, what: str) -> None:
    if inv.role < need:
        inv.device.access.denied(inv.sender, f"console {what}", inv.role, need)
        raise CommandError(f"{what}: needs role {need} (you are {inv.role})")


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def refusal(files: FileService, path: str) -> str:
    """Why ``path`` cannot be fetched, telling nothing about what lies
    outside the exports (the decision itself is ``resolve_export``'s)."""
    roots = [os.path.abspath(r) for r in files.exports]
    real = [os.path.realpath(r) for r in roots]
    cands = [os.path.normpath(path)] if os.path.isabs(path) else []
    cands += [os.path.normpath(os.path.join(r, path)) for r in roots]
    inside = [c for c in cands for r in roots if c == r or c.startswith(r.rstrip("/") + "/")]
    if not inside:
        return f"{path}: not exported (send ls for what may be fetched)"
    outside = f"{path}: not exported (it leads outside the export paths, or is not a regular file)"
    for c in inside:
        if c in roots:  # an export itself (a folder, or a file export that is gone)
            return outside if os.path.lexists(c) else f"{path}: not found under the export paths"
        # only look for it when its folder really is inside an export: a
        # symlinked folder must not tell what exists elsewhere
        parent = os.path.realpath(os.path.dirname(c))
        if not any(parent == r or parent.startswith(r.rstrip("/") + "/") for r in real):
            return outside
        if os.path.lexists(c):
            return outside
    return f"{path}: not found under the export paths"


# ------------------------------------------------------------------ delivery
@dataclass
class Prepared:
    """A file offer checked and ready to send."""

    path: Path
    name: str
    size: int
    exported: bool
    delete: bool = False


def prepare(device: Device, to: JID, offer: FileOffer) -> Prepared:
    """Check a :class:`FileOffer` for the asker ``to``; CommandError says why
    it cannot be sent."""
    files = device.files()
    if files is None:
        raise CommandError(
            f"{Path(offer.path).name} not sent: file transfer is not running on this device"
            " (the files feature is off)"
        )
    access = device.access
    if not access.allows(to, files.role_get):
        access.denied(to, "receive a file", access.role(to), files.role_get)
        raise CommandError(f"you may not receive files from this device (needs {files.role_get})")
    if offer.own:
        p = Path(offer.path)
        try:
            st = os.lstat(p)
        except OSError:
            raise CommandError(f"{p.name}: the file to send is gone") from None
        if not stat.S_ISREG(st.st_mode):
            raise CommandError(f"{p.name}: not a regular file, not sent")
        return Prepared(p, p.name, st.st_size, exported=False, delete=offer.delete)
    found = files.resolve_export(offer.path)
    if found is None:
        raise CommandError(refusal(files, offer.path))
    return Prepared(found, found.name, found.stat().st_size, exported=True)


async def check_peer(device: Device, to: JID) -> None:
    """CommandError unless ``to`` answers disco#info with Jingle file transfer."""
    q = E("{jabber:client}iq", {"type": "get", "to": str(to)})
    sub(q, f"{{{DISCO_INFO}}}query")
    try:
        answer = await device.iq(q, DISCO_TIMEOUT)
    except TimeoutError:
        raise CommandError(f"no answer from {to}: is that client still online?") from None
    except StanzaError as exc:
        if exc.condition in GONE:
            raise CommandError(f"{to} is offline or unreachable ({exc.condition})") from None
        return  # no disco here: try the transfer anyway
    query = answer.find(f"{{{DISCO_INFO}}}query")
    offered = (
        {f.get("var") for f in query.findall(f"{{{DISCO_INFO}}}feature")}
        if query is not None
        else set()
    )
    if FILE_TRANSFER not in offered:
        raise CommandError(
            f"{to} does not announce Jingle file transfer ({FILE_TRANSFER}):"
            " use a client that does (Gajim, Conversations, Dino)"
        )


async def send(device: Device, to: JID, prep: Prepared, tell: Callable[[str], None]) -> str:
    """Send a prepared file to ``to``; ``tell`` reports progress.  Returns
    what to say when it arrived; CommandError when it did not."""
    files = need_files(device)
    try:
        await check_peer(device, to)
        tell(f"sending {prep.name} ({prep.size} bytes, {human_bytes(prep.size)})")
        marks = {"next": 25, "at": device.clock.now()}

        def progress(sent: int, total: int) -> None:
            pct = 100 * sent // total if total else 100
            now = device.clock.now()
            if pct >= marks["next"] and pct < 100 and now - marks["at"] >= PROGRESS_INTERVAL:
                marks["next"], marks["at"] = (pct // 25 + 1) * 25, now
                tell(f"{prep.name}: {pct} % ({human_bytes(sent)} of {human_bytes(total)})")

        try:
            res = await files.offer_file(
                str(to), prep.path, exported=prep.exported, progress=progress
            )
        except PermissionError:
            raise CommandError(f"{prep.name}: not sent (not allowed)") from None
        except ValueError:
            raise CommandError(f"{prep.name}: not a regular file, not sent") from None
        except OSError as exc:
            raise CommandError(f"{prep.name}: cannot be read ({exc.strerror or exc})") from None
        except StanzaError as exc:
            if exc.stanza is None:  # refused here: too many sessions, no transport
                why = (
                    "too many transfers at once"
                    if exc.condition == "resource-constraint"
                    else (exc.text or exc.condition)
                )
                raise CommandError(f"{prep.name}: not sent ({why})") from None
            raise CommandError(f"{prep.name}: your client refused it ({exc.condition})") from None
    finally:
        if prep.delete:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.unlink, prep.path)
    if not res.ok:
        why = REASONS.get(res.reason, res.reason)
        raise CommandError(f"{prep.name} was not sent: {why}")
    return f"sent {prep.name} ({res.size} bytes, sha-256 {res.sha256[:16]}…) in {res.seconds:.1f} s"


async def deliver(device: Device, to: JID, offer: FileOffer, tell: Callable[[str], None]) -> str:
    """Check and send one offer (an own file marked ``delete`` is removed
    whatever happens)."""
    try:
        prep = prepare(device, to, offer)
    except CommandError:
        discard(offer)
        raise
    return await send(device, to, prep, tell)


def discard(offer: FileOffer) -> None:
    """Remove an own file marked ``delete`` that will not be sent."""
    if offer.own and offer.delete:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(offer.path).st_mode):
                os.unlink(offer.path)


def split_offers(result: Any) -> tuple[list[Any], list[FileOffer]]:
    """A command's result as (everything else, the file offers in it, at
    any depth of nested lists)."""
    rest: list[Any] = []
    offers: list[FileOffer] = []

    def walk(r: Any) -> None:
        if isinstance(r, FileOffer):
            offers.append(r)
        elif isinstance(r, list | tuple):
            for item in r:
                walk(item)
        else:
            rest.append(r)

    walk(result)
    return rest, offers


# ------------------------------------------------------------------ listing
def listing(files: FileService, folder: str) -> tuple[list[tuple[str, str, str]], int]:
    """Rows (name, size, modified) of what may be fetched in ``folder``
    (every export when empty), and how many more were not shown."""
    rows: list[tuple[str, str, str]] = []
    more = 0

    def add(entry: Path) -> None:
        nonlocal more
        if len(rows) >= MAX_LIST:
            more += 1
            return
        if files.resolve_export(str(entry), folder=True) is not None:
            st = entry.stat()
            rows.append((f"{entry}/", "-", _stamp(st.st_mtime)))
        elif (f := files.resolve_export(str(entry))) is not None:
            st = f.stat()
            rows.append((str(entry), human_bytes(st.st_size), _stamp(st.st_mtime)))

    def scan(d: Path) -> None:
        with os.scandir(d) as it:
            names = sorted(e.name for _, e in zip(range(MAX_SCAN), it, strict=False))
        for n in names:
            with contextlib.suppress(OSError):
                add(d / n)

    if folder:
        d = files.resolve_export(folder, folder=True)
        if d is None:
            raise CommandError(refusal(files, folder).replace("regular file", "folder"))
        scan(d)
        return rows, more
    for root in files.exports:
        with contextlib.suppress(OSError):
            if root.is_dir():
                scan(root.resolve(strict=True))
            else:
                add(root)
    return rows, more


# ------------------------------------------------------------------ commands
def install(registry: Registry) -> None:
    reg = registry.command

    @reg(
        "get",
        help="send a file from the device to you (Jingle file transfer)",
        long_running=True,
        read_only=True,
        group="files",
        role_of=role_get,
        args=[Arg("path", str, "a file under the export paths (see ls)")],
    )
    def get(inv: Invocation) -> FileOffer:
        files = need_files(inv.device)
        check_role(inv, files.role_get, "get")
        path = inv.args["path"]
        found = files.resolve_export(path)
        if found is None:
            raise CommandError(refusal(files, path))
        return FileOffer(str(found))

    async def ls(inv: Invocation) -> Any:
        files = need_files(inv.device)
        check_role(inv, files.role_get, inv.command.name)
        if not files.exports:
            return "nothing is exported ([files] export is empty)"
        rows, more = await asyncio.to_thread(listing, files, inv.args["folder"])
        out: list[Any] = [Table(["name", "size", "modified (UTC)"], rows, title="files")]
        if not rows:
            out = ["no file to fetch there"]
        if more:
            out.append(f"({more} more not shown)")
        out.append("Send get NAME to receive one.")
        return out

    for name in ("ls", "files"):
        reg(
            name,
            help="list the files that may be fetched with get",
            group="files",
            read_only=True,
            role_of=role_get,
            args=[Arg("folder", str, "a folder under the export paths", default="")],
        )(ls)

    @reg(
        "inbox",
        help="the files received from controllers",
        group="files",
        read_only=True,
        role_of=role_put,
    )
    def inbox(inv: Invocation) -> Any:
        files = need_files(inv.device)
        check_role(inv, files.role_put, "inbox")
        got = files.received_files()[-MAX_INBOX:][::-1]
        if not got:
            return f"nothing received since the agent started (inbox: {files.inbox or 'none'})"
        rows = []
        for r in got:
            try:
                when = _stamp(os.stat(r.path).st_mtime)
            except OSError:
                when = "(gone)"
            rows.append((Path(r.path).name, human_bytes(r.size), r.peer, when, r.sha256[:16]))
        return Table(["name", "size", "from", "received (UTC)", "sha-256"], rows, title="inbox")

    @reg(
        "put",
        help="how to send a file to the device",
        group="files",
        read_only=True,
        role_of=role_put,
    )
    def put(inv: Invocation) -> Any:
        files = need_files(inv.device)
        check_role(inv, files.role_put, "put")
        if files.inbox is None:
            raise CommandError("this device takes no files ([files] inbox is not set)")
        try:
            free = max(0, shutil.disk_usage(files.inbox).free - files.min_free)
            room = human_bytes(free)
        except OSError:
            room = "unknown (the inbox folder is missing)"
        return KeyValue(
            [
                ("how", "send a file to this chat from your client (Gajim, Conversations, Dino)"),
                ("to", str(inv.device.jid)),
                ("largest file", human_bytes(files.max_size)),
                ("free space", room),
                ("then", "inbox lists what arrived"),
            ],
            title="put",
        )

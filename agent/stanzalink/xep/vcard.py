"""XEP-0054 vcard-temp and XEP-0153 vCard-based avatars: the device's
business card, built from ``[identity]``, and its picture.

Where each key goes (vcard-temp has no "device" fields, so each goes to
the element whose RFC 2426 meaning comes closest, and that servers keep):

==============  ==========================================================
``name``        FN (the formatted name contacts show)
``nickname``    NICKNAME
``description`` DESC (free-form descriptive text)
``model``       TITLE ("the function of the object the vCard represents")
``serial``      NOTE, as ``Serial number: …`` (UID would mean a globally
                unique identifier; a serial is unique only per vendor, and
                servers that convert vcard-temp to vCard4 drop UID)
``location``    ADR/LOCALITY
``latitude``,   GEO/LAT and GEO/LON (both or neither; Prosody's
``longitude``   mod_vcard_legacy does not keep GEO)
``url``         URL
``photo``       PHOTO: TYPE from the file's first bytes (PNG, JPEG, GIF,
                WebP), BINVAL base64; at most 64 KiB, checked at config load
==============  ==========================================================

Who sees what.  The device answers vCard gets addressed to its full JID
itself, to controllers only (viewers and up), with every key above.  Gets
to its bare JID are answered by the server from its own storage, to anyone
who asks (servers do not restrict vCard reads), so what the device stores
there is public: by default only ``name`` and ``photo``.  ``[identity]
public`` lists what else goes into the stored card (:data:`~stanzalink.xep.photo.PUBLISHABLE`:
``nickname``, ``description``, ``model``, ``serial``, ``location``,
``geo``, ``url``); each entry is a choice to tell every account on the
network.  When the device comes online it reads what the server has and,
if that differs from its public card, stores its public card (an IQ set to
its own account); a card stored by an earlier release with more in it is
so replaced.  Nothing is published when ``[identity]`` sets none of these
keys, so a vCard an administrator stored is left alone.

Every presence carries ``<x xmlns='vcard-temp:x:update'><photo>SHA-1 of the
image, hex</photo></x>`` (``<photo/>``, empty, without a picture).  The
photo file is looked at every minute and whenever presence is sent: when it
changed, the vCard is published again and presence re-sent with the new
hash.  A replacement file that is unreadable, too big or not an image is
logged and the last good picture stays.

:meth:`VCard.fetch_vcard` reads another entity's vCard into a dict.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from stanzalink.access import Role
from stanzalink.digest import hexdigest
from stanzalink.errors import StanzaError, StanzalinkError
from stanzalink.xep.base import Context, Feature, IQRoute
from stanzalink.xep.identity import IDENTITY, card_configured
from stanzalink.xep.photo import Photo, image_type, read_photo
from stanzalink.xml import Element
from stanzalink.xml.plain import E, PlainElement, sub

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

log = logging.getLogger(__name__)

NS = "vcard-temp"
UPDATE = "vcard-temp:x:update"
PUBLIC_ALWAYS = ("name", "photo")  # in the stored (public) card whenever set


def public_part(cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``[identity]`` keys that go into the card stored on the server
    (which anyone may read): name and photo, and what ``public`` lists."""
    chosen = set(cfg.get("public") or ())
    keys = set(PUBLIC_ALWAYS) | chosen
    if "geo" in chosen:
        keys |= {"latitude", "longitude"}
    return {k: v for k, v in cfg.items() if k in keys}


def _tag(local: str) -> str:
    return f"{{{NS}}}{local}"


def build_vcard(cfg: dict[str, Any], photo: Photo | None) -> PlainElement:
    """The vcard-temp element for the ``[identity]`` keys (a plain element:
    the device publishes it when it comes online)."""
    card = E(_tag("vCard"))
    for key, tag in (("name", "FN"), ("nickname", "NICKNAME"), ("url", "URL"),
                     ("model", "TITLE"), ("description", "DESC")):  # fmt: skip
        if cfg.get(key):
            sub(card, _tag(tag), text=str(cfg[key]))
    if cfg.get("serial"):
        sub(card, _tag("NOTE"), text=f"Serial number: {cfg['serial']}")
    if cfg.get("location"):
        sub(sub(card, _tag("ADR")), _tag("LOCALITY"), text=str(cfg["location"]))
    if cfg.get("latitude") is not None and cfg.get("longitude") is not None:
        geo = sub(card, _tag("GEO"))
        sub(geo, _tag("LAT"), text=str(cfg["latitude"]))
        sub(geo, _tag("LON"), text=str(cfg["longitude"]))
    if photo is not None:
        el = sub(card, _tag("PHOTO"))
        sub(el, _tag("TYPE"), text=photo.type)
        sub(el, _tag("BINVAL"), text=base64.b64encode(photo.data).decode("ascii"))
    return card


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def card_facts(card: Element | ET.Element | PlainElement | None) -> set[str]:
    """What a vCard says, as a set of its non-empty texts (the picture as its
    hash): two cards with the same facts need no re-publishing, whatever
    empty elements or field order a server adds when it converts them."""
    facts: set[str] = set()
    if card is None:
        return facts
    for el in card.iter():
        if len(el) or not (el.text or "").strip():
            continue
        text = (el.text or "").strip()
        if el.tag == _tag("BINVAL"):
            data = _b64(text)
            text = "photo:" + hexdigest("sha1", data) if data is not None else text
        facts.add(text)
    return facts


def parse_vcard(card: Element | None) -> dict[str, Any]:
    """A received vCard as a dict: lower-cased element names for the text
    fields (``fn``, ``nickname``, ``desc``, ``title``, ``note``, ``url``, …),
    ``adr`` and ``geo`` as dicts, ``photo`` as ``{"type", "data", "sha1"}``
    (or ``{"extval"}``)."""
    out: dict[str, Any] = {}
    if card is None:
        return out
    for el in card:
        if not el.tag.startswith(f"{{{NS}}}"):
            continue
        name = el.tag.split("}", 1)[1].lower()
        if name in ("adr", "geo", "n", "org", "email", "tel"):
            parts = {c.tag.split("}", 1)[1].lower(): (c.text or "").strip() for c in el}
            parts = {k: v for k, v in parts.items() if v}
            if parts:
                out.setdefault(name, parts)
        elif name == "photo":
            photo: dict[str, Any] = {}
            mime = el.findtext(_tag("TYPE"))
            binval = el.findtext(_tag("BINVAL"))
            extval = el.findtext(_tag("EXTVAL"))
            data = _b64(binval) if binval else None
            if data is not None:
                photo = {"type": (mime or "").strip() or image_type(data), "data": data,
                         "sha1": hexdigest("sha1", data)}  # fmt: skip
            elif extval:
                photo = {"extval": extval.strip()}
            if photo:
                out["photo"] = photo
        elif len(el) == 0 and (el.text or "").strip() and name not in out:
            out[name] = (el.text or "").strip()
    return out


class FileWatch:
    """Linux inotify on a file's folder, through the C library (no
    dependency): ``fd`` becomes readable when the file is written, replaced
    or removed; ``changed()`` reads the events and says whether one was the
    file's.  ``open()`` is None where inotify is missing."""

    _MASK = 0x8 | 0x40 | 0x80 | 0x200 | 0x400  # CLOSE_WRITE, MOVED_FROM/_TO, DELETE(_SELF)

    def __init__(self, fd: int, name: bytes) -> None:
        self.fd = fd
        self._name = name
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop reading fd, if any

    @classmethod
    def open(cls, path: str) -> FileWatch | None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError, ImportError):
            return None
        if fd < 0:
            return None
        folder, name = os.path.split(os.path.abspath(path))
        if libc.inotify_add_watch(fd, os.fsencode(folder), cls._MASK) < 0:
            os.close(fd)
            return None
        return cls(fd, os.fsencode(name))

    def changed(self) -> bool:
        hit = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return hit
            except OSError:
                return True
            pos = 0
            while pos + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name
                length = int.from_bytes(data[pos + 12 : pos + 16], sys.byteorder)
                name = data[pos + 16 : pos + 16 + length].rstrip(b"\0")
                hit = hit or name == self._name or not name
                pos += 16 + length

    def close(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        self.loop = None
        os.close(self.fd)


class VCard(Feature):
    config_sections = (IDENTITY,)
    name = "vcard"
    disco_features = (NS,)
    photo_check_interval = 60.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.photo: Photo | None = None
        self._timer: asyncio.Task[Any] | None = None
        self._watch: FileWatch | None = None
        self._publishing: asyncio.Task[Any] | None = None
        self._pending = False
        self.published = 0  # how many times the card was sent to the server
        # the outcome of the last check with the server: "published",
        # "unchanged", "refused" or "failed" (None before the first)
        self.last_sync: str | None = None
        self._bad_stamp: tuple[int, int] | None = None
        self._check_photo()

    @property
    def _cfg(self) -> dict[str, Any]:
        return IDENTITY.of(self.ctx.config)

    @property
    def configured(self) -> bool:
        return card_configured(self._cfg)

    def vcard(self) -> PlainElement:
        """The whole card: what controllers get from the device itself."""
        return build_vcard(self._cfg, self.photo)

    def public_vcard(self) -> PlainElement:
        """The card stored on the server, which anyone may read."""
        return build_vcard(public_part(self._cfg), self.photo if self._cfg.get("photo") else None)

    # ------------------------------------------------------------ serving
    def iq_routes(self) -> list[IQRoute]:
        return [IQRoute("get", _tag("vCard"), self._get, Role.VIEWER)]

    def _get(self, iq: Element, role: Role | None) -> PlainElement:
        return self.vcard()

    def presence_payload(self) -> list[PlainElement]:
        if self._check_photo():
            self._publish_soon()
        x = E(f"{{{UPDATE}}}x")
        sub(x, f"{{{UPDATE}}}photo", text=self.photo.sha1 if self.photo else None)
        return [x]

    # ------------------------------------------------------------ the photo file
    def _check_photo(self) -> bool:
        """Re-read the photo file if it changed; True when the picture did."""
        path = self._cfg.get("photo")
        if not path:
            return False
        try:
            st = os.stat(str(path))
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (-1, -1)
        if (self.photo is not None and stamp == self.photo.stamp) or stamp == self._bad_stamp:
            return False
        try:
            photo = read_photo(str(path))
        except ValueError as exc:
            self._bad_stamp = stamp  # warned once for this file
            log.warning("identity.photo: %s; keeping the previous picture", exc)
            return False
        self._bad_stamp = None
        changed = self.photo is None or photo.data != self.photo.data
        self.photo = photo
        return changed

    async def _watch_photo(self) -> None:
        """Where the kernel cannot say when the file changes: a look every
        ``photo_check_interval`` seconds."""
        while True:
            await self.ctx.clock.sleep(self.photo_check_interval)
            await self._photo_maybe_changed()

    async def _photo_maybe_changed(self) -> None:
        if self._check_photo():
            log.info("identity.photo changed: publishing the new picture")
            self._publish_soon()
            if self._publishing is not None:  # the card first, then the hash
                await asyncio.shield(self._publishing)
            self.ctx.update_presence()

    def _on_photo_event(self) -> None:
        assert self._watch is not None
        if self._watch.changed():
            self.ctx.spawn(self._photo_maybe_changed(), "vcard-photo-changed")

    # ------------------------------------------------------------ publishing
    def on_online(self, resumed: bool) -> None:
        if not resumed:
            self._publish_soon()
        path = self._cfg.get("photo")
        if not path or self._watch is not None or (self._timer and not self._timer.done()):
            return
        # the kernel wakes the agent when the file is written or replaced
        # (inotify); the agent does not wake up to look for changes
        self._watch = FileWatch.open(str(path))
        if self._watch is not None:
            self._watch.loop = asyncio.get_running_loop()
            self._watch.loop.add_reader(self._watch.fd, self._on_photo_event)
        else:
            self._timer = self.ctx.spawn(self._watch_photo(), "vcard-photo-watch")

    def on_offline(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _publish_soon(self) -> None:
        if not (self.ctx.online and self.configured):
            return
        self._pending = True  # a change during a publication is published after it
        if self._publishing is None or self._publishing.done():
            self._publishing = self.ctx.spawn(self._publisher(), "vcard-publish")

    async def _publisher(self) -> None:
        while self._pending:
            self._pending = False
            await self.publish()

    async def publish(self, force: bool = False) -> bool:
        """Store the device's public card on its server unless the server
        already has the same; True if it was sent."""
        if not self.configured:
            return False
        mine = self.public_vcard()
        own = str(self.ctx.jid.bare)
        if not force:
            try:
                reply = await self.ctx.iq(
                    E("{jabber:client}iq", {"type": "get", "to": own}, E(_tag("vCard")))
                )
                if card_facts(reply.find(_tag("vCard"))) == card_facts(mine):
                    log.debug("the server has the device's vCard already")
                    self.last_sync = "unchanged"
                    return False
            except StanzaError as exc:
                log.debug("reading the stored vCard failed (%s): publishing", exc.condition)
            except (StanzalinkError, TimeoutError) as exc:
                log.warning("reading the stored vCard failed: %s", exc or "timeout")
                self.last_sync = "failed"
                return False
        try:
            await self.ctx.iq(E("{jabber:client}iq", {"type": "set"}, mine))
        except StanzaError as exc:
            log.warning("the server refused the device's vCard: %s", exc.condition)
            self.last_sync = "refused"
            return False
        except (StanzalinkError, TimeoutError) as exc:
            log.warning("publishing the vCard failed: %s", exc or "timeout")
            self.last_sync = "failed"
            return False
        self.published += 1
        self.last_sync = "published"
        log.info("published the device's vCard to the server")
        return True

    async def fetch_vcard(self, jid: str, timeout: float | None = None) -> dict[str, Any]:
        """Another entity's vCard (see :func:`parse_vcard`); StanzaError
        when the query fails."""
        reply = await self.ctx.iq(
            E("{jabber:client}iq", {"type": "get", "to": jid}, E(_tag("vCard"))), timeout
        )
        return parse_vcard(reply.find(_tag("vCard")))

    async def stop(self) -> None:
        self.on_offline()

"""The device's identity through a real Prosody (mod_vcard_legacy on), with
slixmpp as the controller and as a stranger: disco#info, entity
capabilities checked by slixmpp's own XEP-0115 code, software version,
entity time, the vCard the device stored on the server, and the avatar hash
in its presence (also after the picture changes)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import itertools
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from slixmpp.exceptions import IqError

import stanzalink
from stanzalink.xep.caps import Caps
from stanzalink.xep.disco import Disco
from stanzalink.xep.ping import Ping
from stanzalink.xep.time import Time
from stanzalink.xep.vcard import VCard
from stanzalink.xep.version import Version
from stanzalink.xml import E
from stanzalink_testing.prosody import Prosody

from .peers import device_config, feature_of, running_agent, slix_client, until

_new = itertools.count(1)
UPDATE = "{vcard-temp:x:update}"
CAPS = "{http://jabber.org/protocol/caps}"
PLUGINS = ("xep_0030", "xep_0004", "xep_0128", "xep_0115", "xep_0092", "xep_0054", "xep_0202")


def png(colour: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    raw = (b"\x00" + bytes([colour, 80, 160]) * 2) * 2
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def test_identity_through_prosody(prosody: Prosody, tmp_path: Path) -> None:
    n = next(_new)
    device, ctl_jid, eve_jid = (f"{u}{n}@{prosody.domain}" for u in ("idev", "ictl", "ieve"))
    for jid in (device, ctl_jid, eve_jid):
        prosody.register(jid.split("@")[0], "pw-" + jid.split("@")[0])
    photo = tmp_path / "avatar.png"
    photo.write_bytes(png(10))
    identity = {
        "name": "Boiler room sensor",
        "nickname": "boiler",
        "description": "Temperature and pressure of boiler 2",
        "model": "Acme TX-200",
        "serial": "AC-000123",
        "location": "Building B",
        "url": "https://example.com/devices/boiler2",
        "photo": str(photo),
        "os": "Acme Linux 4.2",
        # the owner's choice: everything in the card the server hands to anyone
        "public": ["nickname", "description", "model", "serial", "location", "url"],
    }
    cfg = device_config(
        prosody, device, "pw-" + device.split("@")[0], {"viewer": [ctl_jid]}, identity=identity
    )
    full = device + "/agent"
    features = [Ping, Disco, Caps, Version, VCard, Time]

    async def main() -> None:
        async with running_agent(cfg, features) as agent:
            vcard, caps = feature_of(agent, VCard), feature_of(agent, Caps)
            await until(lambda: vcard.last_sync, "the vCard check")
            assert vcard.last_sync == "published"  # a fresh account has no vCard

            ctl = await slix_client(prosody, ctl_jid, "pw-" + ctl_jid.split("@")[0], PLUGINS)
            presences: list[Any] = []
            ctl.add_event_handler(
                "presence_available", lambda p: presences.append(p) if p["from"] == full else None
            )
            ctl.send_presence()
            # the controller subscribes; the device approves (no roster feature
            # here), so Prosody hands the device's presence to the controller
            subscribed = asyncio.get_running_loop().create_future()
            agent.client.on_presence(
                lambda p: (
                    subscribed.done() or p.get("type") != "subscribe" or subscribed.set_result(p)
                )
            )
            ctl.send_presence(pto=device, ptype="subscribe")
            await asyncio.wait_for(subscribed, 20)
            agent.client.send(E("{jabber:client}presence", {"to": ctl_jid, "type": "subscribed"}))

            pres = await until(lambda: presences, "the device's presence")
            c = pres[-1].xml.find(CAPS + "c")
            assert c is not None and c.get("node") == "urn:stanzalink:caps"
            assert c.get("ver") == caps.ver and c.get("hash") == "sha-1"
            first_hash = hashlib.sha1(png(10)).hexdigest()
            assert pres[-1].xml.findtext(f"{UPDATE}x/{UPDATE}photo") == first_hash

            # slixmpp's own XEP-0115 code fetched node#ver from the device,
            # recomputed the hash and stored the device's caps as valid
            ver = await until(
                lambda: ctl.plugin["xep_0115"].get_verstring(full), "slixmpp's caps verification"
            )
            assert ver == caps.ver
            cached = await ctl.plugin["xep_0115"].get_caps(verstring=ver)
            assert cached is not None and "jabber:iq:version" in cached["features"]

            info = (await ctl.plugin["xep_0030"].get_info(jid=full, timeout=20))["disco_info"]
            assert ("client", "bot", None, "Boiler room sensor") in info["identities"]
            assert {
                "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/caps",
                "jabber:iq:version", "vcard-temp", "urn:xmpp:time", "urn:xmpp:ping",
            } <= set(info["features"])  # fmt: skip

            version = (await ctl.plugin["xep_0092"].get_version(full, timeout=20))[
                "software_version"
            ]
            assert (version["name"], version["version"], version["os"]) == (
                "stanzalink",
                stanzalink.__version__,
                "Acme Linux 4.2",
            )
            when = await ctl.plugin["xep_0202"].get_entity_time(full, timeout=20)
            # read raw: slixmpp 1.17's get_utc appends a second "Z" to the XEP's form
            utc = when.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
            assert utc is not None and utc.endswith("Z")
            sent_at = dt.datetime.fromisoformat(utc[:-1] + "+00:00")
            assert abs((sent_at - dt.datetime.now(dt.UTC)).total_seconds()) < 10

            # the vCard, from the SERVER (a query to the bare JID), as the device stored it
            stored = (await ctl.plugin["xep_0054"].get_vcard(device, timeout=20))["vcard_temp"].xml
            V = "{vcard-temp}"
            assert stored.findtext(V + "FN") == "Boiler room sensor"
            assert stored.findtext(V + "NICKNAME") == "boiler"
            assert stored.findtext(V + "TITLE") == "Acme TX-200"
            assert stored.findtext(V + "URL") == "https://example.com/devices/boiler2"
            assert stored.findtext(f"{V}ADR/{V}LOCALITY") == "Building B"
            assert stored.findtext(f"{V}PHOTO/{V}TYPE") == "image/png"
            raw = stored.findtext(f"{V}PHOTO/{V}BINVAL")
            assert raw is not None and base64.b64decode(raw) == png(10)
            notes = [el.text for el in stored.findall(V + "NOTE")]
            assert "Serial number: AC-000123" in notes
            assert "Temperature and pressure of boiler 2" in notes  # Prosody keeps DESC as NOTE

            # the device reads the controller's vCard through the application API
            setter = ctl.make_iq_set()
            setter.append(ctl.plugin["xep_0054"].make_vcard())
            setter["vcard_temp"]["FN"] = "Alice the operator"
            await setter.send(timeout=20)
            got = await vcard.fetch_vcard(ctl_jid)
            assert got["fn"] == "Alice the operator"

            # a stranger gets service-unavailable for everything
            eve = await slix_client(prosody, eve_jid, "pw-" + eve_jid.split("@")[0], PLUGINS)
            for ask in (
                lambda: eve.plugin["xep_0030"].get_info(jid=full, timeout=20),
                lambda: eve.plugin["xep_0030"].get_items(jid=full, timeout=20),
                lambda: eve.plugin["xep_0092"].get_version(full, timeout=20),
                lambda: eve.plugin["xep_0202"].get_entity_time(full, timeout=20),
                lambda: eve.plugin["xep_0054"].get_vcard(full, timeout=20),
            ):
                with pytest.raises(IqError) as denied:
                    await ask()
                assert denied.value.condition == "service-unavailable"

            # the picture changes: the device re-publishes and re-sends presence
            vcard.photo_check_interval = 0.1
            vcard.on_offline()  # restart the watcher with the short interval
            vcard.on_online(resumed=True)
            photo.write_bytes(png(200))
            os.utime(photo, ns=(1, 2 * 10**18))
            new_hash = hashlib.sha1(png(200)).hexdigest()
            await until(
                lambda: presences[-1].xml.findtext(f"{UPDATE}x/{UPDATE}photo") == new_hash,
                "presence with the new avatar hash",
            )
            assert vcard.published == 2
            stored = (await ctl.plugin["xep_0054"].get_vcard(device, timeout=20))["vcard_temp"].xml
            raw = stored.findtext(f"{V}PHOTO/{V}BINVAL")
            assert raw is not None and base64.b64decode(raw) == png(200)

        # started again with the same card: the server has it, nothing is sent
        async with running_agent(cfg, features) as agent:
            again = feature_of(agent, VCard)
            await until(lambda: again.last_sync, "the vCard check")
            assert again.last_sync == "unchanged" and again.published == 0
        ctl.disconnect()
        eve.disconnect()

    asyncio.run(main())

"""XEP-0054 and XEP-0153: the device's own vCard and avatar hash, its
publication to the server, reading another entity's vCard, the config checks."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest

from stanzalink.agent import parse_config
from stanzalink.config import ConfigError
from stanzalink.xep.photo import PHOTO_MAX, image_type
from stanzalink.xep.vcard import FileWatch, VCard, card_facts
from stanzalink.xml import Element, tostring
from stanzalink_testing.harness import Harness, ManualClock

ACCESS = {"viewer": ["stpeter@jabber.org"]}
V = "{vcard-temp}"
U = "{vcard-temp:x:update}"


def png(width: int = 1, height: int = 1, colour: int = 0) -> bytes:
    """A real, tiny PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes([colour, 0, 0]) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


CARD = {
    "name": "Boiler room sensor",
    "nickname": "boiler",
    "description": "Temperature and pressure of boiler 2",
    "model": "Acme TX-200",
    "serial": "AC-000123",
    "location": "Basement, building B",
    "url": "https://example.com/devices/boiler2",
}


async def test_own_vcard_answer(tmp_path: Path) -> None:
    photo = tmp_path / "avatar.png"
    photo.write_bytes(png())
    h = Harness([VCard], ACCESS, identity={**CARD, "latitude": 48.1, "longitude": 11.5,
                                           "photo": str(photo)})  # fmt: skip
    # XEP-0054 example 1's query, addressed to the device
    h.receive(
        "<iq from='stpeter@jabber.org/roundabout' to='device1@example.net/agent' id='v1'"
        " type='get'><vCard xmlns='vcard-temp'/></iq>"
    )
    await h.next_sent()
    b64 = base64.b64encode(png()).decode()
    assert h.sent_xml[-1] == (
        '<iq type="result" id="v1" to="stpeter@jabber.org/roundabout"><vCard xmlns="vcard-temp">'
        "<FN>Boiler room sensor</FN><NICKNAME>boiler</NICKNAME>"
        "<URL>https://example.com/devices/boiler2</URL><TITLE>Acme TX-200</TITLE>"
        "<DESC>Temperature and pressure of boiler 2</DESC><NOTE>Serial number: AC-000123</NOTE>"
        "<ADR><LOCALITY>Basement, building B</LOCALITY></ADR>"
        "<GEO><LAT>48.1</LAT><LON>11.5</LON></GEO>"
        f"<PHOTO><TYPE>image/png</TYPE><BINVAL>{b64}</BINVAL></PHOTO></vCard></iq>"
    )
    # a stranger learns nothing
    h.receive("<iq from='eve@evil.example/x' id='v2' type='get'><vCard xmlns='vcard-temp'/></iq>")
    await h.next_sent()
    assert "service-unavailable" in h.sent_xml[-1] and "Boiler" not in h.sent_xml[-1]
    await h.close()


async def test_presence_avatar_hash(tmp_path: Path) -> None:
    h = Harness([VCard], ACCESS, identity={"name": "x"})
    h.agent.announce()
    x = (await h.next_sent()).find(U + "x")
    assert x is not None and x.find(U + "photo") is not None
    assert x.findtext(U + "photo") in (None, "")  # no picture: <photo/>
    await h.close()

    photo = tmp_path / "a.png"
    photo.write_bytes(png())
    h = Harness([VCard], ACCESS, identity={"photo": str(photo)})
    h.agent.announce()
    pres = await h.next_sent()
    # XEP-0153 example 3's shape: <x><photo>SHA-1 hex</photo></x>
    assert pres.findtext(f"{U}x/{U}photo") == hashlib.sha1(png()).hexdigest()
    await h.close()


NOT_FOUND = (
    "<iq type='error' id='{id}' from='device1@example.net'><error type='cancel'>"
    "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
)


async def _answer(h: Harness, reply: str) -> None:
    sent = await h.next_sent()
    assert sent.tag == "{jabber:client}iq"
    h.receive(reply.format(id=sent.get("id")))


async def test_publishes_at_start_when_the_server_differs(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(png())
    h = Harness([VCard], ACCESS, identity={**CARD, "photo": str(photo)})
    h.go_online()
    assert (await h.next_sent()).tag == "{jabber:client}presence"
    get = await h.next_sent()
    assert get.get("type") == "get" and get.get("to") == "device1@example.net"
    assert get.find(V + "vCard") is not None
    # the server has an older card
    h.receive(
        f"<iq type='result' id='{get.get('id')}' from='device1@example.net'>"
        "<vCard xmlns='vcard-temp'><FN>old name</FN></vCard></iq>"
    )
    put = await h.next_sent()
    assert put.get("type") == "set" and put.get("to") is None  # to the own account
    card = put.find(V + "vCard")
    assert card is not None and card.findtext(V + "FN") == "Boiler room sensor"
    assert card.findtext(f"{V}PHOTO/{V}BINVAL") == base64.b64encode(png()).decode()
    h.receive(f"<iq type='result' id='{put.get('id')}' from='device1@example.net'/>")
    await h.settle()
    assert h.feature(VCard).published == 1
    await h.close()


async def test_no_publish_when_the_server_has_the_same(tmp_path: Path) -> None:
    public = ["nickname", "description", "model", "serial", "location", "url"]
    h = Harness([VCard], ACCESS, identity={**CARD, "public": public})
    h.go_online()
    assert (await h.next_sent()).tag == "{jabber:client}presence"
    get = await h.next_sent()
    # what Prosody's mod_vcard_legacy gives back: other order, empty <N/>
    # parts, DESC turned into NOTE
    h.receive(
        f"<iq type='result' id='{get.get('id')}' from='device1@example.net'>"
        "<vCard xmlns='vcard-temp'><FN>Boiler room sensor</FN><N><FAMILY/><GIVEN/></N>"
        "<NICKNAME>boiler</NICKNAME><TITLE>Acme TX-200</TITLE>"
        "<NOTE>Serial number: AC-000123</NOTE><URL>https://example.com/devices/boiler2</URL>"
        "<NOTE>Temperature and pressure of boiler 2</NOTE>"
        "<ADR><LOCALITY>Basement, building B</LOCALITY></ADR></vCard></iq>"
    )
    await h.settle(20)
    assert h.unread() == [] and h.feature(VCard).published == 0
    await h.close()


async def _published(identity: dict[str, object], stored: str = "") -> Element:
    """The card the device stores on its server (which anyone may read),
    when the server holds ``stored``."""
    h = Harness([VCard], ACCESS, identity=identity)
    h.go_online()
    assert (await h.next_sent()).tag == "{jabber:client}presence"
    get = await h.next_sent()
    h.receive(f"<iq type='result' id='{get.get('id')}' from='device1@example.net'>{stored}</iq>")
    put = await h.next_sent()
    assert put.get("type") == "set"
    card = put.find(V + "vCard")
    assert card is not None
    await h.close()
    return card


async def test_the_stored_card_holds_only_name_and_photo_by_default(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(png())
    full = {**CARD, "latitude": 48.1, "longitude": 11.5, "photo": str(photo)}
    card = await _published(full)
    assert sorted(c.tag for c in card) == [V + "FN", V + "PHOTO"]
    # an explicit switch adds what it names, and only that
    card = await _published({**full, "public": ["model", "serial", "location"]})
    assert card.findtext(V + "TITLE") == "Acme TX-200"
    assert card.findtext(V + "NOTE") == "Serial number: AC-000123"
    assert card.findtext(f"{V}ADR/{V}LOCALITY") == "Basement, building B"
    assert card.find(V + "GEO") is None and card.find(V + "NICKNAME") is None
    card = await _published({**full, "public": ["geo"]})
    assert card.findtext(f"{V}GEO/{V}LAT") == "48.1"
    # a card with no public fact still replaces what an earlier release stored
    old = "<vCard xmlns='vcard-temp'><NOTE>Serial number: AC-000123</NOTE></vCard>"
    card = await _published({"serial": "AC-000123"}, old)
    assert list(card) == []


async def test_controllers_get_the_whole_card_from_the_device() -> None:
    h = Harness([VCard], ACCESS, identity=CARD)
    h.receive(
        "<iq from='stpeter@jabber.org/roundabout' to='device1@example.net/agent' id='v1'"
        " type='get'><vCard xmlns='vcard-temp'/></iq>"
    )
    card = (await h.next_sent()).find(V + "vCard")
    assert card is not None and card.findtext(V + "TITLE") == "Acme TX-200"
    assert card.findtext(V + "NOTE") == "Serial number: AC-000123"
    h.receive(
        "<iq from='eve@example.org/x' to='device1@example.net/agent' id='v2'"
        " type='get'><vCard xmlns='vcard-temp'/></iq>"
    )
    reply = await h.next_sent()
    assert reply.get("type") == "error" and reply.find(V + "vCard") is None
    assert b"service-unavailable" in tostring(reply)
    await h.close()


async def test_nothing_published_without_identity_keys() -> None:
    h = Harness([VCard], ACCESS, identity={"software_name": "x"})
    h.go_online()
    assert (await h.next_sent()).tag == "{jabber:client}presence"
    await h.settle(20)
    assert h.unread() == []
    await h.close()


async def test_photo_change_republishes_and_updates_presence(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(png(colour=1))
    h = Harness([VCard], ACCESS, clock=ManualClock(), identity={"name": "n", "photo": str(photo)})
    feat = h.feature(VCard)
    h.go_online()
    assert (await h.next_sent()).tag == "{jabber:client}presence"
    await _answer(h, NOT_FOUND)
    await _answer(h, "<iq type='result' id='{id}' from='device1@example.net'/>")
    await h.settle()
    assert feat.published == 1
    # the picture is replaced: the watcher publishes it, then sends presence
    new = png(2, 2, colour=200)
    photo.write_bytes(new)
    os.utime(photo, ns=(1, 10**18))
    # the watch sees it at once (inotify); where there is none, the next look does
    await h.advance(feat.photo_check_interval)
    await _answer(h, "<iq type='result' id='{id}' from='device1@example.net'>"
                     "<vCard xmlns='vcard-temp'><FN>n</FN></vCard></iq>")  # fmt: skip
    put = await h.next_sent()
    assert put.findtext(f"{V}vCard/{V}PHOTO/{V}BINVAL") == base64.b64encode(new).decode()
    h.receive(f"<iq type='result' id='{put.get('id')}' from='device1@example.net'/>")
    pres = await h.next_sent()
    assert pres.findtext(f"{U}x/{U}photo") == hashlib.sha1(new).hexdigest()
    # a broken replacement is ignored: the last good picture stays
    photo.write_bytes(b"not an image")
    await h.advance(feat.photo_check_interval * 4)
    assert h.unread() == [] and feat.photo.data == new
    h.agent.announce()
    assert (await h.next_sent()).findtext(f"{U}x/{U}photo") == hashlib.sha1(new).hexdigest()
    await h.close()


def test_photo_watch_wakes_only_for_the_photo_file(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(png(colour=1))
    watch = FileWatch.open(str(photo))
    if watch is None:
        pytest.skip("no inotify here (the watcher looks every photo_check_interval instead)")
    try:
        assert not watch.changed()
        (tmp_path / "other.txt").write_text("x")  # another file in the folder
        assert not watch.changed()
        photo.write_bytes(png(colour=2))
        assert watch.changed() and not watch.changed()
        new = tmp_path / "a.png.new"
        new.write_bytes(png(colour=3))
        assert not watch.changed()
        new.rename(photo)  # replaced atomically, as package managers do
        assert watch.changed()
    finally:
        watch.close()


async def test_photo_watch_uses_no_timer_while_online(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(png(colour=1))
    h = Harness([VCard], ACCESS, identity={"name": "n", "photo": str(photo)})
    feat = h.feature(VCard)
    h.go_online()
    await h.settle()
    if feat._watch is not None:  # inotify: the agent is not woken to look
        assert feat._timer is None
    feat.on_offline()
    assert feat._watch is None and feat._timer is None
    await h.close()


async def test_fetch_another_entitys_vcard() -> None:
    h = Harness([VCard], ACCESS)
    task = h.agent.spawn(h.feature(VCard).fetch_vcard("stpeter@jabber.org"))
    get = await h.next_sent()
    assert get.get("to") == "stpeter@jabber.org" and get.find(V + "vCard") is not None
    # XEP-0054 example 2's vCard (shortened), with a photo
    h.receive(
        f"<iq type='result' id='{get.get('id')}' from='stpeter@jabber.org'>"
        "<vCard xmlns='vcard-temp'><FN>Peter Saint-Andre</FN>"
        "<N><FAMILY>Saint-Andre</FAMILY><GIVEN>Peter</GIVEN><MIDDLE/></N>"
        "<NICKNAME>stpeter</NICKNAME><URL>http://www.xmpp.org/xsf/people/stpeter.shtml</URL>"
        "<BDAY>1966-08-06</BDAY><ORG><ORGNAME>XMPP Standards Foundation</ORGNAME><ORGUNIT/></ORG>"
        "<TITLE>Executive Director</TITLE><ROLE>Patron Saint</ROLE>"
        "<ADR><WORK/><EXTADD>Suite 600</EXTADD><STREET>1899 Wynkoop Street</STREET>"
        "<LOCALITY>Denver</LOCALITY><REGION>CO</REGION><PCODE>80202</PCODE><CTRY>USA</CTRY></ADR>"
        "<JABBERID>stpeter@jabber.org</JABBERID>"
        "<DESC>More information about me is located on my personal website:"
        " http://www.saint-andre.com/</DESC>"
        f"<PHOTO><TYPE>image/png</TYPE><BINVAL>{base64.b64encode(png()).decode()}</BINVAL></PHOTO>"
        "</vCard></iq>"
    )
    card = await task
    assert card["fn"] == "Peter Saint-Andre" and card["nickname"] == "stpeter"
    assert card["n"] == {"family": "Saint-Andre", "given": "Peter"}
    assert card["adr"]["locality"] == "Denver" and card["org"] == {
        "orgname": "XMPP Standards Foundation"
    }
    assert card["title"] == "Executive Director" and card["bday"] == "1966-08-06"
    assert card["desc"].startswith("More information")
    assert card["photo"] == {
        "type": "image/png",
        "data": png(),
        "sha1": hashlib.sha1(png()).hexdigest(),
    }
    await h.close()


def test_image_types_and_facts() -> None:
    assert image_type(png()) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert image_type(b"GIF89a...") == "image/gif"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg/>") is None
    assert card_facts(None) == set()


def _cfg(**identity: object) -> dict[str, object]:
    return {"account": {"jid": "d@example.net", "password": "p"}, "identity": identity}


def test_config_checks(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png() + b"\x00" * PHOTO_MAX)
    with pytest.raises(ConfigError, match=r"^identity\.photo: .*more than 65536"):
        parse_config(_cfg(photo=str(big)))
    text = tmp_path / "a.txt"
    text.write_text("hello")
    with pytest.raises(ConfigError, match=r"^identity\.photo: .*not a PNG"):
        parse_config(_cfg(photo=str(text)))
    with pytest.raises(ConfigError, match=r"^identity\.photo: .*does not exist"):
        parse_config(_cfg(photo=str(tmp_path / "missing.png")))
    with pytest.raises(ConfigError, match=r"^identity\.latitude: must be between"):
        parse_config(_cfg(latitude=91, longitude=0))
    with pytest.raises(ConfigError, match=r"identity\.latitude / identity\.longitude"):
        parse_config(_cfg(latitude=10))
    with pytest.raises(ConfigError, match=r"^identity\.hide_os: expected true or false"):
        parse_config(_cfg(hide_os="yes"))
    with pytest.raises(ConfigError, match=r"^identity\.public: 'password' is not one of"):
        parse_config(_cfg(public=["model", "password"]))
    with pytest.raises(ConfigError, match=r"^identity\.public: expected a list"):
        parse_config(_cfg(public="model"))
    assert parse_config(_cfg(public=["serial"])).section("identity")["public"] == ["serial"]
    ok = tmp_path / "ok.png"
    ok.write_bytes(png())
    cfg = parse_config(_cfg(photo=str(ok), name="n", latitude=1, longitude=2.5))
    assert cfg.section("identity")["latitude"] == 1.0

"""A realistic server-to-client XMPP stream, generated deterministically.

The stream is what a device's client connection receives from its server
after the session is established: ``<?xml version='1.0'?>``, the
``<stream:stream>`` header, N stanzas and ``</stream:stream>``.  The stanza
mix is chat traffic (bodies, XHTML-IM, chat states, delivery receipts,
groupchat), presence with entity capabilities and vCard avatars, service
discovery results, pings and their results, and roster pushes.  Text uses
the predefined entities, decimal and hexadecimal character references,
multi-byte UTF-8 (accents, CJK, emoji), ``xml:lang`` and both quote styles.

Everything comes from one ``random.Random(seed)``: the same ``n`` and
``seed`` give the same bytes on every machine and Python run.  Importing
this module does nothing but define things.

    >>> data = generate(100)
    >>> data.startswith(b"<?xml version='1.0'?><stream:stream ")
    True
    >>> data.endswith(b"</stream:stream>")
    True

Command line: ``python bench/corpus.py -n 100000 -o stream.xml``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator

DOMAIN = "example.net"
DEVICE_BARE = "device1@example.net"
DEVICE = "device1@example.net/agent"

XML_DECL = "<?xml version='1.0'?>"
FOOTER = b"</stream:stream>"

NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_SID = "urn:xmpp:sid:0"
NS_DELAY = "urn:xmpp:delay"
NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im"
NS_XHTML = "http://www.w3.org/1999/xhtml"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_VCARD_UPDATE = "vcard-temp:x:update"
NS_IDLE = "urn:xmpp:idle:1"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DATA = "jabber:x:data"
NS_PING = "urn:xmpp:ping"
NS_ROSTER = "jabber:iq:roster"
NS_HINTS = "urn:xmpp:hints"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_OOB = "jabber:x:oob"

_LOCALPARTS = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
    "ops", "monitoring", "build-bot", "sensor.gateway", "noc", "josé", "zoë", "françois",
    "søren", "łukasz", "müller", "ana.garcía", "yuki", "wei", "minh", "priya", "olu",
]  # fmt: skip
_DOMAINS = [
    "example.net", "example.org", "jabber.example.com", "xmpp.example.de",
    "chat.example.fr", "im.example.jp",
]  # fmt: skip
_RESOURCES = [
    "Gajim.X3kq", "Conversations.a9Qz", "Dino.5c1e", "phone", "laptop", "Monal-iOS.7f2d",
    "Psi+", "Pidgin", "poezio-2ab9", "work-desktop", "Movim", "cheogram.ff01", "café",
]  # fmt: skip
_ROOMS = ["ops", "fleet-alerts", "firmware", "lounge", "support-fr", "開発"]
_NICKS = ["Alice", "bob", "Zoë", "François", "ops-bot", "佐藤", "Łukasz", "priya 🌸", "noc"]
_LANGS = ["en", "en", "en", "fr", "de", "ja", "es", "zh"]
_NAMES = [
    "Alice Liddell", "Bob Marley", "José Núñez", "Zoë Ødegaard", "François Lefèvre",
    "Søren Kierkegaard", "山田 太郎", "王伟", "Łukasz Żółć", "Ana García", "NOC \u2013 on call",
    "Priya 🌸", "Müller & Söhne", "O'Brien",
]  # fmt: skip
_FILES = ["IMG_20240501_0912.jpg", "syslog.txt.gz", "rapport-été.pdf", "写真.png", "dmesg&top.txt"]
_GROUPS = ["Friends", "Ops", "Família", "同僚", "Fleet & Devices", "Bots"]

_BODIES = [
    "Hi! Is the device back online?",
    "The firmware update finished in 42 s, all checks green.",
    "Can you run `uptime` on the gateway & send me the output?",
    "Temperature on sensor #3 is above threshold (>75 °C).",
    "Ça marche, je regarde ça demain matin.",
    "Die Verbindung ist wieder stabil, danke für die Geduld.",
    "¿Puedes reiniciar el servicio <mosquitto> por favor?",
    "了解しました。ログを確認します。",
    "设备已重新连接\uff0c正在同步数据。",
    "Thanks 👍 see you at the stand-up ☕",
    'He said "reboot it" but I\'d rather check the logs first.',
    "Disk usage: /var 87%, /data 41% — should we rotate the logs?",
    "Done.",
    "ok",
    "Rollout plan:\n1. canary (5 devices)\n2. 10% of the fleet\n3. everyone",
    "Ping from the NOC: reply when you see this 🚀",
    "The VPN tunnel dropped at 03:12 UTC; reconnected after 3 retries.",
    "Voilà le rapport : 12 appareils mis à jour, 1 en échec (timeout).",
    "Naïve question: does the agent survive a power cut during écriture?",
    "a < b && c > d is the condition that fired",
]
_LONG_BODIES = [
    "Morning! Quick summary of last night: 3 devices lost power around 02:00, two came "
    "back by themselves, the third (gw-lyon-07) needed a manual reset. Logs are attached "
    "to the ticket; can someone check whether the watchdog fired before the brown-out?",
    "Résumé de la réunion : on garde la fenêtre de maintenance du mardi (22 h \u2013 23 h), "
    "les mises à jour « canary » passent à 10 appareils, et François s'occupe du "
    "tableau de bord. Merci à tous !",
    "Ich habe die Konfiguration geprüft: TLS ist aktiv, das Zertifikat läuft am 30.09. ab. "
    "Sollen wir die Erneuerung automatisieren, bevor es wieder knapp wird? 🔐",
    "新しいファームウェアをステージング環境に配置しました。問題がなければ、"
    "明日の朝から段階的に展開します。ご確認をお願いします 🙏",
    "Here's the output you asked for:\n up 41 days, 3:12, load average: 0.08, 0.11, 0.09\n"
    "Filesystem      Size  Used Avail Use% Mounted on\n/dev/mmcblk0p2  7.1G  4.2G  2.6G  "
    "62% /",
]
_STATUSES = [
    "At the office",
    "In a meeting until 15:00",
    "Travailler à domicile 🏠",
    "Bin gleich zurück",
    "休憩中",
    "On call — page me for P1 only",
    "",
    "Available",
    "Off to Zürich ✈️",
]
_XHTML_TEMPLATES = [
    "<p>Build <strong>{n}</strong> is <em>green</em> — see "
    "<a href='https://ci.example.org/job/{n}?tab=log&amp;lines=200'>the log</a>.</p>",
    "<p><span style='color: #c0392b; font-weight: bold'>ALERT</span> sensor {n}: "
    "temperature &gt; 75&#160;°C<br/>action: <em>throttle</em></p>",
    "<p>Voilà&#x00A0;! <strong>Mise à jour</strong> terminée<br/>"
    '<a href="https://example.fr/notes?v={n}&amp;lang=fr">notes de version</a></p>',
    "<p>今日の<strong>デプロイ</strong>は完了しました 🎉<br/>"
    "<span style='font-style: italic'>次回: 金曜日</span></p>",
    "<p>Quote: <em>&quot;it works on my machine&quot;</em> &#8212; "
    "<strong>everyone</strong>, {n}</p><p><span style='text-decoration: underline'>"
    "Follow-up</span> tomorrow.</p>",
]
_CAPS_NODES = [
    ("https://gajim.org", "Gajim", "pc"),
    ("http://conversations.im", "Conversations", "phone"),
    ("https://dino.im", "Dino", "pc"),
    ("https://monal-im.org", "Monal", "phone"),
    ("https://poez.io", "Poezio", "console"),
    ("https://stanzalink.example/agent", "stanzalink", "bot"),
]
_FEATURES = [
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/ibb",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/xhtml-im",
    "http://jabber.org/protocol/commands",
    "http://jabber.org/protocol/nick+notify",
    "jabber:iq:version",
    "jabber:iq:last",
    "jabber:x:conference",
    "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:file-transfer:5",
    "urn:xmpp:jingle:transports:s5b:1",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:time",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:http:upload:0",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:sid:0",
]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HEX = "0123456789abcdef"
_BASE_TIME = 1_714_557_600  # 2024-05-01T10:00:00Z


class _Gen:
    """One generator state: the random source and the per-stream context."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        # a stable address book for the stream
        self.contacts: list[tuple[str, list[str]]] = []
        for i in range(240):
            local = _LOCALPARTS[i % len(_LOCALPARTS)]
            if i >= len(_LOCALPARTS):
                local = f"{local}{i // len(_LOCALPARTS)}"
            bare = f"{local}@{rng.choice(_DOMAINS)}"
            resources = rng.sample(_RESOURCES, rng.randint(1, 3))
            self.contacts.append((bare, resources))
        self.caps_ver = {node: self.b64(20) for node, _, _ in _CAPS_NODES}
        self.index = 0
        self.quote = "'"

    # -- small random helpers ------------------------------------------------
    def hexid(self, n: int) -> str:
        return "".join(self.rng.choices(_HEX, k=n))

    def b64(self, nbytes: int) -> str:
        chars = ((nbytes + 2) // 3) * 4
        pad = (3 - nbytes % 3) % 3
        return "".join(self.rng.choices(_B64, k=chars - pad)) + "=" * pad

    def uuid(self) -> str:
        h = self.hexid(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def stamp(self) -> str:
        t = time.gmtime(_BASE_TIME + self.index * 3 - self.rng.randint(0, 86_400))
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)

    def full_jid(self) -> str:
        bare, resources = self.rng.choice(self.contacts)
        return f"{bare}/{self.rng.choice(resources)}"

    def bare_jid(self) -> str:
        return self.rng.choice(self.contacts)[0]

    # -- escaping, with the variety a real server's output has ---------------
    def text(self, s: str) -> str:
        """Escape character data; sometimes spell quotes as entities and
        non-ASCII characters as character references."""
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        rng = self.rng
        if rng.random() < 0.3:
            s = s.replace('"', "&quot;").replace("'", "&apos;")
        if rng.random() < 0.12 and not s.isascii():
            hexa = rng.random() < 0.5
            s = "".join(
                c if ord(c) < 128 else (f"&#x{ord(c):X};" if hexa else f"&#{ord(c)};") for c in s
            )
        return s

    def attr(self, name: str, value: str) -> str:
        """One attribute, in the stanza's quote style (now and then the
        other one), with the value escaped for it."""
        q = self.quote if self.rng.random() < 0.9 else ("'" if self.quote == '"' else '"')
        v = value.replace("&", "&amp;").replace("<", "&lt;")
        if q == "'":
            v = v.replace("'", "&apos;")
            if self.rng.random() < 0.2:
                v = v.replace('"', "&quot;")
        else:
            v = v.replace('"', "&quot;")
            if self.rng.random() < 0.2:
                v = v.replace("'", "&apos;")
        return f" {name}={q}{v}{q}"

    def attrs(self, *pairs: tuple[str, str]) -> str:
        return "".join(self.attr(k, v) for k, v in pairs)

    def body(self) -> str:
        pool = _LONG_BODIES if self.rng.random() < 0.35 else _BODIES
        return self.rng.choice(pool)

    def lang(self) -> str:
        return self.attr("xml:lang", self.rng.choice(_LANGS)) if self.rng.random() < 0.3 else ""

    # -- stanzas ---------------------------------------------------------------
    def chat_message(self) -> str:
        rng = self.rng
        head = self.attrs(
            ("from", self.full_jid()),
            ("to", DEVICE),
            ("type", "chat"),
            ("id", self.uuid()),
        )
        parts = [f"<message{head}{self.lang()}>"]
        parts.append(f"<body>{self.text(self.body())}</body>")
        if rng.random() < 0.25:
            parts.append(
                f"<body{self.attr('xml:lang', 'fr')}>{self.text(rng.choice(_BODIES[4:6]))}</body>"
            )
        parts.append(f"<active{self.attr('xmlns', NS_CHATSTATES)}/>")
        if rng.random() < 0.5:
            parts.append(f"<markable{self.attr('xmlns', NS_MARKERS)}/>")
        if rng.random() < 0.6:
            parts.append(f"<request{self.attr('xmlns', NS_RECEIPTS)}/>")
        parts.append(f"<origin-id{self.attrs(('xmlns', NS_SID), ('id', self.uuid()))}/>")
        parts.append(
            f"<stanza-id{self.attrs(('xmlns', NS_SID), ('id', self.uuid()), ('by', DEVICE_BARE))}/>"
        )
        if rng.random() < 0.3:
            parts.append(f"<thread>{self.hexid(16)}</thread>")
        if rng.random() < 0.2:
            url = f"https://upload.{DOMAIN}/{self.hexid(32)}/{rng.choice(_FILES)}"
            parts.append(f"<x{self.attr('xmlns', NS_OOB)}><url>{self.text(url)}</url></x>")
        if rng.random() < 0.15:
            delay = self.attrs(("xmlns", NS_DELAY), ("from", DOMAIN), ("stamp", self.stamp()))
            parts.append(f"<delay{delay}>Offline Storage</delay>")
        parts.append("</message>")
        return "".join(parts)

    def xhtml_message(self) -> str:
        rng = self.rng
        head = self.attrs(
            ("from", self.full_jid()), ("to", DEVICE), ("type", "chat"), ("id", self.uuid())
        )
        n = rng.randint(100, 99_999)
        xhtml = rng.choice(_XHTML_TEMPLATES).format(n=n)
        if self.quote == '"':
            xhtml = xhtml.replace("'", '"')
        plain = self.text(self.body())
        return (
            f"<message{head}{self.lang()}><body>{plain}</body>"
            f"<html{self.attr('xmlns', NS_XHTML_IM)}>"
            f"<body{self.attr('xmlns', NS_XHTML)}>{xhtml}</body></html>"
            f"<active{self.attr('xmlns', NS_CHATSTATES)}/>"
            f"<request{self.attr('xmlns', NS_RECEIPTS)}/>"
            f"<stanza-id{self.attrs(('xmlns', NS_SID), ('id', self.uuid()), ('by', DEVICE_BARE))}/>"
            "</message>"
        )

    def chat_state(self) -> str:
        rng = self.rng
        head = self.attrs(
            ("from", self.full_jid()), ("to", DEVICE), ("type", "chat"), ("id", self.uuid())
        )
        state = rng.choice(["composing", "composing", "paused", "inactive", "gone"])
        hint = f"<no-store{self.attr('xmlns', NS_HINTS)}/>" if rng.random() < 0.5 else ""
        return f"<message{head}><{state}{self.attr('xmlns', NS_CHATSTATES)}/>{hint}</message>"

    def receipt(self) -> str:
        head = self.attrs(("from", self.full_jid()), ("to", DEVICE), ("id", self.uuid()))
        return (
            f"<message{head}><received{self.attrs(('xmlns', NS_RECEIPTS), ('id', self.uuid()))}/>"
            f"<stanza-id{self.attrs(('xmlns', NS_SID), ('id', self.uuid()), ('by', DEVICE_BARE))}/>"
            "</message>"
        )

    def groupchat(self) -> str:
        rng = self.rng
        room = f"{rng.choice(_ROOMS)}@conference.{DOMAIN}"
        head = self.attrs(
            ("from", f"{room}/{rng.choice(_NICKS)}"),
            ("to", DEVICE),
            ("type", "groupchat"),
            ("id", self.uuid()),
        )
        return (
            f"<message{head}{self.lang()}><body>{self.text(self.body())}</body>"
            f"<occupant-id{self.attrs(('xmlns', NS_OCCUPANT_ID), ('id', self.b64(32)))}/>"
            f"<stanza-id{self.attrs(('xmlns', NS_SID), ('id', self.uuid()), ('by', room))}/>"
            "</message>"
        )

    def presence(self) -> str:
        rng = self.rng
        node, _, _ = rng.choice(_CAPS_NODES)
        head = self.attrs(("from", self.full_jid()), ("to", DEVICE))
        parts = [f"<presence{head}{self.lang()}>"]
        if rng.random() < 0.5:
            parts.append(f"<show>{rng.choice(['away', 'chat', 'dnd', 'xa'])}</show>")
        status = rng.choice(_STATUSES)
        if status:
            parts.append(f"<status>{self.text(status)}</status>")
        parts.append(f"<priority>{rng.choice([0, 1, 5, 10, 50, -1])}</priority>")
        caps = self.attrs(
            ("xmlns", NS_CAPS), ("hash", "sha-1"), ("node", node), ("ver", self.caps_ver[node])
        )
        parts.append(f"<c{caps}/>")
        photo = self.hexid(40) if rng.random() < 0.8 else ""
        vcard = self.attr("xmlns", NS_VCARD_UPDATE)
        parts.append(
            f"<x{vcard}><photo>{photo}</photo></x>" if photo else f"<x{vcard}><photo/></x>"
        )
        if rng.random() < 0.3:
            parts.append(f"<idle{self.attrs(('xmlns', NS_IDLE), ('since', self.stamp()))}/>")
        if rng.random() < 0.5:
            delay = self.attrs(
                ("xmlns", NS_DELAY), ("from", self.bare_jid()), ("stamp", self.stamp())
            )
            parts.append(f"<delay{delay}/>")
        parts.append("</presence>")
        return "".join(parts)

    def muc_presence(self) -> str:
        rng = self.rng
        room = f"{rng.choice(_ROOMS)}@conference.{DOMAIN}"
        node, _, _ = rng.choice(_CAPS_NODES)
        head = self.attrs(
            ("from", f"{room}/{rng.choice(_NICKS)}"), ("to", DEVICE), ("id", self.uuid())
        )
        caps = self.attrs(
            ("xmlns", NS_CAPS), ("hash", "sha-1"), ("node", node), ("ver", self.caps_ver[node])
        )
        item = self.attrs(
            ("affiliation", rng.choice(["member", "none", "admin", "owner"])),
            ("role", rng.choice(["participant", "moderator", "visitor"])),
            ("jid", self.full_jid()),
        )
        show = f"<show>{rng.choice(['away', 'xa', 'dnd'])}</show>" if rng.random() < 0.3 else ""
        return (
            f"<presence{head}>{show}<c{caps}/>"
            f"<occupant-id{self.attrs(('xmlns', NS_OCCUPANT_ID), ('id', self.b64(32)))}/>"
            f"<x{self.attr('xmlns', NS_VCARD_UPDATE)}><photo>{self.hexid(40)}</photo></x>"
            f"<x{self.attr('xmlns', NS_MUC_USER)}><item{item}/></x></presence>"
        )

    def unavailable(self) -> str:
        head = self.attrs(("from", self.full_jid()), ("to", DEVICE), ("type", "unavailable"))
        if self.rng.random() < 0.5:
            return f"<presence{head}/>"
        status = self.text(self.rng.choice(_STATUSES[:6]))
        return f"<presence{head}><status>{status}</status></presence>"

    def disco_info(self) -> str:
        rng = self.rng
        node, name, kind = rng.choice(_CAPS_NODES)
        head = self.attrs(
            ("from", self.full_jid()), ("to", DEVICE), ("type", "result"), ("id", self.hexid(12))
        )
        query = self.attrs(("xmlns", NS_DISCO_INFO), ("node", f"{node}#{self.caps_ver[node]}"))
        parts = [f"<iq{head}><query{query}>"]
        parts.append(
            f"<identity{self.attrs(('category', 'client'), ('type', kind), ('name', name))}/>"
        )
        if rng.random() < 0.4:
            ident = self.attrs(
                ("category", "client"), ("type", kind), ("name", f"{name} ✓"), ("xml:lang", "fr")
            )
            parts.append(f"<identity{ident}/>")
        for feature in sorted(rng.sample(_FEATURES, rng.randint(8, 20))):
            parts.append(f"<feature{self.attr('var', feature)}/>")
        if rng.random() < 0.3:
            form = self.attrs(("xmlns", NS_DATA), ("type", "result"))
            parts.append(
                f"<x{form}><field{self.attrs(('var', 'FORM_TYPE'), ('type', 'hidden'))}>"
                "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
                f"<field{self.attr('var', 'software')}><value>{name}</value></field>"
                f"<field{self.attr('var', 'software_version')}><value>1.{rng.randint(0, 9)}."
                f"{rng.randint(0, 30)}</value></field></x>"
            )
        parts.append("</query></iq>")
        return "".join(parts)

    def ping(self) -> str:
        src = DOMAIN if self.rng.random() < 0.7 else self.full_jid()
        head = self.attrs(
            ("from", src), ("to", DEVICE), ("id", f"s2c{self.hexid(8)}"), ("type", "get")
        )
        return f"<iq{head}><ping{self.attr('xmlns', NS_PING)}/></iq>"

    def ping_result(self) -> str:
        head = self.attrs(("from", DOMAIN), ("to", DEVICE), ("id", f"ping-{self.index}"))
        return f"<iq{head}{self.attr('type', 'result')}/>"

    def roster_push(self) -> str:
        rng = self.rng
        head = self.attrs(("to", DEVICE), ("type", "set"), ("id", f"push{self.hexid(10)}"))
        query = self.attrs(("xmlns", NS_ROSTER), ("ver", f"ver{rng.randint(1, 9999)}"))
        sub = rng.choice(["both", "to", "from", "none", "remove"])
        item = self.attrs(
            ("jid", self.bare_jid()), ("name", rng.choice(_NAMES)), ("subscription", sub)
        )
        groups = "".join(
            f"<group>{self.text(g)}</group>" for g in rng.sample(_GROUPS, rng.randint(0, 2))
        )
        if sub == "remove":
            return f"<iq{head}><query{query}><item{item}/></query></iq>"
        return f"<iq{head}><query{query}><item{item}>{groups}</item></query></iq>"

    def one(self) -> str:
        self.index += 1
        self.quote = "'" if self.rng.random() < 0.75 else '"'
        return _MIX_PICK(self.rng.random())(self)


# (share of stanzas, builder); shares add up to 1
_MIX: list[tuple[float, Callable[[_Gen], str]]] = [
    (0.26, _Gen.chat_message),
    (0.13, _Gen.xhtml_message),
    (0.05, _Gen.chat_state),
    (0.05, _Gen.receipt),
    (0.07, _Gen.groupchat),
    (0.15, _Gen.presence),
    (0.08, _Gen.muc_presence),
    (0.03, _Gen.unavailable),
    (0.10, _Gen.disco_info),
    (0.03, _Gen.ping),
    (0.03, _Gen.ping_result),
    (0.02, _Gen.roster_push),
]


def _make_pick() -> Callable[[float], Callable[[_Gen], str]]:
    bounds: list[tuple[float, Callable[[_Gen], str]]] = []
    acc = 0.0
    for share, fn in _MIX:
        acc += share
        bounds.append((acc, fn))

    def pick(x: float) -> Callable[[_Gen], str]:
        for bound, fn in bounds:
            if x < bound:
                return fn
        return bounds[-1][1]

    return pick


_MIX_PICK = _make_pick()


def header(seed: int = 1) -> bytes:
    """The XML declaration and ``<stream:stream>`` header for a seed."""
    rng = random.Random(seed ^ 0x5EED)
    stream_id = "".join(rng.choices(_HEX, k=16))
    return (
        f"{XML_DECL}<stream:stream xmlns='jabber:client' "
        f"xmlns:stream='http://etherx.jabber.org/streams' from='{DOMAIN}' "
        f"to='{DEVICE_BARE}' id='{stream_id}' version='1.0' xml:lang='en'>"
    ).encode()


def stanzas(n: int = 100_000, seed: int = 1) -> Iterator[bytes]:
    """The ``n`` stanzas of the stream for ``seed``, one UTF-8 encoded
    stanza at a time (what :func:`generate` puts between header and footer)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    gen = _Gen(seed)
    for _ in range(n):
        yield gen.one().encode()


def generate(n: int = 100_000, seed: int = 1) -> bytes:
    """The whole stream: declaration, header, ``n`` stanzas, footer."""
    return b"".join([header(seed), *stanzas(n, seed), FOOTER])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="number of stanzas (default 100000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("-o", "--output", default="-", help="output file (default stdout)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = generate(args.n, args.seed)
    elapsed = time.perf_counter() - t0
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(args.output, "wb") as f:
            f.write(data)
    body = len(data) - len(header(args.seed)) - len(FOOTER)
    avg = body / args.n if args.n else 0.0
    print(
        f"corpus: {args.n} stanzas, {len(data)} bytes, {avg:.1f} bytes/stanza on average, "
        f"seed {args.seed}, generated in {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

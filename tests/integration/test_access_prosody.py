"""The authorization matrix end to end on a real Prosody: one device agent
(console, ad-hoc commands, vCard), four slixmpp clients, a stranger, a
viewer, an operator and an admin, each running every command of
tests/access/matrix.py once by chat and once by XEP-0050.  Then the
audit file holds every ad-hoc command (reboot included, which runs), and
the card the server hands the stranger holds no more than the name."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import slixmpp
from slixmpp.exceptions import IqError

from stanzalink.console.feature import Console
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.disco import Disco
from stanzalink.xep.ping import Ping
from stanzalink.xep.vcard import VCard
from stanzalink_testing.prosody import Prosody
from tests.access.matrix import COMMANDS, SENDERS, allowed

from .peers import device_config, feature_of, new_account, running_agent, slix_client, until

PLUGINS = ("xep_0030", "xep_0004", "xep_0050", "xep_0054")


def test_matrix_over_prosody(prosody: Prosody, tmp_path: Path) -> None:
    device, device_pw = new_account(prosody, "acl-dev")
    accounts = {s: new_account(prosody, f"acl-{s}") for s in SENDERS}
    marker = tmp_path / "rebooted"
    audit = tmp_path / "audit.log"
    cfg = device_config(
        prosody,
        device,
        device_pw,
        {role: [accounts[role][0]] for role in ("admin", "operator", "viewer")},
        console={
            "shell": True,
            "rate": 100.0,
            "burst": 100,
            "audit_log": str(audit),
            "reboot_command": [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ok')"],
        },
        identity={
            "name": "Pump station 7",
            "model": "Acme PS-200",
            "serial": "PS-000042",
            "location": "Hall 3",
        },
    )
    to = f"{device}/agent"

    async def main() -> None:
        async with running_agent(cfg, [Ping, Disco, Console, AdHoc, VCard]) as agent:
            vcard = feature_of(agent, VCard)
            inbox: dict[str, asyncio.Queue[slixmpp.Message]] = {}
            peers: dict[str, slixmpp.ClientXMPP] = {}
            for s in SENDERS:
                q: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
                inbox[s] = q
                peers[s] = await slix_client(
                    prosody,
                    accounts[s][0],
                    accounts[s][1],
                    PLUGINS,
                    setup=lambda x, q=q: x.add_event_handler(
                        "message", lambda m: q.put_nowait(m) if m["body"] else None
                    ),
                )
            try:
                await chat_matrix(peers, inbox, to)
                await adhoc_matrix(peers, to)
                # the stranger asks the server for the device's card
                await until(lambda: vcard.last_sync, "the vCard check")
                card = (await peers["stranger"].plugin["xep_0054"].get_vcard(device, timeout=20))[
                    "vcard_temp"
                ].xml
                tags = {c.tag.split("}")[1] for c in card}
                assert tags <= {"FN", "N"}, tags  # Prosody adds an empty N
                assert card.findtext("{vcard-temp}FN") == "Pump station 7"
                text = "".join(card.itertext())
                assert not any(w in text for w in ("Acme", "PS-000042", "Hall 3")), text
            finally:
                for p in peers.values():
                    p.disconnect()

    asyncio.run(main())
    lines = audit.read_text().splitlines()
    admin = f"{accounts['admin'][0]}/ctl role=admin"
    for name in ("status", "log", "ping", "version"):
        assert any(f"{admin} result=" in ln and f"command='{name}' (ad-hoc" in ln for ln in lines)
    assert any(f"{admin} result=asked command='reboot' (ad-hoc)" in ln for ln in lines)
    assert any(f"{admin} result=ok command='reboot' (ad-hoc)" in ln for ln in lines)
    viewer = f"{accounts['viewer'][0]}/ctl role=viewer"
    assert any(
        f"{viewer} result=denied command='reboot' (ad-hoc; needs admin)" in ln for ln in lines
    )
    assert any(f"{viewer} result=denied command='reboot' (needs admin)" in ln for ln in lines)
    assert marker.read_text() == "ok"


async def next_body(q: asyncio.Queue[slixmpp.Message], timeout: float = 15) -> str:
    return str((await asyncio.wait_for(q.get(), timeout))["body"])


async def chat_matrix(peers: dict[str, slixmpp.ClientXMPP], inbox: dict[str, Any], to: str) -> None:
    for s in SENDERS:
        xmpp, q = peers[s], inbox[s]

        def say(line: str, xmpp: slixmpp.ClientXMPP = xmpp) -> None:
            xmpp.send_message(mto=to, mbody=line, mtype="chat")

        if s == "stranger":
            for name in COMMANDS:
                say(name)
            await asyncio.sleep(2)
            assert q.empty(), "a stranger got an answer"
            continue
        say("version")  # first contact: the banner, then the answer
        assert f"You are {s}." in await next_body(q)
        await next_body(q)
        for name, need in COMMANDS.items():
            say(name)
            answer = await next_body(q)
            if not allowed(s, need):
                assert answer == f"{name}: needs role {need} (you are {s})", (s, name, answer)
                continue
            assert not answer.startswith(("Unknown command", f"{name}: needs role")), answer
            if name in ("reboot", "restart"):
                say("no")
                assert await next_body(q) == f"Not confirmed: {name} was not run."


async def adhoc_matrix(peers: dict[str, slixmpp.ClientXMPP], to: str) -> None:
    for s in SENDERS:
        adhoc = peers[s].plugin["xep_0050"]
        for name, need in COMMANDS.items():
            try:
                iq = await adhoc.send_command(to, name, timeout=20)
            except IqError as exc:
                got: tuple[str, ...] = (exc.condition, exc.text)
            else:
                got = ("result",)
                if name == "reboot":  # the admin confirms: it runs, and is audited
                    sid = iq["command"]["sessionid"]
                    done = await adhoc.send_command(
                        to, name, action="complete", sessionid=sid, timeout=20
                    )
                    assert done["command"]["status"] == "completed"
                elif iq["command"]["status"] == "executing":  # a form or a question
                    await adhoc.send_command(
                        to, name, action="cancel", sessionid=iq["command"]["sessionid"], timeout=20
                    )
            if s == "stranger":
                assert got[0] == "service-unavailable", (s, name, got)
            elif not allowed(s, need):
                assert got == ("forbidden", f"{name}: needs role {need} (you are {s})"), got
            else:
                assert got == ("result",), (s, name, got)

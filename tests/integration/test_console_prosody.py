"""The console through a real Prosody: the device agent runs with its
console, a slixmpp controller types commands and reads the formatted
answers (plain body and XHTML-IM)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import slixmpp

from stanzalink.agent import Agent
from stanzalink.console.feature import Console
from stanzalink.xep.ping import Ping
from stanzalink.xep.xhtml_im import NS, violations
from stanzalink_testing.prosody import Prosody

from .peers import device_config, slix_client

_new = itertools.count(1)
XHTML_BODY = "{http://www.w3.org/1999/xhtml}body"


def test_console_over_prosody(prosody: Prosody, tmp_path: Path) -> None:
    n = next(_new)
    device, admin = f"console-dev{n}", f"console-admin{n}"
    prosody.register(device, "device-pw")
    prosody.register(admin, "admin-pw")
    marker = tmp_path / "rebooted"
    audit = tmp_path / "audit.log"
    cfg = device_config(
        prosody,
        f"{device}@{prosody.domain}",
        "device-pw",
        {"admin": [f"{admin}@{prosody.domain}"]},
        console={
            "reboot_command": [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ok')"],
            "audit_log": str(audit),
        },
    )

    async def main() -> None:
        agent = Agent(cfg, features=[Ping, Console])
        stop = asyncio.Event()
        runner = asyncio.ensure_future(agent.run(stop))
        await agent.client.wait_online(30)
        got: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
        xmpp = await slix_client(
            prosody,
            f"{admin}@{prosody.domain}",
            "admin-pw",
            setup=lambda x: x.add_event_handler("message", got.put_nowait),
        )
        to = f"{device}@{prosody.domain}/agent"

        async def ask(line: str) -> tuple[str, ET.Element]:
            xmpp.send_message(mto=to, mbody=line, mtype="chat")
            msg = await asyncio.wait_for(got.get(), 15)
            assert msg["type"] == "chat"
            html = msg.xml.find(f"{{{NS}}}html")
            assert html is not None
            assert violations(html) == []
            return msg["body"], html

        try:
            body, html = await ask("status")  # first contact: the banner
            assert "stanzalink" in body and "You are admin" in body
            body, html = await asyncio.wait_for(_next(got), 15)
            assert body.startswith("*status*\ndevice: " + to)
            assert "uptime: " in body and "```\ninterface  addresses" in body
            xbody = html.find(XHTML_BODY)
            assert xbody is not None
            strong = [e.text for e in xbody.iter("{http://www.w3.org/1999/xhtml}strong")]
            assert "uptime" in strong
            # one <p>; the table a monospace <span> in it (libpurple's layout)
            assert [p.tag for p in xbody] == ["{http://www.w3.org/1999/xhtml}p"]
            spans = xbody[0].iter("{http://www.w3.org/1999/xhtml}span")
            mono = [s for s in spans if s.get("style") == "font-family: monospace"]
            assert mono and "lo" in "".join(mono[0].itertext())

            body, html = await ask("help")
            assert "*Commands for role admin*" in body and "\nreboot " in body

            body, _ = await ask("reboot")
            assert body.startswith("*Reboot the device now?*")
            assert not marker.exists()
            body, _ = await ask("yes")
            assert body.startswith("rebooting: ")
            assert marker.read_text() == "ok"
            log = audit.read_text()
            assert "role=admin result=asked command='reboot'" in log
            assert "role=admin result=ok command='reboot'" in log

            body, _ = await ask("restart")
            assert body.startswith("*Restart the stanzalink agent now?*")
            body, _ = await ask("yes")
            assert body == "restarting the agent (exit status 75)"
            await asyncio.wait_for(asyncio.shield(runner), 15)  # the agent stops by itself
            assert agent.exit_code == 75
        finally:
            xmpp.disconnect()
            stop.set()
            await asyncio.wait_for(runner, 20)

    asyncio.run(asyncio.wait_for(main(), 120))


async def _next(q: asyncio.Queue[slixmpp.Message]) -> tuple[str, ET.Element]:
    msg = await q.get()
    html = msg.xml.find(f"{{{NS}}}html")
    assert html is not None and violations(html) == []
    return msg["body"], html

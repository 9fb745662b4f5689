"""Late commands with real delays: the device is offline while a controller
sends; the real Prosody stores the messages and hands them over, stamped
with ``<delay/>``, when the device comes back.  Under ``[console]
max_delay`` they run; over it a read runs and says when it was sent, a
change is refused, quoting the line."""

from __future__ import annotations

import asyncio
import itertools
import re

import slixmpp

from stanzalink.console.feature import Console
from stanzalink_testing.prosody import Prosody

from .peers import device_config, running_agent, slix_client

_new = itertools.count(1)
GAP = 5.0  # seconds the device stays offline


def test_delayed_commands_with_real_delays(prosody: Prosody) -> None:
    n = next(_new)
    device, admin = f"late-dev{n}", f"late-admin{n}"
    prosody.register(device, "device-pw")
    prosody.register(admin, "admin-pw")
    bare = f"{device}@{prosody.domain}"

    def config(max_delay: float) -> object:
        return device_config(
            prosody,
            bare,
            "device-pw",
            {"admin": [f"{admin}@{prosody.domain}"]},
            console={"max_delay": max_delay, "settable": ["presence.status"]},
        )

    async def main() -> None:
        got: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
        xmpp = await slix_client(
            prosody,
            f"{admin}@{prosody.domain}",
            "admin-pw",
            setup=lambda x: x.add_event_handler("message", got.put_nowait),
        )

        async def answers(count: int) -> list[str]:
            """The next ``count`` bodies from the device (the banner first)."""
            out = []
            for _ in range(count):
                msg = await asyncio.wait_for(got.get(), 20)
                assert str(msg["from"]).startswith(bare), msg
                out.append(msg["body"])
            return out

        async def offline_then_back(max_delay: float, lines: list[str]) -> list[str]:
            """With the device offline, send ``lines``, wait GAP, bring the
            device back; its answers (banner dropped) once all came, and
            its status line then."""
            for line in lines:
                # to the bare JID: no resource is online, Prosody stores it
                xmpp.send_message(mto=bare, mbody=line, mtype="chat")
            await asyncio.sleep(GAP)
            async with running_agent(config(max_delay), [Console]) as agent:
                got_all = await answers(len(lines) + 1)
                assert "You are admin" in got_all[0]
                status = agent.status
            return [*got_all[1:], f"status line: {status}"]

        try:
            # max_delay above the gap: the stored command runs
            out = await offline_then_back(60, ["config set presence.status first"])
            assert out == ["*changed*\npresence.status: first", "status line: first"]

            # max_delay below the gap: the read runs and says when it was
            # sent, the change is refused quoting the line
            out = await offline_then_back(2, ["version", "config set presence.status second"])
            read = next(a for a in out if "stanzalink: " in a)
            m = re.match(
                r'"version" \(sent at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z), (\d+) s ago\)\n',
                read,
            )
            assert m is not None, read
            assert GAP - 1 <= int(m.group(2)) <= GAP + 20
            refused = next(a for a in out if a.startswith("Not run:"))
            assert refused.startswith(
                'Not run: "config set presence.status second" was sent at '
            ), refused
            assert "more than max_delay (2 s); it would change the device." in refused
            assert out[-1] == "status line: "  # nothing set it
        finally:
            xmpp.disconnect()

    asyncio.run(asyncio.wait_for(main(), 150))

"""XEP-0050 end to end: the device agent with the ad-hoc feature on a real
Prosody, slixmpp's xep_0050 plugin as the controllers' client."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import slixmpp

from stanzalink.commands import Arg, Invocation, KeyValue, Registry
from stanzalink.xep.adhoc import AdHoc
from stanzalink.xep.disco import Disco
from stanzalink_testing.prosody import Prosody

from .peers import device_config, running_agent, slix_client

_new = itertools.count(1)
PLUGINS = ("xep_0030", "xep_0004", "xep_0050")

reg = Registry()
wiped: list[tuple[str, str]] = []


@reg.command("uptime", help="How long the device is up")
def uptime(inv: Invocation) -> str:
    return "up 3 days"


@reg.command(
    "fan",
    help="Set the fan",
    role="operator",
    args=[
        Arg("percent", int, "duty cycle", minimum=0, maximum=100),
        Arg("quiet", bool, default=False),
    ],
)
def fan(inv: Invocation) -> KeyValue:
    return KeyValue([("fan", f"{inv.args['percent']} %"), ("quiet", inv.args["quiet"])])


@reg.command(
    "wipe",
    help="Wipe a partition",
    role="admin",
    args=[Arg("target", str, "what to wipe", choices=["cache", "logs"])],
    confirm="Wipe it? This cannot be undone.",
)
def wipe(inv: Invocation) -> str:
    wiped.append((inv.args["target"], str(inv.sender)))
    return f"{inv.args['target']} wiped"


class Dialog:
    """slixmpp's command-session flow, its callbacks turned into awaits."""

    def __init__(self, xmpp: slixmpp.ClientXMPP) -> None:
        self.xmpp = xmpp
        self.replies: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.session: dict[str, Any] = {
            "next": lambda iq, s: self.replies.put_nowait(("next", iq)),
            "error": lambda iq, s: self.replies.put_nowait(("error", iq)),
        }

    async def reply(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.replies.get(), 20)

    async def start(self, jid: str, node: str) -> tuple[str, Any]:
        self.xmpp.plugin["xep_0050"].start_command(jid, node, self.session)
        return await self.reply()

    async def submit(self, form: Any, values: dict[str, Any], how: str) -> tuple[str, Any]:
        form.set_values(values)
        form["type"] = "submit"
        self.session["payload"] = form
        if how == "complete":
            self.xmpp.plugin["xep_0050"].complete_command(self.session)
        else:
            self.xmpp.plugin["xep_0050"].continue_command(self.session, how)
        return await self.reply()

    async def back(self) -> tuple[str, Any]:
        self.session["payload"] = None
        self.xmpp.plugin["xep_0050"].continue_command(self.session, "prev")
        return await self.reply()

    async def complete(self) -> tuple[str, Any]:
        self.session["payload"] = None
        self.xmpp.plugin["xep_0050"].complete_command(self.session)
        return await self.reply()


def test_commands_listed_and_run_with_forms(prosody: Prosody) -> None:
    n = next(_new)
    device, boss, guest = f"adhocdev{n}", f"boss{n}", f"guest{n}"
    for user in (device, boss, guest):
        prosody.register(user, f"pw-{user}")
    domain = prosody.domain
    cfg = device_config(
        prosody,
        f"{device}@{domain}",
        f"pw-{device}",
        {"admin": [f"{boss}@{domain}"], "viewer": [f"{guest}@{domain}"]},
        adhoc={"session_timeout": 60.0},
    )
    wiped.clear()

    async def main() -> None:
        async with running_agent(cfg, [Disco, AdHoc], stop_timeout=20, commands=reg) as agent:
            await conversation(str(agent.client.jid))

    async def conversation(full: str) -> None:
        admin = await slix_client(prosody, f"{boss}@{domain}", f"pw-{boss}", PLUGINS)
        viewer = await slix_client(prosody, f"{guest}@{domain}", f"pw-{guest}", PLUGINS)
        try:
            # the list, as each one's client shows it
            listed = await admin.plugin["xep_0050"].get_commands(jid=full, timeout=20)
            items = listed["disco_items"]["items"]
            assert {(str(j), node, name) for j, node, name in items} == {
                (full, "fan", "Set the fan"),
                (full, "uptime", "How long the device is up"),
                (full, "wipe", "Wipe a partition"),
            }
            listed = await viewer.plugin["xep_0050"].get_commands(jid=full, timeout=20)
            assert [node for _, node, _ in listed["disco_items"]["items"]] == ["uptime"]

            # a viewer cannot start the admin command it does not see; it is
            # told which role the command needs
            kind, iq = await Dialog(viewer).start(full, "wipe")
            assert kind == "error" and iq["error"]["condition"] == "forbidden"
            assert iq["error"]["text"] == "wipe: needs role admin (you are viewer)"
            kind, iq = await Dialog(viewer).start(full, "uptime")
            assert kind == "next" and iq["command"]["status"] == "completed"
            assert iq["command"]["notes"] == [("info", "up 3 days")]

            # a form, a wrong value, the right one
            dialog = Dialog(admin)
            kind, iq = await dialog.start(full, "fan")
            assert kind == "next" and iq["command"]["status"] == "executing"
            form = iq["command"]["form"]
            assert form.get_fields()["percent"]["required"]
            assert form.get_fields()["quiet"]["type"] == "boolean"
            kind, iq = await dialog.submit(form, {"percent": "150", "quiet": True}, "complete")
            assert kind == "error" and iq["error"]["condition"] == "bad-request"
            assert "percent: must be at most 100" in iq["error"]["text"]
            # the session survives the error: the corrected form completes it
            kind, iq = await dialog.submit(form, {"percent": "35"}, "complete")
            assert kind == "next" and iq["command"]["status"] == "completed"
            result = iq["command"]["form"]
            assert result["type"] == "result"
            assert sorted(result.get_values().values()) == ["35 %", "yes"]

            # a form, then the confirmation, then complete
            dialog = Dialog(admin)
            kind, iq = await dialog.start(full, "wipe")
            assert set(iq["command"]["actions"]) == {"next"}
            form = iq["command"]["form"]
            assert [o["value"] for o in form.get_fields()["target"]["options"]] == ["cache", "logs"]
            kind, iq = await dialog.submit(form, {"target": "cache"}, "next")
            assert kind == "next" and set(iq["command"]["actions"]) == {"prev", "complete"}
            # back to the form: the value is remembered; choose again
            kind, iq = await dialog.back()
            assert kind == "next" and set(iq["command"]["actions"]) == {"next"}
            form = iq["command"]["form"]
            assert form.get_fields()["target"]["value"] == "cache"
            kind, iq = await dialog.submit(form, {"target": "logs"}, "next")
            assert kind == "next" and iq["command"]["status"] == "executing"
            assert set(iq["command"]["actions"]) == {"prev", "complete"}
            assert iq["command"]["form"]["instructions"] == "Wipe it? This cannot be undone."
            assert wiped == []
            kind, iq = await dialog.complete()
            assert kind == "next" and iq["command"]["status"] == "completed"
            assert iq["command"]["notes"] == [("info", "logs wiped")]
            assert wiped == [("logs", f"{boss}@{domain}/ctl")]
        finally:
            admin.disconnect()
            viewer.disconnect()

    asyncio.run(main())

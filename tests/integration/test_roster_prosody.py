"""The roster feature against a real Prosody: the stanzalink Agent is the
device, slixmpp accounts are the controllers and a stranger."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import slixmpp

from stanzalink.agent import Agent
from stanzalink.jid import JID
from stanzalink.xep.roster import Roster
from stanzalink.xml import E
from stanzalink_testing.prosody import Prosody

from .peers import device_config, feature_of, new_account, slix_client, until

WAIT = 20.0


def make_agent(prosody: Prosody, jid: str, pw: str, **access: Any) -> Agent:
    cfg = device_config(prosody, jid, pw, access)
    return Agent(cfg, features=[Roster])


async def start(agent: Agent) -> Roster:
    """Online, with the roster fetched and reconciled."""
    await agent.client.start()
    await agent.client.wait_online(30)
    feat = feature_of(agent, Roster)
    await until(lambda: feat.sync_task is not None, "roster sync started")
    await asyncio.wait_for(asyncio.shield(feat.sync_task), WAIT)
    assert feat.synced
    return feat


async def server_roster(agent: Agent) -> dict[str, tuple[str, str | None, str | None]]:
    """The device's roster as the server holds it: a fresh full fetch."""
    reply = await agent.iq(
        E("{jabber:client}iq", {"type": "get"}, E("{jabber:iq:roster}query")), 20
    )
    query = reply.find("{jabber:iq:roster}query")
    assert query is not None
    return {
        i.get("jid") or "": (i.get("subscription") or "none", i.get("ask"), i.get("name"))
        for i in query.findall("{jabber:iq:roster}item")
    }


async def peer(prosody: Prosody, jid: str, pw: str, auto: bool = True) -> slixmpp.ClientXMPP:
    """A slixmpp client online with its roster (``auto``: it approves and
    asks back every subscription request, like most chat clients)."""

    def setup(xmpp: slixmpp.ClientXMPP) -> None:
        xmpp.auto_authorize = True if auto else None  # None: leave requests alone (False refuses)
        xmpp.auto_subscribe = auto

    async def on_start(xmpp: slixmpp.ClientXMPP) -> None:
        await xmpp.get_roster()
        xmpp.send_presence()

    return await slix_client(prosody, jid, pw, setup=setup, on_start=on_start)


def subscription(xmpp: slixmpp.ClientXMPP, jid: str) -> str:
    return str(xmpp.client_roster[jid]["subscription"])


def test_controller_approved_mutually_stranger_refused(prosody: Prosody) -> None:
    dev, dev_pw = new_account(prosody, "device")
    ctl_jid, ctl_pw = new_account(prosody, "ctl")
    eve_jid, eve_pw = new_account(prosody, "eve")

    async def main() -> None:
        # the controller adds the device from its chat client while the device is off
        ctl = await peer(prosody, ctl_jid, ctl_pw)
        notices: asyncio.Queue[Any] = asyncio.Queue()
        ctl.add_event_handler("message", notices.put_nowait)
        ctl.send_presence(pto=dev, ptype="subscribe")
        await until(lambda: ctl.client_roster[dev]["pending_out"], "the request to be pending")

        agent = make_agent(prosody, dev, dev_pw, admin=[ctl_jid], notify_admins=True)
        feat = await start(agent)
        try:
            # the server re-sends the pending request; the device approves and asks back
            bare = JID.parse(ctl_jid)
            await until(lambda: subscription(ctl, dev) == "both", "the controller's 'both'")
            await until(
                lambda: bare in feat.items and feat.items[bare].subscription == "both",
                "the device's 'both'",
            )
            on_server = await server_roster(agent)
            assert on_server[ctl_jid][:2] == ("both", None)
            await ctl.get_roster()  # and the controller's roster as its server holds it
            assert subscription(ctl, dev) == "both"
            # the controller's presence reaches the device: it is an online admin
            ctl_full = JID.parse(ctl_jid + "/ctl")
            await until(lambda: ctl_full in feat.online_controllers(), "the controller online")
            assert feat.best_resource(bare) == ctl_full

            # a stranger asks: refused, and the online admin is told
            eve = await peer(prosody, eve_jid, eve_pw)
            refused = asyncio.get_running_loop().create_future()
            eve.add_event_handler(
                "presence_unsubscribed",
                lambda p: refused.done() or refused.set_result(str(p["from"])),
            )
            eve.send_presence(pto=dev, ptype="subscribe")
            assert JID.parse(await asyncio.wait_for(refused, WAIT)).bare == JID.parse(dev)
            notice = await asyncio.wait_for(notices.get(), WAIT)
            assert JID.parse(str(notice["from"])).bare == JID.parse(dev)
            assert eve_jid in notice["body"]
            await eve.get_roster()
            assert subscription(eve, dev) == "none"
            assert not eve.client_roster[dev]["pending_out"]
            assert eve_jid not in await server_roster(agent)
            eve.disconnect()

            # the controller goes away: no longer online
            ctl.disconnect()
            await until(lambda: not feat.online_controllers(), "the controller offline")
        finally:
            await agent.stop()

    asyncio.run(main())


def test_configured_controllers_added_stale_entries_removed(prosody: Prosody) -> None:
    dev, dev_pw = new_account(prosody, "device")
    alice, alice_pw = new_account(prosody, "alice")
    bob, _ = new_account(prosody, "bob")

    async def main() -> None:
        # first run: alice and bob are configured; neither ever asked
        agent = make_agent(prosody, dev, dev_pw, admin=[alice], viewer=[bob])
        feat = await start(agent)
        try:
            on_server = await server_roster(agent)
            assert on_server == {
                alice: ("none", "subscribe", alice.split("@")[0]),
                bob: ("none", "subscribe", bob.split("@")[0]),
            }
            # Prosody versions the roster: the stored version is current, so a
            # fetch with it is answered with an empty result
            assert feat.version is not None
            reply = await agent.iq(
                E("{jabber:client}iq", {"type": "get"},
                  E("{jabber:iq:roster}query", {"ver": feat.version})), 20
            )  # fmt: skip
            assert reply.get("type") == "result" and len(reply) == 0
            before = dict(feat.items)
            await feat.sync()  # unchanged: nothing to do
            assert feat.items == before
        finally:
            await agent.stop()

        # bob is no longer configured; "keep" leaves him on the roster
        agent = make_agent(prosody, dev, dev_pw, admin=[alice], unlisted="keep")
        await start(agent)
        try:
            assert set(await server_roster(agent)) == {alice, bob}
        finally:
            await agent.stop()

        # the default removes him (and cancels the pending subscription)
        agent = make_agent(prosody, dev, dev_pw, admin=[alice])
        feat = await start(agent)
        try:
            assert set(await server_roster(agent)) == {alice}
            assert JID.parse(bob) not in feat.items
            # alice logs in: her client approves the device's request and asks
            # back; the device approves: mutual
            ctl = await peer(prosody, alice, alice_pw)
            await until(lambda: subscription(ctl, dev) == "both", "alice's 'both'")
            await until(
                lambda: (
                    feat.items.get(JID.parse(alice)) is not None
                    and feat.items[JID.parse(alice)].subscription == "both"
                ),
                "the device's 'both' with alice",
            )
            assert (await server_roster(agent))[alice][:2] == ("both", None)
            ctl.disconnect()
        finally:
            await agent.stop()

    asyncio.run(main())


def test_pre_approval_answers_a_later_request(
    prosody: Prosody, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 6121 §3.4 on Prosody 0.12: the device pre-approved the configured
    controller, so the server answers the controller's request itself (the
    device never sees it) and the device's item gets 'from'."""
    dev, dev_pw = new_account(prosody, "device")
    ctl_jid, ctl_pw = new_account(prosody, "ctl")

    async def main() -> None:
        agent = make_agent(prosody, dev, dev_pw, operator=[ctl_jid])
        feat = await start(agent)
        try:
            name = ctl_jid.split("@")[0]
            assert (await server_roster(agent)) == {ctl_jid: ("none", "subscribe", name)}
            # a client that neither approves nor asks back on its own
            ctl = await peer(prosody, ctl_jid, ctl_pw, auto=False)
            ctl.send_presence(pto=dev, ptype="subscribe")
            await until(lambda: subscription(ctl, dev) == "to", "the controller's 'to'")
            bare = JID.parse(ctl_jid)
            await until(
                lambda: bare in feat.items and feat.items[bare].subscription == "from",
                "the device's 'from'",
            )
            assert (await server_roster(agent))[ctl_jid] == ("from", "subscribe", name)
            ctl.disconnect()
        finally:
            await agent.stop()

    with caplog.at_level(logging.INFO, logger="stanzalink.xep.roster"):
        asyncio.run(main())
    assert not [r for r in caplog.records if "approving" in r.getMessage()]

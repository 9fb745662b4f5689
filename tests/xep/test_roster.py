"""RFC 6121 roster management and presence tracking, as conversations:
what the server delivers to the device, what the device must send.

The device is juliet@example.com/balcony so that RFC 6121's own examples
(§2.1.3 roster result, §2.1.6 push, §2.6.3 versioning, §3.1 subscriptions)
read as they are printed there.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stanzalink.access import Role
from stanzalink.agent import parse_config
from stanzalink.config import ConfigError, DeviceConfig
from stanzalink.jid import JID
from stanzalink.xep import presence as presence_mod
from stanzalink.xep import roster as roster_mod
from stanzalink.xep.roster import Roster
from stanzalink.xml import Element
from stanzalink_testing.harness import Harness

R = "{jabber:iq:roster}"
DEVICE = "juliet@example.com/balcony"
ACCESS = {
    "admin": ["romeo@example.net"],
    "operator": ["ops.example.org", "tybalt@example.net/sword"],
    "viewer": ["benvolio@example.net", "nurse@example.com"],
}
# RFC 6121 §2.1.3, the answer to the initial roster get
RFC_ROSTER = (
    "<query xmlns='jabber:iq:roster' ver='ver11'>"
    "<item jid='romeo@example.net' name='Romeo' subscription='both'><group>Friends</group></item>"
    "<item jid='mercutio@example.com' name='Mercutio' subscription='from'/>"
    "<item jid='benvolio@example.net' name='Benvolio' subscription='both'/>"
    "</query>"
)


def harness(access: dict[str, list[str]] | None = None, **opts: Any) -> Harness:
    roles = ACCESS if access is None else access
    cfg = DeviceConfig(
        jid=JID.parse(DEVICE).bare,
        password="unused",
        access=roles,
        sections={"access": {**roles, **opts}},
    )
    return Harness([Roster], jid=DEVICE, config=cfg)


def roster(h: Harness) -> Roster:
    feat = h.feature(Roster)
    assert isinstance(feat, Roster)
    return feat


def answer(h: Harness, iq: Element, payload: str = "") -> None:
    """The server's result to an IQ the device sent."""
    h.receive(f"<iq id='{iq.get('id')}' to='{DEVICE}' type='result'>{payload}</iq>")


async def online_and_fetch(h: Harness, resumed: bool = False) -> Element:
    """Go online; returns the roster get (after the initial presence)."""
    h.go_online(resumed)
    pres = await h.next_sent()
    assert pres.tag == "{jabber:client}presence" and pres.get("type") is None
    get = await h.next_sent()
    assert get.tag == "{jabber:client}iq" and get.get("type") == "get"
    assert get.find(f"{R}query") is not None and get.get("to") is None
    return get


def items_of(iq: Element) -> list[Element]:
    query = iq.find(f"{R}query")
    assert query is not None
    return query.findall(f"{R}item")


async def test_initial_fetch_adds_missing_controllers_and_removes_unlisted() -> None:
    h = harness()
    get = await online_and_fetch(h)
    assert get.find(f"{R}query").get("ver") is None  # nothing stored yet
    answer(h, get, RFC_ROSTER)
    # nurse@example.com is a controller missing from the roster: added with a name
    add = await h.next_sent()
    assert add.get("type") == "set"
    (item,) = items_of(add)
    assert (item.get("jid"), item.get("name"), item.get("subscription")) == (
        "nurse@example.com",
        "nurse",
        None,
    )
    answer(h, add)
    # ... and asked for a subscription (romeo and benvolio already have 'both')
    sub = await h.next_sent()
    assert (sub.tag, sub.get("to"), sub.get("type")) == (
        "{jabber:client}presence",
        "nurse@example.com",
        "subscribe",
    )
    # ... and pre-approved (RFC 6121 §3.4)
    pre = await h.next_sent()
    assert (pre.get("to"), pre.get("type")) == ("nurse@example.com", "subscribed")
    # tybalt is named only as a full JID: his bare account goes on the roster
    add2 = await h.next_sent()
    assert [i.get("jid") for i in items_of(add2)] == ["tybalt@example.net"]
    answer(h, add2)
    sub2 = await h.next_sent()
    assert (sub2.get("to"), sub2.get("type")) == ("tybalt@example.net", "subscribe")
    pre2 = await h.next_sent()
    assert (pre2.get("to"), pre2.get("type")) == ("tybalt@example.net", "subscribed")
    # mercutio is not in [access]: removed (the server cancels both subscriptions)
    remove = await h.next_sent()
    (item,) = items_of(remove)
    assert (item.get("jid"), item.get("subscription")) == ("mercutio@example.com", "remove")
    answer(h, remove)
    await h.settle()
    assert h.unread() == []
    r = roster(h)
    assert r.synced and r.version == "ver11"
    assert set(r.items) == {JID.parse(j) for j in ("romeo@example.net", "mercutio@example.com",
                                                  "benvolio@example.net")}  # fmt: skip
    assert r.items[JID.parse("romeo@example.net")].groups == ("Friends",)
    await h.close()


async def test_keep_mode_leaves_unlisted_entries_alone() -> None:
    h = harness({"admin": ["romeo@example.net"], "viewer": ["benvolio@example.net"]},
                unlisted="keep")  # fmt: skip
    get = await online_and_fetch(h)
    answer(h, get, RFC_ROSTER)
    await h.settle(20)
    assert h.unread() == []  # nothing to add, mercutio kept
    assert JID.parse("mercutio@example.com") in roster(h).items
    # kept but ignored: his subscription request is still refused
    h.receive("<presence from='mercutio@example.com' to='juliet@example.com' type='subscribe'/>")
    refusal = await h.next_sent()
    assert (refusal.get("to"), refusal.get("type")) == ("mercutio@example.com", "unsubscribed")
    await h.close()


async def test_half_subscriptions_are_completed_and_failures_survived() -> None:
    h = harness(
        {"admin": ["new@example.net", "mercutio@example.com", "romeo@example.net",
                   "benvolio@example.net"]}
    )  # fmt: skip
    get = await online_and_fetch(h)
    answer(h, get, "<query xmlns='jabber:iq:roster' ver='7'>"
                   "<item jid='mercutio@example.com' subscription='from'/>"
                   "<item jid='romeo@example.net' subscription='to'/>"
                   "<item jid='benvolio@example.net' subscription='to' approved='true'/>"
                   "</query>")  # fmt: skip
    # new@example.net first (config order); the server refuses the roster set
    add = await h.next_sent()
    h.receive(
        f"<iq id='{add.get('id')}' type='error'><error type='wait'>"
        "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    # mercutio is subscribed to the device ('from'): the device asks for 'to'
    sub = await h.next_sent()
    assert (sub.get("to"), sub.get("type")) == ("mercutio@example.com", "subscribe")
    # the device is subscribed to romeo ('to'): his subscription is pre-approved
    pre = await h.next_sent()
    assert (pre.get("to"), pre.get("type")) == ("romeo@example.net", "subscribed")
    # benvolio is pre-approved already: nothing
    await h.settle(20)
    assert h.unread() == []
    assert roster(h).items[JID.parse("benvolio@example.net")].approved
    await h.close()


async def test_versioned_fetch_unchanged_and_resumed_session() -> None:
    h = harness({"admin": ["romeo@example.net"], "viewer": ["benvolio@example.net"]})
    get = await online_and_fetch(h)
    answer(h, get, RFC_ROSTER)
    remove = await h.next_sent()  # mercutio
    answer(h, remove)
    # the server's push for the removal (RFC 6121 §2.1.6 form, with a version)
    h.receive(
        "<iq id='a78b4q6ha463' to='juliet@example.com/balcony' type='set'>"
        "<query xmlns='jabber:iq:roster' ver='ver12'>"
        "<item jid='mercutio@example.com' subscription='remove'/></query></iq>"
    )
    ack = await h.next_sent()
    assert h.sent_xml[-1] == '<iq type="result" id="a78b4q6ha463"/>'
    assert ack.get("type") == "result" and len(ack) == 0
    assert roster(h).version == "ver12"
    await h.settle()
    assert h.unread() == []

    # a resumed stream: nothing to fetch, nothing to send
    h.go_offline()
    h.go_online(resumed=True)
    await h.settle(20)
    assert h.unread() == []

    # a new session: the stored version is sent; RFC 6121 §2.6.3 empty result
    h.go_offline()
    get = await online_and_fetch(h)
    assert get.find(f"{R}query").get("ver") == "ver12"
    answer(h, get)  # no <query/>: unchanged
    await h.settle(20)
    assert h.unread() == []  # the roster kept in memory is already in line
    r = roster(h)
    assert r.synced and r.version == "ver12"
    assert set(r.items) == {JID.parse("romeo@example.net"), JID.parse("benvolio@example.net")}

    # a newer version on the server: the full roster replaces the stored one
    h.go_offline()
    get = await online_and_fetch(h)
    assert get.find(f"{R}query").get("ver") == "ver12"
    answer(h, get, "<query xmlns='jabber:iq:roster' ver='ver30'>"
                   "<item jid='romeo@example.net' subscription='both'/></query>")  # fmt: skip
    add = await h.next_sent()  # benvolio has disappeared: added again
    assert [i.get("jid") for i in items_of(add)] == ["benvolio@example.net"]
    answer(h, add)
    sub, pre = await h.next_sent(), await h.next_sent()
    assert (sub.get("to"), sub.get("type")) == ("benvolio@example.net", "subscribe")
    assert (pre.get("to"), pre.get("type")) == ("benvolio@example.net", "subscribed")
    assert roster(h).version == "ver30"
    await h.close()


async def test_same_version_without_items_is_unchanged_another_is_an_empty_roster() -> None:
    h = harness({"admin": ["romeo@example.net"]}, unlisted="keep")
    answer(h, await online_and_fetch(h), RFC_ROSTER)
    await h.settle(20)
    assert h.unread() == []
    r = roster(h)
    h.go_offline()
    get = await online_and_fetch(h)
    answer(h, get, "<query xmlns='jabber:iq:roster' ver='ver11'/>")  # the same version
    await h.settle(20)
    assert len(r.items) == 3 and r.version == "ver11"
    h.go_offline()
    get = await online_and_fetch(h)
    answer(h, get, "<query xmlns='jabber:iq:roster' ver='ver12'/>")  # emptied since
    add = await h.next_sent()  # romeo is gone: added again
    assert [i.get("jid") for i in items_of(add)] == ["romeo@example.net"]
    assert r.items == {} and r.version == "ver12"
    await h.close()


@pytest.mark.parametrize("frm", [None, "juliet@example.com", "example.com", "JULIET@example.com"])
async def test_push_from_own_server_is_applied(frm: str | None) -> None:
    h = harness()
    attr = f" from='{frm}'" if frm else ""
    h.receive(
        f"<iq{attr} id='a78b4q6ha463' to='juliet@example.com/balcony' type='set'>"
        "<query xmlns='jabber:iq:roster' ver='ver34'>"
        "<item jid='nurse@example.com' subscription='none' ask='subscribe' name='Nurse'>"
        "<group>Servants</group></item></query></iq>"
    )
    ack = await h.next_sent()
    assert ack.get("type") == "result" and ack.get("id") == "a78b4q6ha463" and len(ack) == 0
    assert ack.get("to") == frm
    r = roster(h)
    assert r.items[JID.parse("nurse@example.com")] == roster_mod.RosterItem(
        JID.parse("nurse@example.com"), "none", True, "Nurse", ("Servants",)
    )
    assert r.version == "ver34"
    h.receive(
        f"<iq{attr} id='p2' type='set'><query xmlns='jabber:iq:roster'>"
        "<item jid='nurse@example.com' subscription='remove'/></query></iq>"
    )
    await h.next_sent()
    assert r.items == {} and r.version == "ver34"  # a push without ver keeps it
    await h.close()


@pytest.mark.parametrize(
    "frm",
    [
        "juliet@example.com/chamber",  # the own account's other resource
        "romeo@example.net",  # an admin: still not the server
        "romeo@example.net/orchard",
        "example.net",  # another server
        "eve@example.com",
    ],
)
async def test_push_from_anyone_else_is_refused(frm: str, caplog: pytest.LogCaptureFixture) -> None:
    h = harness()
    with caplog.at_level(logging.WARNING, logger="stanzalink.access"):
        h.receive(
            f"<iq from='{frm}' id='evil1' type='set'><query xmlns='jabber:iq:roster'>"
            "<item jid='eve@example.com' subscription='both'/></query></iq>"
        )
        err = await h.next_sent()
    assert err.get("type") == "error" and err.get("to") == frm
    assert "service-unavailable" in h.sent_xml[-1]
    assert roster(h).items == {}
    assert any("denied set {jabber:iq:roster}query" in m for m in caplog.messages)
    await h.close()


@pytest.mark.parametrize(
    "query",
    [
        "<query xmlns='jabber:iq:roster'><item jid='a@example.net'/><item jid='b@example.net'/>"
        "</query>",
        "<query xmlns='jabber:iq:roster'/>",
        "<query xmlns='jabber:iq:roster'><item jid='not a jid@@'/></query>",
        "<query xmlns='jabber:iq:roster'><item jid='a@example.net' subscription='half'/></query>",
    ],
)
async def test_malformed_push_is_bad_request(query: str) -> None:
    h = harness()
    h.receive(
        "<iq id='b1' type='set'><query xmlns='jabber:iq:roster'>"
        "<item jid='kept@example.net' subscription='both'/></query></iq>"
    )
    await h.next_sent()
    h.receive(f"<iq id='b2' type='set'>{query}</iq>")
    err = await h.next_sent()
    assert err.get("type") == "error" and "bad-request" in h.sent_xml[-1]
    assert 'type="modify"' in h.sent_xml[-1]
    assert list(roster(h).items) == [JID.parse("kept@example.net")]  # nothing lost
    await h.close()


async def test_push_crossing_the_fetch_result_is_not_lost() -> None:
    h = harness({"admin": ["romeo@example.net"]}, unlisted="keep")
    get = await online_and_fetch(h)
    h.receive(
        "<iq id='x1' type='set'><query xmlns='jabber:iq:roster' ver='ver12'>"
        "<item jid='romeo@example.net' subscription='to'/></query></iq>"
    )
    answer(h, get, RFC_ROSTER)  # computed before the push, delivered after it
    await h.settle(20)
    r = roster(h)
    assert r.items[JID.parse("romeo@example.net")].subscription == "to"
    assert r.version is None  # unsure which is newer: the next fetch is a full one
    await h.close()


async def test_subscription_requests() -> None:
    h = harness()
    # RFC 6121 §3.1.2, as delivered: an admin asks; approved and asked back
    h.receive(
        "<presence from='romeo@example.net' id='xk3h1v69' to='juliet@example.com'"
        " type='subscribe'/>"
    )
    approve, ask = await h.next_sent(), await h.next_sent()
    assert (approve.get("to"), approve.get("type")) == ("romeo@example.net", "subscribed")
    assert (ask.get("to"), ask.get("type")) == ("romeo@example.net", "subscribe")
    # an account of a domain entry, and the bare account of a full-JID entry
    for who in ("friar@ops.example.org", "tybalt@example.net"):
        h.receive(f"<presence from='{who}' type='subscribe'/>")
        assert [(s.get("to"), s.get("type")) for s in (await h.next_sent(), await h.next_sent())
                ] == [(who, "subscribed"), (who, "subscribe")]  # fmt: skip
    # already subscribed to benvolio: only the approval
    h.receive(
        "<iq id='p1' type='set'><query xmlns='jabber:iq:roster'>"
        "<item jid='benvolio@example.net' subscription='to'/></query></iq>"
    )
    await h.next_sent()
    h.receive("<presence from='Benvolio@EXAMPLE.net' type='subscribe'/>")
    approve = await h.next_sent()
    assert (approve.get("to"), approve.get("type")) == ("benvolio@example.net", "subscribed")
    # a stranger: refused (RFC 6121 §3.2.1)
    h.receive("<presence from='eve@example.com' type='subscribe'/>")
    refuse = await h.next_sent()
    assert (refuse.get("to"), refuse.get("type")) == ("eve@example.com", "unsubscribed")
    # own account, own server, nobody: ignored
    for frm in ("juliet@example.com", "juliet@example.com/chamber", "example.com", None):
        attr = f" from='{frm}'" if frm else ""
        h.receive(f"<presence{attr} type='subscribe'/>")
    # the other subscription types are the server's business
    h.receive("<presence from='romeo@example.net' type='subscribed'/>")
    h.receive("<presence from='eve@example.com' type='unsubscribe'/>")
    await h.settle()
    assert h.unread() == []
    await h.close()


async def test_refusals_notify_online_admins_rate_limited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = harness(notify_admins=True)
    clock = [1000.0]
    monkeypatch.setattr(h.agent, "now", lambda: clock[0])
    # nobody online: refused, nobody told
    h.receive("<presence from='eve@example.com' type='subscribe'/>")
    assert (await h.next_sent()).get("type") == "unsubscribed"
    await h.settle()
    assert h.unread() == []
    # the admin comes online with two resources, a viewer with one
    h.receive("<presence from='romeo@example.net/orchard'><priority>5</priority></presence>")
    h.receive("<presence from='romeo@example.net/phone'><priority>1</priority></presence>")
    h.receive("<presence from='benvolio@example.net/x'/>")
    h.receive("<presence from='mallory@example.com' type='subscribe'/>")
    refuse, notice = await h.next_sent(), await h.next_sent()
    assert refuse.get("type") == "unsubscribed"
    assert notice.tag == "{jabber:client}message" and notice.get("type") == "chat"
    assert notice.get("to") == "romeo@example.net/orchard"  # the admin's best resource only
    assert "mallory@example.com" in (notice.findtext("{jabber:client}body") or "")
    # a flood: every request refused, at most NOTICE_MAX notices in the window
    h.receive("<presence from='mallory@example.com' type='subscribe'/>")  # same one again
    for i in range(40):
        h.receive(f"<presence from='spam{i}@example.com' type='subscribe'/>")
    await h.settle()
    sent = h.unread()
    assert [s.get("type") for s in sent if s.tag.endswith("presence")] == ["unsubscribed"] * 41
    notices = [s for s in sent if s.tag.endswith("message")]
    assert len(notices) == roster_mod.NOTICE_MAX - 1
    # the repeated request was not reported on its own, but counted in the next notice
    assert "1 more refused requests" in (notices[0].findtext("{jabber:client}body") or "")
    # after the window the next notice says how many went unreported
    clock[0] += roster_mod.NOTICE_WINDOW
    h.receive("<presence from='late@example.com' type='subscribe'/>")
    await h.next_sent()
    notice = await h.next_sent()
    body = notice.findtext("{jabber:client}body") or ""
    assert "late@example.com" in body and "36 more refused requests" in body
    r = roster(h)
    assert len(r._notice_senders) <= roster_mod.MAX_NOTICE_SENDERS
    await h.close()


async def test_no_notice_unless_configured() -> None:
    h = harness()
    h.receive("<presence from='romeo@example.net/orchard'/>")
    h.receive("<presence from='eve@example.com' type='subscribe'/>")
    await h.next_sent()
    await h.settle()
    assert h.unread() == []
    await h.close()


async def test_presence_tracking() -> None:
    h = harness()
    r = roster(h)
    romeo, orchard, phone = (JID.parse(j) for j in ("romeo@example.net",
                             "romeo@example.net/orchard", "romeo@example.net/phone"))  # fmt: skip
    h.receive(
        "<presence from='romeo@example.net/orchard' to='juliet@example.com/balcony'>"
        "<show>away</show><status>in the orchard</status><priority>1</priority></presence>"
    )
    h.receive("<presence from='romeo@example.net/phone'><priority>1</priority></presence>")
    h.receive("<presence from='friar@ops.example.org/cell'><show>dnd</show></presence>")
    # not controllers: a stranger, the own account's resources, the server
    for frm in ("eve@example.com/x", "juliet@example.com/chamber", DEVICE, "example.com",
                "tybalt@example.net/other"):  # fmt: skip
        h.receive(f"<presence from='{frm}'/>")
    h.receive("<presence/>")
    assert r.online_controllers() == {
        orchard: Role.ADMIN,
        phone: Role.ADMIN,
        JID.parse("friar@ops.example.org/cell"): Role.OPERATOR,
    }
    p = r.presence(orchard)
    assert p is not None and (p.show, p.status, p.priority) == ("away", "in the orchard", 1)
    # same priority: the more available show wins
    assert r.best_resource(romeo) == phone
    assert r.best_resource(orchard) == phone  # a full JID is taken as its account
    h.receive("<presence from='romeo@example.net/orchard'><priority>9</priority></presence>")
    assert r.best_resource(romeo) == orchard
    h.receive("<presence from='romeo@example.net/orchard' type='unavailable'/>")
    assert r.best_resource(romeo) == phone
    assert r.best_resource(JID.parse("eve@example.com")) is None
    # an unavailable from the bare account ends every resource
    h.receive("<presence from='romeo@example.net' type='unavailable'/>")
    assert r.best_resource(romeo) is None
    # garbage in show/priority is tolerated
    h.receive("<presence from='romeo@example.net/x'><show>sleeping</show>"
              "<priority>high</priority></presence>")  # fmt: skip
    p = r.presence(JID.parse("romeo@example.net/x"))
    assert p is not None and (p.show, p.priority) == ("", 0)
    assert h.unread() == []  # presence is never answered
    await h.close()


async def test_presence_cleared_offline_kept_on_resume_bounded() -> None:
    h = harness()
    r = roster(h)
    h.receive("<presence from='romeo@example.net/orchard'/>")
    h.go_offline()
    assert r.online_controllers() == {}  # nobody is reachable offline
    h.go_online(resumed=True)  # the server kept the session and its presence state
    assert list(r.online_controllers()) == [JID.parse("romeo@example.net/orchard")]
    h.go_offline()
    h.go_online()  # a new session: the server sends presence again
    assert r.online_controllers() == {}
    # bounds: per account and in total
    for i in range(40):
        h.receive(f"<presence from='romeo@example.net/r{i}'/>")
    assert len(r.online_controllers()) == presence_mod.MAX_RESOURCES
    for i in range(presence_mod.MAX_ONLINE + 50):
        h.receive(f"<presence from='a{i}@ops.example.org/r'/>")
    assert len(r.online_controllers()) == presence_mod.MAX_ONLINE
    # a known resource still updates when full, and leaving frees a place
    h.receive("<presence from='romeo@example.net/r0' type='unavailable'/>")
    h.receive("<presence from='late@ops.example.org/r'/>")
    assert JID.parse("late@ops.example.org/r") in r.online_controllers()
    await h.close()


def test_access_config_keys() -> None:
    base = {"account": {"jid": "d@example.net", "password": "p"}}
    cfg = parse_config({**base, "access": {"admin": ["a@example.net"], "unlisted": "keep",
                                    "notify_admins": True}})  # fmt: skip
    assert cfg.access == {"admin": ["a@example.net"]}  # only roles reach the access module
    assert cfg.section("access")["unlisted"] == "keep"
    assert parse_config(base).section("access").get("unlisted", "remove") == "remove"
    with pytest.raises(ConfigError, match=r"access\.unlisted"):
        parse_config({**base, "access": {"unlisted": "delete"}})
    with pytest.raises(ConfigError, match=r"access\.notify_admins"):
        parse_config({**base, "access": {"notify_admins": "yes"}})


async def test_full_output_queue_drops_answers_not_the_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stanzalink.session.sm import QueueFull

    h = harness()
    real_send = h.client.send
    full = [True]

    def send(stanza: Any) -> None:
        if full[0]:
            raise QueueFull("the stream-management queue is full")
        real_send(stanza)

    monkeypatch.setattr(h.client, "send", send)
    with caplog.at_level(logging.WARNING, logger="stanzalink.xep.roster"):
        for i in range(50):
            h.receive(f"<presence from='spam{i}@example.com' type='subscribe'/>")
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1
    full[0] = False
    h.receive("<presence from='eve@example.com' type='subscribe'/>")
    refuse = await h.next_sent()
    assert (refuse.get("to"), refuse.get("type")) == ("eve@example.com", "unsubscribed")
    await h.close()


async def test_failed_fetch_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    h = harness()
    with caplog.at_level(logging.WARNING, logger="stanzalink.xep.roster"):
        get = await online_and_fetch(h)
        h.receive(
            f"<iq id='{get.get('id')}' type='error'><error type='wait'>"
            "<internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )
        await h.settle(20)
    assert h.unread() == []  # no reconciliation against a roster it does not have
    r = roster(h)
    assert not r.synced and r.items == {} and r.version is None
    assert any("roster fetch failed: internal-server-error" in m for m in caplog.messages)
    await h.close()


@pytest.mark.parametrize(("count", "said"), [(1, "1 item"), (2, "2 items")])
async def test_the_fetch_is_logged_with_its_count(
    count: int, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness({"admin": ["romeo@example.net", "benvolio@example.net"][:count]})
    get = await online_and_fetch(h)
    items = "".join(
        f"<item jid='{j}' subscription='both'/>"
        for j in ["romeo@example.net", "benvolio@example.net"][:count]
    )
    with caplog.at_level(logging.INFO, logger="stanzalink.xep.roster"):
        answer(h, get, f"<query xmlns='jabber:iq:roster' ver='v1'>{items}</query>")
        await h.settle()
    assert f"roster: {said} (version v1)" in caplog.messages
    await h.close()

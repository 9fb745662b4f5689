"""XEP-0166 Jingle sessions with the XEP-0261 IBB transport, using the
XEPs' own examples (Juliet is the device, Romeo a controller), every
termination path of the state machine, tie-breaking, and the XEP-0260 §3
fallback to IBB by transport-replace."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from stanzalink.access import Role
from stanzalink.xep.base import Feature
from stanzalink.xep.ibb import Ibb
from stanzalink.xep.jingle.core import Jingle
from stanzalink.xep.jingle.ibb import IBBTransport, JingleIBB
from stanzalink.xep.jingle.session import (
    NS,
    NS_ERRORS,
    Application,
    JingleSession,
    Transport,
    TransportFailed,
)
from stanzalink.xml import Element
from stanzalink.xml.builder import E
from stanzalink_testing.harness import Harness, ManualClock

ROMEO = "romeo@montague.lit/orchard"
JULIET = "juliet@capulet.lit/balcony"
ACCESS = {"operator": ["romeo@montague.lit"]}
IBB_NS = "http://jabber.org/protocol/ibb"
S5B = "urn:xmpp:jingle:transports:s5b:1"
ERR = "{urn:ietf:params:xml:ns:xmpp-stanzas}"
BLOCK = "qANQR1DBwU4DX7jmYZnncmUQB/9KuKBddzQH+tZ1ZywKK0yHKnq57kWq+RFtQdCJ"

INITIATE = f"""<iq from='{ROMEO}' id='xn28s7gk' to='{JULIET}' type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='{ROMEO}'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='ex'>
      <description xmlns='urn:xmpp:example'/>
      <transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='4096' sid='ch3d9s71'/>
    </content>
  </jingle>
</iq>"""


class Example(Feature, Application):
    """A minimal Jingle application (XEP-0261's urn:xmpp:example)."""

    name = "example"
    jingle_application: ClassVar[str] = "urn:xmpp:example"
    auto_accept = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.incoming: list[tuple[JingleSession, Role | None]] = []
        self.ended: list[tuple[str, bool]] = []
        self.received = bytearray()
        self.done = asyncio.Event()
        self.errors: list[BaseException] = []

    def jingle_incoming(self, session: JingleSession, role: Role | None) -> None:
        self.incoming.append((session, role))
        if self.auto_accept:
            self.ctx.spawn(self.run(session))

    async def run(self, s: JingleSession) -> None:
        s.content.description = E("{urn:xmpp:example}description")
        await s.accept()
        try:
            t = await s.connect()
            while chunk := await t.recv():
                self.received += chunk
        except TransportFailed as exc:
            self.errors.append(exc)
        self.done.set()

    def jingle_info(self, session: JingleSession, payload: Element) -> bool:
        return payload.tag == "{urn:xmpp:example}ringing"

    def jingle_ended(self, session: JingleSession, reason: str, by_peer: bool) -> None:
        self.ended.append((reason, by_peer))


class BrokenS5B(Transport):
    """Stands in for a SOCKS5 transport whose candidates all fail."""

    namespace: ClassVar[str] = S5B

    def offer(self) -> Any:
        return E(f"{{{S5B}}}transport", {"sid": "vj3hs98y", "mode": "tcp"})

    def answer(self) -> Any:
        return self.offer()

    async def open(self) -> None:
        await self.session.jingle.ctx.clock.sleep(0.01)
        raise TransportFailed("no candidate reachable")


class BrokenS5BFeature(Feature):
    name = "s5b-test"
    jingle_transport: ClassVar[type[Transport]] = BrokenS5B


def make(
    *extra: type[Feature], clock: ManualClock | None = None, **sections: dict[str, Any]
) -> tuple[Harness, Jingle, Example]:
    h = Harness(
        [Ibb, Jingle, *extra, JingleIBB, Example], ACCESS, jid=JULIET, clock=clock, **sections
    )
    h.feature(Ibb).max_block = 2048  # so the answers match the examples
    return h, h.feature(Jingle), h.feature(Example)


def jingle_of(iq: Element) -> Element:
    j = iq.find(f"{{{NS}}}jingle")
    assert j is not None, iq
    return j


def conditions(iq: Element) -> list[str]:
    err = iq.find("{jabber:client}error")
    assert err is not None, iq
    return [c.tag for c in err]


def ack(h: Harness, iq: Element, frm: str = ROMEO) -> None:
    h.receive(f"<iq type='result' id='{iq.get('id')}' from='{frm}' to='{JULIET}'/>")


def reason_of(iq: Element) -> str:
    r = jingle_of(iq).find(f"{{{NS}}}reason")
    assert r is not None
    return next(iter(r)).tag.split("}")[1]


def action(sid: str, name: str, body: str = "", id_: str = "x1") -> str:
    return (
        f"<iq from='{ROMEO}' id='{id_}' to='{JULIET}' type='set'>"
        f"<jingle xmlns='{NS}' action='{name}' sid='{sid}'>{body}</jingle></iq>"
    )


async def test_xep0261_session_flow() -> None:
    h, jingle, app = make()
    h.receive(INITIATE)
    assert (await h.next_sent()).get("type") == "result"  # example 2
    accept = await h.next_sent()  # example 3
    j = jingle_of(accept)
    assert (j.get("action"), j.get("responder"), j.get("sid")) == (
        "session-accept",
        JULIET,
        "a73sjjvkla37jfea",
    )
    c = j.find(f"{{{NS}}}content")
    t = c.find("{urn:xmpp:jingle:transports:ibb:1}transport")
    assert (c.get("creator"), c.get("name")) == ("initiator", "ex")
    assert (t.get("block-size"), t.get("sid")) == ("2048", "ch3d9s71")
    assert app.incoming[0][1] == Role.OPERATOR
    ack(h, accept)  # example 4
    # examples 5-8: the initiator opens IBB with the negotiated block size
    h.receive(
        f"<iq from='{ROMEO}' id='jn3h8g65' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='2048' sid='ch3d9s71' stanza='iq'/></iq>"
    )
    assert (await h.next_sent()).get("type") == "result"
    h.receive(
        f"<iq from='{ROMEO}' id='ls72b58f' to='{JULIET}' type='set'>"
        f"<data xmlns='{IBB_NS}' seq='0' sid='ch3d9s71'>{BLOCK}</data></iq>"
    )
    assert (await h.next_sent()).get("id") == "ls72b58f"
    h.receive(
        f"<iq from='{ROMEO}' id='us71g45j' to='{JULIET}' type='set'>"
        f"<close xmlns='{IBB_NS}' sid='ch3d9s71'/></iq>"
    )
    assert (await h.next_sent()).get("id") == "us71g45j"
    await asyncio.wait_for(app.done.wait(), 2)
    assert len(app.received) == 48
    # examples 15-16: the initiator terminates
    h.receive(action("a73sjjvkla37jfea", "session-terminate", "<reason><success/></reason>"))
    assert (await h.next_sent()).get("type") == "result"
    assert app.ended == [("success", True)]
    assert jingle.sessions() == []
    # the session is gone: unknown-session
    h.receive(action("a73sjjvkla37jfea", "session-info"))
    err = await h.next_sent()
    assert conditions(err) == [f"{ERR}item-not-found", f"{{{NS_ERRORS}}}unknown-session"]
    await h.close()


async def test_ibb_open_with_another_sid_is_refused() -> None:
    h, _jingle, _app = make()
    h.receive(INITIATE)
    await h.next_sent()
    ack(h, await h.next_sent())
    h.receive(  # a sid nobody negotiated: not taken
        f"<iq from='{ROMEO}' id='o2' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='2048' sid='other' stanza='iq'/></iq>"
    )
    assert conditions(await h.next_sent()) == [f"{ERR}not-acceptable"]
    h.receive(  # the right sid with a larger block than negotiated
        f"<iq from='{ROMEO}' id='o3' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='4096' sid='ch3d9s71' stanza='iq'/></iq>"
    )
    assert conditions(await h.next_sent()) == [f"{ERR}resource-constraint"]
    await h.close()


async def test_transport_info_moves_to_a_new_ibb_sid() -> None:
    # XEP-0261 example 9: the initiator announces another IBB session
    h, _jingle, app = make()
    h.receive(INITIATE)
    await h.next_sent()
    ack(h, await h.next_sent())
    await h.settle(10)  # the responder now waits for the first sid
    ibb: Ibb = h.feature(Ibb)
    assert list(ibb._expected) == [(ROMEO, "ch3d9s71")]
    h.receive(
        action(
            "a73sjjvkla37jfea",
            "transport-info",
            "<content creator='initiator' name='ex'><transport"
            " xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='2048' sid='bt8a71h6'/>"
            "</content>",
            id_="znb376s4",
        )
    )
    assert (await h.next_sent()).get("id") == "znb376s4"
    await h.settle(10)
    assert list(ibb._expected) == [(ROMEO, "bt8a71h6")]
    h.receive(  # example 10
        f"<iq from='{ROMEO}' id='yh3vs613' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='2048' sid='bt8a71h6' stanza='iq'/></iq>"
    )
    assert (await h.next_sent()).get("type") == "result"
    h.receive(
        f"<iq from='{ROMEO}' id='us71g45j' to='{JULIET}' type='set'>"
        f"<close xmlns='{IBB_NS}' sid='bt8a71h6'/></iq>"
    )
    assert (await h.next_sent()).get("id") == "us71g45j"
    await asyncio.wait_for(app.done.wait(), 2)
    assert app.errors == []
    await h.close()


async def test_errors_unknown_session_out_of_order_unsupported_info() -> None:
    h, _jingle, _app = make()
    h.receive(action("nosuchsid", "transport-info"))
    assert conditions(await h.next_sent()) == [
        f"{ERR}item-not-found",
        f"{{{NS_ERRORS}}}unknown-session",
    ]
    h.receive(INITIATE)
    await h.next_sent()
    ack(h, await h.next_sent())
    # a session-accept from the initiator is out of order
    h.receive(action("a73sjjvkla37jfea", "session-accept"))
    assert conditions(await h.next_sent()) == [
        f"{ERR}unexpected-request",
        f"{{{NS_ERRORS}}}out-of-order",
    ]
    # a second session-initiate with the same sid too
    h.receive(INITIATE.replace("xn28s7gk", "again"))
    assert conditions(await h.next_sent())[1] == f"{{{NS_ERRORS}}}out-of-order"
    # session-info: a ping, a known payload, an unknown one
    h.receive(action("a73sjjvkla37jfea", "session-info", id_="p"))
    assert (await h.next_sent()).get("type") == "result"
    h.receive(action("a73sjjvkla37jfea", "session-info", "<ringing xmlns='urn:xmpp:example'/>"))
    assert (await h.next_sent()).get("type") == "result"
    h.receive(action("a73sjjvkla37jfea", "session-info", "<what xmlns='urn:example:x'/>"))
    assert conditions(await h.next_sent()) == [
        f"{ERR}feature-not-implemented",
        f"{{{NS_ERRORS}}}unsupported-info",
    ]
    # the same sid from another controller is another (unknown) session
    h.receive(
        action("a73sjjvkla37jfea", "session-terminate").replace(ROMEO, "romeo@montague.lit/other")
    )
    assert conditions(await h.next_sent())[1] == f"{{{NS_ERRORS}}}unknown-session"
    await h.close()


async def test_strangers_get_service_unavailable() -> None:
    h, jingle, app = make()
    h.receive(INITIATE.replace("romeo@montague.lit", "eve@evil.example"))
    assert conditions(await h.next_sent()) == [f"{ERR}service-unavailable"]
    assert jingle.sessions() == [] and app.incoming == []
    await h.close()


# ---------------------------------------------------------------- termination paths


async def _pending(h: Harness, app: Example) -> JingleSession:
    app.auto_accept = False
    h.receive(INITIATE)
    assert (await h.next_sent()).get("type") == "result"
    await h.settle()
    return app.incoming[0][0]


@pytest.mark.parametrize("reason", ["cancel", "decline", "busy", "gone", "media-error"])
async def test_peer_terminates_pending_session(reason: str) -> None:
    h, jingle, app = make()
    await _pending(h, app)
    h.receive(action("a73sjjvkla37jfea", "session-terminate", f"<reason><{reason}/></reason>"))
    assert (await h.next_sent()).get("type") == "result"
    assert app.ended == [(reason, True)] and jingle.sessions() == []
    await h.close()


@pytest.mark.parametrize("reason", ["decline", "security-error", "failed-application"])
async def test_device_terminates(reason: str) -> None:
    h, jingle, app = make()
    s = await _pending(h, app)
    ending = asyncio.ensure_future(s.terminate(reason))
    term = await h.next_sent()
    assert jingle_of(term).get("action") == "session-terminate" and reason_of(term) == reason
    assert s.state == "ended"  # at once, before the ack (XEP-0166 §6.7)
    ack(h, term)
    await ending
    assert app.ended == [(reason, False)] and jingle.sessions() == []
    await h.close()


async def test_unanswered_session_times_out() -> None:
    h, jingle, app = make(clock=ManualClock())
    await _pending(h, app)
    await h.advance(jingle.pending_timeout - 0.5)
    assert h.unread() == [] and len(jingle.sessions()) == 1
    await h.advance(0.5)
    term = await h.next_sent()
    assert reason_of(term) == "timeout"
    assert app.ended == [("timeout", False)] and jingle.sessions() == []
    await h.close()


async def test_peer_going_offline_ends_and_cleans_up() -> None:
    h, jingle, app = make()
    h.receive(INITIATE)
    await h.next_sent()
    ack(h, await h.next_sent())
    h.receive(
        f"<iq from='{ROMEO}' id='jn3h8g65' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='2048' sid='ch3d9s71' stanza='iq'/></iq>"
    )
    await h.next_sent()
    await h.settle()
    ibb: Ibb = h.feature(Ibb)
    assert len(ibb.streams()) == 1
    h.receive(f"<presence from='{ROMEO}' type='unavailable'/>")
    await asyncio.wait_for(app.done.wait(), 2)
    assert app.ended == [("gone", True)]
    assert jingle.sessions() == [] and ibb.streams() == [] and ibb._expected == {}
    assert len(app.errors) == 1  # the reader saw the transport go
    await h.close()


@pytest.mark.parametrize("resumed", [True, False])
async def test_reconnect_without_resumption_ends_sessions(resumed: bool) -> None:
    h, jingle, app = make()
    h.receive(INITIATE)
    await h.next_sent()
    ack(h, await h.next_sent())
    h.go_offline()
    h.go_online(resumed=resumed)
    if resumed:  # stream management kept everything: the session goes on
        assert len(jingle.sessions()) == 1 and app.ended == []
    else:
        assert jingle.sessions() == [] and app.ended == [("connectivity-error", False)]
        await asyncio.wait_for(app.done.wait(), 2)
    await h.close()


async def test_unsupported_application_and_transport() -> None:
    h, jingle, app = make()
    h.receive(INITIATE.replace("urn:xmpp:example", "urn:xmpp:jingle:apps:rtp:1"))
    assert (await h.next_sent()).get("type") == "result"  # acknowledged, then ended
    assert reason_of(await h.next_sent()) == "unsupported-applications"
    # an unknown transport: the device proposes IBB; refused, it ends the session
    h.receive(
        INITIATE.replace("urn:xmpp:jingle:transports:ibb:1", S5B).replace(
            "a73sjjvkla37jfea", "second"
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    replace = await h.next_sent()
    j = jingle_of(replace)
    assert j.get("action") == "transport-replace"
    assert j.find(".//{urn:xmpp:jingle:transports:ibb:1}transport") is not None
    ack(h, replace)
    h.receive(
        action(
            "second",
            "transport-reject",
            "<content creator='initiator' name='ex'>"
            "<transport xmlns='urn:xmpp:jingle:transports:ibb:1'/></content>",
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    assert reason_of(await h.next_sent()) == "unsupported-transports"
    assert app.incoming == [] and jingle.sessions() == []
    await h.close()


@pytest.mark.parametrize(("total", "per_peer"), [(1, 4), (16, 1)])
async def test_too_many_sessions(total: int, per_peer: int) -> None:
    h, jingle, app = make(files={"max_transfers": total, "max_transfers_per_peer": per_peer})
    assert (jingle.max_sessions, jingle.max_per_peer) == (total, per_peer)
    await _pending(h, app)
    h.receive(  # another resource of the same account counts too
        INITIATE.replace("a73sjjvkla37jfea", "another")
        .replace("xn28s7gk", "i2")
        .replace("/orchard", "/balcony-2")
    )
    reply = await h.next_sent()
    assert conditions(reply)[0] == f"{ERR}resource-constraint"
    await h.close()


async def test_content_remove_of_the_only_content_ends_the_session() -> None:
    h, jingle, app = make()
    await _pending(h, app)
    h.receive(
        action(
            "a73sjjvkla37jfea",
            "content-remove",
            "<content creator='initiator' name='ex'/><reason><cancel/></reason>",
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    assert app.ended == [("cancel", True)] and jingle.sessions() == []
    await h.close()


async def test_stop_terminates_with_gone() -> None:
    h, _jingle, app = make()
    await _pending(h, app)
    await h.close()
    assert reason_of(h.unread()[-1]) == "gone"
    assert app.ended == [("gone", False)]


async def test_our_initiate_refused_ends_our_session() -> None:
    h, jingle, app = make()
    s = jingle.new_session(ROMEO, app)
    jingle.add_content(s, "ex", E("{urn:xmpp:example}description"))
    init = asyncio.ensure_future(jingle.initiate(s))
    iq = await h.next_sent()
    assert jingle_of(iq).get("initiator") == JULIET
    h.receive(
        f"<iq type='error' id='{iq.get('id')}' from='{ROMEO}'><error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    with pytest.raises(Exception, match="service-unavailable"):
        await init
    assert s.state == "ended" and jingle.sessions() == []
    await h.close()


async def test_failed_transport_without_replacement() -> None:
    h, jingle, app = make(BrokenS5BFeature, clock=ManualClock())
    h.receive(INITIATE.replace("urn:xmpp:jingle:transports:ibb:1", S5B))
    await h.next_sent()
    ack(h, await h.next_sent())
    # the responder waits replace_timeout for the initiator's transport-replace
    await h.advance(jingle.replace_timeout - 0.5)
    assert h.unread() == []
    await h.advance(1)
    term = await h.next_sent()
    assert reason_of(term) == "failed-transport"
    assert app.ended == [("failed-transport", False)]
    await h.close()


# ---------------------------------------------------------------- tie-breaking


async def test_simultaneous_initiates_lower_sid_wins() -> None:
    h, jingle, app = make()
    ours = jingle.new_session(ROMEO, app, sid="m")
    jingle.add_content(ours, "ex", E("{urn:xmpp:example}description"))
    ours_init = asyncio.ensure_future(jingle.initiate(ours))
    our_iq = await h.next_sent()
    # theirs has the higher sid: tie-break (XEP-0166 §7.2.16)
    h.receive(INITIATE.replace("a73sjjvkla37jfea", "z").replace("xn28s7gk", "hi"))
    reply = await h.next_sent()
    assert conditions(reply) == [f"{ERR}conflict", f"{{{NS_ERRORS}}}tie-break"]
    # theirs has the lower sid: acknowledged; they refuse ours the same way
    app.auto_accept = False
    h.receive(INITIATE.replace("a73sjjvkla37jfea", "a").replace("xn28s7gk", "lo"))
    assert (await h.next_sent()).get("type") == "result"
    h.receive(
        f"<iq type='error' id='{our_iq.get('id')}' from='{ROMEO}'><error type='cancel'>"
        "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        f"<tie-break xmlns='{NS_ERRORS}'/></error></iq>"
    )
    with pytest.raises(Exception, match="conflict"):
        await ours_init
    assert ours.state == "ended" and ours.reason == "tie-break"
    assert [s.sid for s in jingle.sessions()] == ["a"]
    await h.close()


# ---------------------------------------------------------------- fallback to IBB


REPLACE = f"""<iq from='{ROMEO}' id='hs92n57' to='{JULIET}' type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='transport-replace' initiator='{ROMEO}'
          sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='ex'>
      <transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='4096' sid='ch3d9s71'/>
    </content>
  </jingle>
</iq>"""


async def test_responder_accepts_transport_replace_to_ibb() -> None:
    # XEP-0260 §3: S5B failed, the initiator replaces it by IBB
    h, _jingle, app = make(BrokenS5BFeature)
    h.receive(INITIATE.replace("urn:xmpp:jingle:transports:ibb:1", S5B).replace("ch3d9s71", "x"))
    await h.next_sent()
    accept = await h.next_sent()
    assert jingle_of(accept).find(f".//{{{S5B}}}transport") is not None
    ack(h, accept)
    await asyncio.sleep(0.05)  # S5B fails; the responder waits for the replacement
    h.receive(REPLACE)
    assert (await h.next_sent()).get("id") == "hs92n57"  # acknowledged
    taccept = await h.next_sent()  # "Responder sends transport-accept"
    j = jingle_of(taccept)
    t = j.find(".//{urn:xmpp:jingle:transports:ibb:1}transport")
    assert j.get("action") == "transport-accept"
    assert (t.get("block-size"), t.get("sid")) == ("2048", "ch3d9s71")
    ack(h, taccept)
    h.receive(
        f"<iq from='{ROMEO}' id='o' to='{JULIET}' type='set'>"
        f"<open xmlns='{IBB_NS}' block-size='2048' sid='ch3d9s71' stanza='iq'/></iq>"
    )
    assert (await h.next_sent()).get("type") == "result"
    h.receive(
        f"<iq from='{ROMEO}' id='d' to='{JULIET}' type='set'>"
        f"<data xmlns='{IBB_NS}' seq='0' sid='ch3d9s71'>aGk=</data></iq>"
    )
    await h.next_sent()
    h.receive(
        f"<iq from='{ROMEO}' id='c' to='{JULIET}' type='set'>"
        f"<close xmlns='{IBB_NS}' sid='ch3d9s71'/></iq>"
    )
    await h.next_sent()
    await asyncio.wait_for(app.done.wait(), 2)
    assert bytes(app.received) == b"hi" and app.errors == []
    await h.close()


async def test_transport_replaces_beyond_the_bound_are_rejected() -> None:
    # each replace builds a new transport (connections, streams): a peer
    # gets max_replaces of them per content, and a transport-reject after
    h, jingle, _app = make(BrokenS5BFeature)
    jingle.max_replaces = 2
    h.receive(INITIATE.replace("urn:xmpp:jingle:transports:ibb:1", S5B).replace("ch3d9s71", "x"))
    await h.next_sent()
    ack(h, await h.next_sent())
    answers = []
    for n in range(3):
        h.receive(REPLACE.replace("hs92n57", f"r{n}").replace("ch3d9s71", f"ibb{n}"))
        assert (await h.next_sent()).get("id") == f"r{n}"  # acknowledged
        answer = await h.next_sent()
        j = jingle_of(answer)
        t = j.find(".//{urn:xmpp:jingle:transports:ibb:1}transport")
        answers.append((j.get("action"), t.get("sid")))
        ack(h, answer)
    assert answers == [
        ("transport-accept", "ibb0"),
        ("transport-accept", "ibb1"),
        ("transport-reject", "ibb2"),
    ]
    # the session goes on with the last accepted transport
    (session,) = jingle.sessions()
    assert session.contents["ex"].transport.sid == "ibb1"
    await h.close()


async def test_initiator_falls_back_and_wins_replace_ties() -> None:
    h, jingle, app = make(BrokenS5BFeature)
    s = jingle.new_session(ROMEO, app)
    jingle.add_content(s, "ex", E("{urn:xmpp:example}description"), transport=BrokenS5B)
    init = asyncio.ensure_future(jingle.initiate(s))
    iq = await h.next_sent()
    assert jingle_of(iq).find(f".//{{{S5B}}}transport") is not None
    ack(h, iq)
    await init
    h.receive(
        action(
            s.sid,
            "session-accept",
            f"<content creator='initiator' name='ex'><description xmlns='urn:xmpp:example'/>"
            f"<transport xmlns='{S5B}' sid='vj3hs98y'/></content>",
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    connecting = asyncio.ensure_future(s.connect())
    replace = await h.next_sent()
    j = jingle_of(replace)
    t = j.find(".//{urn:xmpp:jingle:transports:ibb:1}transport")
    assert j.get("action") == "transport-replace" and t.get("block-size") == "4096"
    # the responder replaces at the same time: the initiator's wins
    theirs = (
        "<content creator='initiator' name='ex'>"
        "<transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='1024' sid='r'/>"
        "</content>"
    )
    h.receive(action(s.sid, "transport-replace", theirs, id_="theirs"))
    assert conditions(await h.next_sent()) == [f"{ERR}conflict", f"{{{NS_ERRORS}}}tie-break"]
    ack(h, replace)
    h.receive(
        action(
            s.sid,
            "transport-accept",
            "<content creator='initiator' name='ex'><transport"
            f" xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='2048' sid='{t.get('sid')}'/>"
            "</content>",
        )
    )
    assert (await h.next_sent()).get("type") == "result"
    op = await h.next_sent()  # the initiator opens IBB with the smaller block size
    o = op.find(f"{{{IBB_NS}}}open")
    assert (o.get("sid"), o.get("block-size")) == (t.get("sid"), "2048")
    ack(h, op)
    transport = await asyncio.wait_for(connecting, 2)
    assert isinstance(transport, IBBTransport)
    await h.close()


@pytest.mark.parametrize(("names", "condition"), [
    ([f"c{i}" for i in range(200)], "not-acceptable"),  # each would get a transport
    (["same", "same"], "bad-request"),  # the first one's transport would be orphaned
])  # fmt: skip
async def test_contents_are_bounded_and_unique(names: list[str], condition: str) -> None:
    """A session-initiate may carry any number of contents (only the stanza
    size bounded them): each got a transport, and accepting answered (and
    set up: an IBB expectation, SOCKS5 connections) every one.  At most
    ``max_contents`` are taken, each name once; the rest is refused and no
    session exists."""
    h, jingle, app = make()
    body = "".join(
        f"<content creator='initiator' name='{n}'><description xmlns='urn:xmpp:example'/>"
        f"<transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='4096' sid='s{i}'/>"
        "</content>"
        for i, n in enumerate(names)
    )
    h.receive(f"<iq from='{ROMEO}' id='many' to='{JULIET}' type='set'><jingle xmlns='{NS}'"
              f" action='session-initiate' initiator='{ROMEO}' sid='m1'>{body}"
              "</jingle></iq>")  # fmt: skip
    reply = await h.next_sent()
    assert reply.get("type") == "error" and conditions(reply)[0] == f"{ERR}{condition}"
    await h.settle()
    assert jingle.sessions() == [] and app.incoming == []
    await h.close()

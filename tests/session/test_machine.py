"""The session's transition table drives its state: every row of
``machine.STEPS`` is walked by a real conversation (bytes in, bytes out),
every step a state has no row for is refused as a local bug, and the
inputs each state accepts are the ones ``machine.ACCEPTS`` lists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stanzalink.errors import LocalProtocolError
from stanzalink.jid import JID
from stanzalink.session.core import _HANDLERS, Session, SessionConfig, State
from stanzalink.session.events import Closed
from stanzalink.session.machine import ACCEPTS, STEPS, advance
from stanzalink.session.sasl import ScramKeys
from tests.session.test_core import FEAT_PLAIN, FEAT_STARTTLS, SERVER_HEADER, TLS13
from tests.session.test_sasl import ScramServer
from tests.session.test_scram_keys import scram_login

Row = tuple[State, str]

FEAT_BIND_ONLY = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
)
FEAT_BIND_SM = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    b"<sm xmlns='urn:xmpp:sm:3'/></stream:features>"
)
FEAT_BIND_SESSION = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>"
)
FEAT_BIND_SESSION_SM = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/><sm xmlns='urn:xmpp:sm:3'/>"
    b"</stream:features>"
)
SUCCESS = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
REFUSED = b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
ENABLED = b"<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true'/>"


class Recording(Session):
    """A real session that notes each step it takes (the row, before it
    is taken); nothing else differs."""

    def __init__(self, walked: set[Row], **cfg: Any) -> None:
        cfg.setdefault("resource", "agent")
        cfg.setdefault("password", "secret")
        super().__init__(SessionConfig(jid=JID.parse("device1@example.net"), **cfg))
        self.walked = walked
        self.now = 10.0
        self.streams = 0

    def _advance(self, step: str) -> None:
        before = self.state
        super()._advance(step)
        self.walked.add((before, step))

    # ------------------------------------------------ the scripted server
    def feed(self, data: bytes) -> bytes:
        self.receive_data(data, self.now)
        return self.data_to_send()

    def header(self) -> bytes:
        self.streams += 1
        return SERVER_HEADER % self.streams

    def answer(self, request: bytes, body: bytes = b"", kind: bytes = b"result") -> bytes:
        """The server's answer to the IQ the device just sent."""
        m = re.search(rb"id=\"([^\"]+)\"", request)
        assert m is not None, request
        return self.feed(b"<iq type='%s' id='%s'>%s</iq>" % (kind, m.group(1), body))

    def bound(self, request: bytes) -> bytes:
        return self.answer(
            request,
            b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<jid>device1@example.net/agent</jid></bind>",
        )

    def logged_in(self, features: bytes) -> bytes:
        """Direct TLS, PLAIN accepted; what the device sent after ``features``."""
        self.connection_made(self.now, TLS13)
        self.data_to_send()
        assert b"mechanism='PLAIN'" in self.feed(self.header() + FEAT_PLAIN)
        self.feed(SUCCESS)
        return self.feed(self.header() + features)


def reach(state: State, walked: set[Row]) -> Recording:
    """A session brought to ``state`` by a conversation."""
    s = Recording(walked, register=state in (State.REGISTER_FORM, State.REGISTER_SUBMIT))
    if state is State.DISCONNECTED:
        return s
    if state in (State.STREAM_START, State.FEATURES, State.STARTTLS, State.TLS_HANDSHAKE):
        s.connection_made(s.now)
        s.data_to_send()
        if state is not State.STREAM_START:
            s.feed(s.header())
        if state in (State.STARTTLS, State.TLS_HANDSHAKE):
            s.feed(FEAT_STARTTLS)
        if state is State.TLS_HANDSHAKE:
            s.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    elif state in (State.SASL, State.REGISTER_FORM, State.REGISTER_SUBMIT):
        s.connection_made(s.now, TLS13)
        s.data_to_send()
        s.feed(s.header() + FEAT_PLAIN)
        if state is not State.SASL:
            get = s.feed(REFUSED)
        if state is State.REGISTER_SUBMIT:
            s.answer(get, b"<query xmlns='jabber:iq:register'><username/><password/></query>")
    elif state in (State.BIND, State.LEGACY_SESSION):
        bind = s.logged_in(FEAT_BIND_SESSION)
        if state is State.LEGACY_SESSION:
            s.bound(bind)
    elif state in (State.SM_ENABLE, State.ONLINE, State.CLOSING):
        s.bound(s.logged_in(FEAT_BIND_SM))
        if state is not State.SM_ENABLE:
            s.feed(ENABLED)
        if state is State.CLOSING:
            s.close(s.now)
    elif state is State.SM_RESUME:
        s.bound(s.logged_in(FEAT_BIND_SM))
        s.feed(ENABLED)
        s.connection_lost(s.now)
        resume = s.logged_in(FEAT_BIND_SM)
        assert resume.startswith(b"<resume xmlns='urn:xmpp:sm:3'")
    assert s.state is state, (s.state, state)
    s.data_to_send()
    s.events()
    return s


def walk_every_path(walked: set[Row]) -> None:
    # STARTTLS, PLAIN, our resource refused, the legacy session, XEP-0198
    s = Recording(walked)
    s.connection_made(s.now)
    s.data_to_send()
    assert s.feed(s.header() + FEAT_STARTTLS).startswith(b"<starttls")
    s.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    s.tls_started(TLS13, s.now)
    s.data_to_send()
    s.feed(s.header() + FEAT_PLAIN)
    s.feed(SUCCESS)
    bind = s.feed(s.header() + FEAT_BIND_SESSION_SM)
    bind = s.answer(bind, kind=b"error")  # the resource is refused: ask for one
    assert b"<resource>" not in bind
    session = s.bound(bind)
    assert b"urn:ietf:params:xml:ns:xmpp-session" in session
    assert s.answer(session).startswith(b"<enable")
    s.feed(ENABLED)
    assert s.state is State.ONLINE
    s.close(s.now)
    s.feed(b"</stream:stream>")
    assert s.state is State.DISCONNECTED

    # in-band registration after a refused login, then PLAIN again
    s = Recording(walked, register=True)
    s.connection_made(s.now, TLS13)
    s.data_to_send()
    s.feed(s.header() + FEAT_PLAIN)
    get = s.feed(REFUSED)
    form = b"<query xmlns='jabber:iq:register'><username/><password/></query>"
    assert b"mechanism='PLAIN'" in s.answer(s.answer(get, form))
    assert s.state is State.SASL

    # stored SCRAM keys refused: the same mechanism once more, with the password
    old = Recording(set(), password="old-pw", resource=None)
    _, events = scram_login(old, ScramServer("sha256", "old-pw"))
    keys: dict[str, ScramKeys] = next(e.keys for e in events if hasattr(e, "keys"))
    s = Recording(walked, password="new-pw", scram_keys=dict(keys))
    out, _ = scram_login(s, ScramServer("sha256", "new-pw"))
    assert b"mechanism='SCRAM-SHA-256'" in out and s.state is State.SASL

    # bind alone; bind and the legacy session alone; bind and <enable/>
    s = Recording(walked)
    s.bound(s.logged_in(FEAT_BIND_ONLY))
    assert s.state is State.ONLINE
    s = Recording(walked)
    s.answer(s.bound(s.logged_in(FEAT_BIND_SESSION)))
    assert s.state is State.ONLINE
    s = Recording(walked)
    s.bound(s.logged_in(FEAT_BIND_SM))
    assert s.state is State.SM_ENABLE

    # resumption: accepted, then refused (bind again)
    s = reach(State.SM_RESUME, walked)
    s.feed(b"<resumed xmlns='urn:xmpp:sm:3' h='0' previd='sm-1'/>")
    assert s.state is State.ONLINE
    s = reach(State.SM_RESUME, walked)
    assert b"<bind" in s.feed(b"<failed xmlns='urn:xmpp:sm:3'/>")
    assert s.state is State.BIND

    # closing on purpose and losing the connection, from every state
    for state in State:
        if state not in (State.DISCONNECTED, State.CLOSING):
            s = reach(state, walked)
            s.close(s.now)
            assert s.state is State.CLOSING
        if state is not State.DISCONNECTED:
            s = reach(state, walked)
            s.connection_lost(s.now)
            assert s.state is State.DISCONNECTED


def test_every_row_is_walked_by_a_real_conversation() -> None:
    walked: set[Row] = set()
    walk_every_path(walked)
    assert walked <= set(STEPS), walked - set(STEPS)
    assert set(STEPS) - walked == set()


STEP_NAMES = sorted({step for _, step in STEPS})


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_every_step_without_a_row_is_refused(state: State) -> None:
    for step in STEP_NAMES:
        if (state, step) in STEPS:
            assert advance(state, step) is STEPS[(state, step)]
            continue
        with pytest.raises(LocalProtocolError, match=f"{step} in state {state.name}"):
            advance(state, step)
        # on a real session in that state: refused, and nothing changes
        s = reach(state, set())
        with pytest.raises(LocalProtocolError):
            s._advance(step)
        assert s.state is state
        assert s.data_to_send() == b"" and s.events() == []


def test_the_table_is_whole() -> None:
    """Every state but DISCONNECTED can end and (but CLOSING) be closed;
    every state is reachable from DISCONNECTED and leads back to it."""
    reachable = {State.DISCONNECTED}
    frontier = [State.DISCONNECTED]
    while frontier:
        here = frontier.pop()
        for (a, _), b in STEPS.items():
            if a is here and b not in reachable:
                reachable.add(b)
                frontier.append(b)
    assert reachable == set(State)
    for state in State:
        assert ((state, "end") in STEPS) is (state is not State.DISCONNECTED)
        assert ((state, "close") in STEPS) is (state not in (State.DISCONNECTED, State.CLOSING))
    assert set(ACCEPTS) == set(State)
    accepted = set().union(*ACCEPTS.values())
    assert accepted == set(_HANDLERS), "every accepted input has a handler, and only those"


def test_the_public_calls_are_refused_out_of_turn() -> None:
    s = reach(State.FEATURES, set())
    with pytest.raises(LocalProtocolError, match="connection_made"):
        s.connection_made(s.now)
    with pytest.raises(LocalProtocolError, match="tls_started"):
        s.tls_started(TLS13, s.now)
    assert s.state is State.FEATURES
    idle = reach(State.DISCONNECTED, set())
    with pytest.raises(LocalProtocolError):
        idle.receive_data(b"<x/>", 1.0)


@pytest.mark.parametrize("state", [s for s in State if ACCEPTS[s]], ids=lambda s: s.name)
def test_an_input_the_state_does_not_accept_is_the_servers_fault(state: State) -> None:
    s = reach(state, set())
    out = s.feed(b"<unexpected xmlns='urn:example:nothing'/>")
    # before the server's header the parser itself refuses the element
    expected = b"invalid-namespace" if state is State.STREAM_START else b"unsupported-stanza-type"
    assert out.startswith(b"<stream:error><" + expected)
    [closed] = s.events()
    assert isinstance(closed, Closed) and closed.by_peer
    assert s.state is State.DISCONNECTED

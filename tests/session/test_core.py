"""Conversation tests for the sans-IO session: the bytes the server sends in,
the bytes and events the device must produce."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from stanzalink.jid import JID
from stanzalink.session.core import Session, SessionConfig, State, TLSInfo
from stanzalink.session.events import (
    Authenticated,
    Closed,
    Online,
    Registered,
    Retry,
    StanzaReceived,
    StartTLS,
)
from stanzalink.session.sm import QueueFull
from stanzalink.xml import E

SERVER_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' from='example.net' id='s%d' version='1.0'>"
)
TLS13 = TLSInfo("TLSv1.3", {"tls-server-end-point": b"\x01" * 32})
FEAT_STARTTLS = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    b"</stream:features>"
)
FEAT_PLAIN = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>PLAIN</mechanism></mechanisms>"
    b"<register xmlns='http://jabber.org/features/iq-register'/></stream:features>"
)
FEAT_BIND = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    b"<sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/></stream:features>"
)


class Conv:
    """The device's session and a scripted server."""

    def __init__(self, **cfg: Any) -> None:
        cfg.setdefault("resource", "agent")
        self.s = Session(
            SessionConfig(jid=JID.parse("device1@example.net"), password="secret", **cfg)
        )
        self.now = 100.0
        self.streams = 0

    def out(self) -> bytes:
        return self.s.data_to_send()

    def send(self, data: bytes) -> bytes:
        self.s.receive_data(data, self.now)
        return self.out()

    def header(self) -> bytes:
        self.streams += 1
        return SERVER_HEADER % self.streams

    def events(self) -> list[Any]:
        return self.s.events()

    def login(self, tls: TLSInfo = TLS13, features: bytes = FEAT_BIND) -> bytes:
        """Direct TLS, PLAIN, bind; returns what the client sent after bind."""
        self.s.connection_made(self.now, tls)
        assert b"from='device1@example.net'" in self.out()
        auth = self.send(self.header() + FEAT_PLAIN)
        assert auth.startswith(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>")
        assert self.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").startswith(
            b"<?xml"
        )
        bind = self.send(self.header() + features)
        iq_id = re.search(rb"id=\"([^\"]+)\"", bind).group(1)  # type: ignore[union-attr]
        assert b"<resource>agent</resource>" in bind
        return self.send(
            b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<jid>device1@example.net/agent</jid></bind></iq>"
        )

    def online(self, resumable: bool = True) -> None:
        enable = self.login()
        assert enable == b"<enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>"
        rest = self.send(
            b"<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='%s' max='300'/>"
            % (b"true" if resumable else b"false")
        )
        assert rest == b"<inactive xmlns='urn:xmpp:csi:0'/>"
        assert self.s.state is State.ONLINE


def msg(n: int) -> Any:
    return E(
        "{jabber:client}message",
        {"to": "alice@example.net", "id": f"m{n}"},
        E("{jabber:client}body", text=f"hello {n}"),
    )


def test_starttls_plain_bind_sm_online() -> None:
    c = Conv()
    c.s.connection_made(c.now)
    head = c.out()
    assert head.startswith(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client'")
    assert b"to='example.net'" in head and b"from=" not in head  # no JID before TLS
    assert (
        c.send(c.header() + FEAT_STARTTLS) == b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    )
    assert c.send(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") == b""
    assert c.events() == [StartTLS()]
    c.s.tls_started(TLS13, c.now)
    assert b"from='device1@example.net'" in c.out()
    auth = c.send(c.header() + FEAT_PLAIN)
    payload = auth.split(b">", 1)[1].split(b"<", 1)[0]
    assert base64.b64decode(payload) == b"\x00device1\x00secret"
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert c.events() == [Authenticated("PLAIN")]
    assert b'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">' in c.send(c.header() + FEAT_BIND)


def test_full_login_events() -> None:
    c = Conv()
    c.online()
    evs = c.events()
    assert evs[-1] == Online(
        JID.parse("device1@example.net/agent"), resumed=False, stream_management=True
    )
    assert c.s.jid == JID.parse("device1@example.net/agent")


def test_no_starttls_offered_means_no_credentials_sent() -> None:
    c = Conv()
    c.s.connection_made(c.now)
    c.out()
    sent = c.send(c.header() + FEAT_PLAIN)
    assert b"auth" not in sent and b"secret" not in sent
    [closed] = c.events()
    assert isinstance(closed, Closed) and closed.condition == "policy-violation"
    assert not closed.by_peer and "STARTTLS" in closed.text
    # anyone on the path can strip the offer: a transient fault, not a refusal
    assert closed.retry is Retry.BACKOFF
    assert c.s.state is State.DISCONNECTED


def test_plain_is_never_used_without_tls_even_when_tls_is_optional() -> None:
    c = Conv(require_tls=False)
    c.s.connection_made(c.now)
    c.out()
    sent = c.send(c.header() + FEAT_PLAIN)
    assert b"secret" not in sent and base64.b64encode(b"\x00device1\x00secret") not in sent
    assert isinstance(c.events()[-1], Closed)


def test_data_after_proceed_before_tls_is_refused() -> None:
    c = Conv()
    c.s.connection_made(c.now)
    c.out()
    c.send(c.header() + FEAT_STARTTLS)
    out = c.send(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>")
    assert b"<stream:error>" in out
    assert isinstance(c.events()[-1], Closed)


def test_in_band_registration_when_login_is_refused() -> None:
    c = Conv(register=True)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    get = c.send(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
    assert b'<query xmlns="jabber:iq:register"' in get and b'type="get"' in get
    iq_id = re.search(rb"id=\"([^\"]+)\"", get).group(1)  # type: ignore[union-attr]
    form = (
        b"<iq type='result' id='" + iq_id + b"'><query xmlns='jabber:iq:register'>"
        b"<instructions>Choose a username and password</instructions><username/><password/>"
        b"</query></iq>"
    )
    submit = c.send(form)
    assert b"<username>device1</username><password>secret</password>" in submit
    iq_id = re.search(rb"id=\"([^\"]+)\"", submit).group(1)  # type: ignore[union-attr]
    auth = c.send(b"<iq type='result' id='" + iq_id + b"'/>")
    assert b"mechanism='PLAIN'" in auth
    assert Registered("device1") in c.events()


def test_registration_conflict_is_a_clear_error() -> None:
    c = Conv(register=True)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    get = c.send(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
    iq_id = re.search(rb"id=\"([^\"]+)\"", get).group(1)  # type: ignore[union-attr]
    submit = c.send(
        b"<iq type='result' id='" + iq_id + b"'><query xmlns='jabber:iq:register'><username/>"
        b"<password/></query></iq>"
    )
    iq_id = re.search(rb"id=\"([^\"]+)\"", submit).group(1)  # type: ignore[union-attr]
    c.send(
        b"<iq type='error' id='" + iq_id + b"'><error type='cancel'>"
        b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.retry is Retry.SLOW
    assert "exists" in closed.text


def test_wrong_password_without_registration_retries_slowly() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(
        b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"
        b"<text>bad password</text></failure>"
    )
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.retry is Retry.SLOW
    assert closed.condition == "not-authorized" and "bad password" in closed.text


def test_registration_form_with_unfillable_fields() -> None:
    c = Conv(register=True)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    get = c.send(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
    iq_id = re.search(rb"id=\"([^\"]+)\"", get).group(1)  # type: ignore[union-attr]
    c.send(
        b"<iq type='result' id='" + iq_id + b"'><query xmlns='jabber:iq:register'>"
        b"<x xmlns='jabber:x:data' type='form'><field var='username'><required/></field>"
        b"<field var='ocr'><required/></field></x></query></iq>"
    )
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and "ocr" in closed.text


def test_bind_conflict_asks_the_server_for_a_resource() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    bind = c.send(c.header() + FEAT_BIND)
    iq_id = re.search(rb"id=\"([^\"]+)\"", bind).group(1)  # type: ignore[union-attr]
    again = c.send(
        b"<iq type='error' id='" + iq_id + b"'><error type='cancel'>"
        b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    assert b'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>' in again


def test_bind_result_for_someone_else_is_refused() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    bind = c.send(c.header() + FEAT_BIND)
    iq_id = re.search(rb"id=\"([^\"]+)\"", bind).group(1)  # type: ignore[union-attr]
    out = c.send(
        b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<jid>mallory@example.net/x</jid></bind></iq>"
    )
    assert b"<stream:error><bad-format" in out


def test_sm_counts_acks_and_answers() -> None:
    c = Conv()
    c.online()
    c.events()
    for i in range(3):
        c.s.send(msg(i), c.now)
    out = c.out()
    assert out.count(b"<message") == 3 and b"<r xmlns" not in out
    assert c.send(b"<r xmlns='urn:xmpp:sm:3'/>") == b"<a xmlns='urn:xmpp:sm:3' h='0'/>"
    c.send(b"<message from='alice@example.net/x' type='chat'><body>hi</body></message>")
    assert isinstance(c.events()[0], StanzaReceived)
    assert c.send(b"<r xmlns='urn:xmpp:sm:3'/>") == b"<a xmlns='urn:xmpp:sm:3' h='1'/>"
    c.send(b"<a xmlns='urn:xmpp:sm:3' h='2'/>")
    assert len(c.s.sm.unacked) == 1
    # the ack request goes out after ack_delay even with few stanzas
    c.now += 2.5
    c.s.tick(c.now)
    assert c.out() == b"<r xmlns='urn:xmpp:sm:3'/>"


def test_ack_request_after_ack_every_stanzas() -> None:
    c = Conv(ack_every=4)
    c.online()
    for i in range(4):
        c.s.send(msg(i), c.now)
    assert c.out().endswith(b"<r xmlns='urn:xmpp:sm:3'/>")


def test_ack_for_more_than_was_sent_is_a_stream_error() -> None:
    c = Conv()
    c.online()
    c.s.send(msg(1), c.now)
    c.out()
    out = c.send(b"<a xmlns='urn:xmpp:sm:3' h='5'/>")
    assert b"<stream:error><undefined-condition" in out
    assert isinstance(c.events()[-1], Closed)


def test_h_wraps_at_2_to_the_32() -> None:
    c = Conv()
    c.online()
    c.s.sm.h_in = 2**32 - 1
    c.send(b"<presence from='alice@example.net/x'/>")
    assert c.send(b"<r xmlns='urn:xmpp:sm:3'/>") == b"<a xmlns='urn:xmpp:sm:3' h='0'/>"
    c.s.sm.h_out = c.s.sm.acked = 2**32 - 1
    c.s.send(msg(1), c.now)
    c.s.send(msg(2), c.now)
    c.out()
    c.send(b"<a xmlns='urn:xmpp:sm:3' h='1'/>")
    assert len(c.s.sm.unacked) == 0 and c.s.state is State.ONLINE


def test_resume_after_connection_loss_resends_exactly_the_unacked() -> None:
    c = Conv()
    c.online()
    for i in range(3):
        c.s.send(msg(i), c.now)
    c.out()
    c.send(b"<message from='alice@example.net/x'><body>in</body></message>")
    c.s.connection_lost(c.now)
    closed = next(e for e in c.events() if isinstance(e, Closed))
    assert closed.retry is Retry.BACKOFF
    c.s.send(msg(9), c.now)  # queued while offline
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    resume = c.send(c.header() + FEAT_BIND)
    assert resume == b"<resume xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>"
    out = c.send(b"<resumed xmlns='urn:xmpp:sm:3' h='2' previd='sm-1'/>")
    # XEP-0352: the CSI state is not kept across resumption, so it is sent again
    # before anything else (else the server holds what it should deliver)
    assert out.startswith(b"<inactive xmlns='urn:xmpp:csi:0'/>")
    assert out.count(b"<message") == 2  # m2 again, then m9
    assert out.index(b'id="m2"') < out.index(b'id="m9"')
    assert b'id="m0"' not in out and b'id="m1"' not in out
    online = [e for e in c.events() if isinstance(e, Online)]
    assert online == [Online(JID.parse("device1@example.net/agent"), True, True)]


def test_failed_resume_rebinds_and_resends_what_the_server_did_not_get() -> None:
    c = Conv()
    c.online()
    for i in range(3):
        c.s.send(msg(i), c.now)
    c.out()
    c.s.connection_lost(c.now)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    c.send(c.header() + FEAT_BIND)
    bind = c.send(
        b"<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found "
        b"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    iq_id = re.search(rb"id=\"([^\"]+)\"", bind).group(1)  # type: ignore[union-attr]
    enable = c.send(
        b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<jid>device1@example.net/agent2</jid></bind></iq>"
    )
    assert enable.startswith(b"<enable")
    out = c.send(b"<enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='true'/>")
    assert out.count(b"<message") == 2 and b'id="m0"' not in out
    assert c.s.sm.h_out == 2 and len(c.s.sm.unacked) == 2


def test_keepalive_detects_a_dead_server_within_two_intervals() -> None:
    c = Conv(keepalive=60)
    c.online()
    start = c.now
    c.now += 59
    c.s.tick(c.now)
    assert c.out() == b""
    assert c.s.next_deadline() == pytest.approx(start + 60)
    c.now = start + 60
    c.s.tick(c.now)
    assert c.out() == b"<r xmlns='urn:xmpp:sm:3'/>"
    c.now = start + 120
    c.s.tick(c.now)
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.condition == "connection-timeout"
    assert c.now - start <= 2 * 60


def test_default_probe_is_hourly_and_a_hung_server_is_noticed_within_its_bound() -> None:
    # the defaults: one probe after an hour of inbound silence (a dead path
    # is the kernel's TCP keepalive's to notice), answered within 120 s
    c = Conv()
    assert (c.s.config.keepalive, c.s.config.probe_timeout) == (3600.0, 120.0)
    c.online()
    start = c.now
    assert c.s.next_deadline() == pytest.approx(start + 3600)
    c.now = start + 3600
    c.s.tick(c.now)
    assert c.out() == b"<r xmlns='urn:xmpp:sm:3'/>"
    assert c.s.next_deadline() == pytest.approx(start + 3600 + 120)
    c.now = start + 3600 + 120
    c.s.tick(c.now)
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.condition == "connection-timeout"


def test_probe_timeout_is_at_most_the_keepalive_unless_set() -> None:
    assert Conv(keepalive=60).s.config.probe_timeout == 60
    assert Conv(keepalive=600).s.config.probe_timeout == 120
    assert Conv(keepalive=600, keepalive_timeout=300).s.config.probe_timeout == 300


def test_an_answer_to_the_probe_keeps_the_session() -> None:
    c = Conv(keepalive=60)
    c.online()
    c.now += 60
    c.s.tick(c.now)
    c.out()
    c.now += 1
    c.send(b"<a xmlns='urn:xmpp:sm:3' h='0'/>")
    c.now += 70
    c.s.tick(c.now)
    assert c.s.state is State.ONLINE


def test_ping_without_sm_and_server_pings_are_answered() -> None:
    c = Conv(stream_management=False, keepalive=30)
    assert c.login() == b"<inactive xmlns='urn:xmpp:csi:0'/>"  # online at once, no SM
    c.now += 30
    c.s.tick(c.now)
    ping = c.out()
    assert b'<ping xmlns="urn:xmpp:ping"/>' in ping and b'to="example.net"' in ping
    iq_id = re.search(rb"id=\"([^\"]+)\"", ping).group(1)  # type: ignore[union-attr]
    c.send(b"<iq type='result' id='" + iq_id + b"' from='example.net'/>")
    assert not [e for e in c.events() if isinstance(e, StanzaReceived)]
    pong = c.send(b"<iq type='get' id='p1' from='example.net'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert b'type="result"' in pong and b'id="p1"' in pong


def test_a_stranger_ping_is_left_to_the_application() -> None:
    c = Conv()
    c.online()
    c.events()
    out = c.send(
        b"<iq type='get' id='p1' from='mallory@evil.example/x'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    assert out == b""
    assert isinstance(c.events()[0], StanzaReceived)


@pytest.mark.parametrize(
    ("condition", "retry"),
    [
        ("system-shutdown", Retry.NOW),
        ("host-gone", Retry.SLOW),
        ("internal-server-error", Retry.BACKOFF),
        ("not-authorized", Retry.SLOW),
    ],
)
def test_stream_errors_from_the_server(condition: str, retry: Retry) -> None:
    c = Conv()
    c.online()
    c.events()
    out = c.send(
        b"<stream:error><" + condition.encode() + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text></stream:error>"
    )
    assert out == b"</stream:stream>"
    [closed] = c.events()
    assert closed == Closed(
        condition,
        f"the server ended the stream: {condition} (bye)",
        retry,
        True,
        resume_location=None,
    )


def test_resume_without_csi_inactive_sends_no_client_state() -> None:
    c = Conv(csi_inactive=False)
    enable = c.login()
    assert enable == b"<enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>"
    assert c.send(b"<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true'/>") == b""
    c.s.connection_lost(c.now)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert c.send(c.header() + FEAT_BIND).startswith(b"<resume ")
    assert c.send(b"<resumed xmlns='urn:xmpp:sm:3' h='0' previd='sm-1'/>") == b""
    assert c.s.state is State.ONLINE


def test_conflict_after_tls_is_retried_slowly_and_names_the_resource(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = Conv()
    c.online()
    c.events()
    c.send(b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
    [closed] = c.events()
    assert closed.retry is Retry.SLOW and closed.condition == "conflict"
    assert "another client took resource agent of device1@example.net" in closed.text
    assert any(
        r.levelname == "ERROR" and "another client took resource agent" in r.getMessage()
        for r in caplog.records
    )
    assert c.s.sm.id is None  # the session is gone: no resumption attempt


@pytest.mark.parametrize(
    "condition",
    ["conflict", "not-authorized", "see-other-host", "system-shutdown", "host-unknown", "foo"],
)
def test_every_stream_error_before_tls_is_transient_and_keeps_the_session(
    condition: str,
) -> None:
    """Before TLS anyone on the path can write a stream error: none of them
    ends the client, redirects none, and none drops the resumable session."""
    c = Conv()
    c.online()
    c.s.connection_lost(c.now)
    c.events()
    c.s.connection_made(c.now)  # plain TCP, STARTTLS next
    c.out()
    body = b"127.0.0.1:1" if condition == "see-other-host" else b""
    c.send(
        c.header()
        + b"<stream:error><"
        + condition.encode()
        + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"
        + body
        + b"</"
        + condition.encode()
        + b"></stream:error>"
    )
    [closed] = c.events()
    assert isinstance(closed, Closed)
    assert closed.retry is Retry.BACKOFF and closed.redirect is None
    assert "before TLS" in closed.text
    assert c.s.sm.resumable and c.s.sm.id == "sm-1"


def test_see_other_host_is_a_redirect() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(
        c.header() + b"<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"
        b"other.example.net:5223</see-other-host></stream:error>"
    )
    [closed] = c.events()
    assert isinstance(closed, Closed)
    assert closed.redirect == "other.example.net:5223" and closed.retry is Retry.NOW


@pytest.mark.parametrize(
    ("garbage", "condition"),
    [
        (b"<!-- x -->", "restricted-xml"),
        (b"<message><body>\xff</body></message>", "not-well-formed"),
        (b"<foo xmlns='urn:nope'/>", "unsupported-stanza-type"),
    ],
)
def test_bad_input_gets_the_right_stream_error(garbage: bytes, condition: str) -> None:
    c = Conv()
    c.online()
    c.events()
    out = c.send(garbage)
    assert out == (
        b"<stream:error><"
        + condition.encode()
        + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
    )
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.condition == condition and closed.by_peer


def test_stanzas_before_the_fault_are_delivered() -> None:
    c = Conv()
    c.online()
    c.events()
    c.send(b"<message from='a@example.net/r'><body>1</body></message><!--x-->")
    evs = c.events()
    assert isinstance(evs[0], StanzaReceived) and isinstance(evs[1], Closed)


def test_server_header_checks() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    out = c.send(SERVER_HEADER.replace(b"example.net", b"evil.example") % 1)
    assert b"<host-unknown" in out
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    out = c.send(SERVER_HEADER.replace(b" version='1.0'>", b">") % 1)
    assert b"<unsupported-version" in out
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    out = c.send(SERVER_HEADER.replace(b"jabber:client", b"jabber:server") % 1)
    assert b"<invalid-namespace" in out


def test_negotiation_timeout() -> None:
    c = Conv(negotiation_timeout=30)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.now += 30
    c.s.tick(c.now)
    closed = c.events()[-1]
    assert isinstance(closed, Closed) and closed.condition == "connection-timeout"


def test_outbound_queue_is_bounded() -> None:
    c = Conv(max_unacked=5)
    c.online()
    for i in range(5):
        c.s.send(msg(i), c.now)
    assert not c.s.can_send
    with pytest.raises(QueueFull):
        c.s.send(msg(6), c.now)
    c.out()
    c.send(b"<a xmlns='urn:xmpp:sm:3' h='5'/>")
    assert c.s.can_send


def test_close_sends_the_stream_end_and_says_never() -> None:
    c = Conv()
    c.online()
    c.events()
    c.send(b"<presence from='alice@example.net/x'/>")
    c.s.close(c.now)
    assert c.out() == b"<a xmlns='urn:xmpp:sm:3' h='1'/></stream:stream>"
    closed = [e for e in c.events() if isinstance(e, Closed)][-1]
    assert closed.retry is Retry.NEVER
    c.send(b"</stream:stream>")
    assert c.s.state is State.DISCONNECTED


def test_only_stanzas_can_be_sent() -> None:
    from stanzalink.errors import LocalProtocolError

    c = Conv()
    with pytest.raises(LocalProtocolError):
        c.s.send(E("{urn:xmpp:sm:3}r"), c.now)


@pytest.mark.parametrize("h", ["\u00b2", " 1", "+1", "1_0", "9" * 5000, "-1", ""])
def test_an_ack_count_that_is_not_plain_digits_is_bad_format(h: str) -> None:
    c = Conv()
    c.online()
    c.events()
    out = c.send(f"<a xmlns='urn:xmpp:sm:3' h='{h}'/>".encode())
    assert b"<stream:error><bad-format" in out


@pytest.mark.parametrize("version", ["\u00b2.0", "9999999.0", "x.0"])
def test_a_stream_version_that_is_not_plain_digits_is_unsupported(version: str) -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    header = SERVER_HEADER.replace(
        b"id='s%d' version='1.0'", f"id='s1' version='{version}'".encode()
    )
    out = c.send(header)
    assert b"<unsupported-version" in out


DEEP = b"<a>" * 70 + b"</a>" * 70


def test_a_stanza_over_the_limits_is_skipped_counted_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stranger's over-deep message would otherwise end the stream, and
    the server would hand it over again at every login."""
    c = Conv()
    c.online()
    c.events()
    out = c.send(
        b"<message from='mallory@evil.example/x' type='chat'><body>x</body>"
        + DEEP
        + b"</message><message from='alice@example.net/x'><body>next</body></message>"
    )
    assert out == b""
    [ev] = c.events()
    assert isinstance(ev, StanzaReceived) and ev.stanza.findtext("{jabber:client}body") == "next"
    assert c.s.state is State.ONLINE and c.s.skipped == 1
    assert c.s.sm.h_in == 2  # the skipped one counts: the server must not send it again
    assert c.send(b"<r xmlns='urn:xmpp:sm:3'/>") == b"<a xmlns='urn:xmpp:sm:3' h='2'/>"
    skips = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skips) == 1
    assert skips[0].startswith(
        "skipped a message from mallory@evil.example/x: elements nested deeper than 64 (bytes "
    )


def test_a_skipped_iq_request_gets_an_error_and_skips_are_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = Conv()
    c.online()
    c.events()
    wide = (
        b"<iq type='get' id='q%d' from='mallory@evil.example/x'><query xmlns='urn:x' "
        + (b" ".join(b"a%d='1'" % i for i in range(70)))
        + b"/></iq>"
    )
    out = c.send(wide % 1 + wide % 2)
    assert out.count(b"<iq ") == 2
    assert b'type="error"' in out and b'id="q1"' in out and b'id="q2"' in out
    assert b'to="mallory@evil.example/x"' in out
    assert b"<policy-violation xmlns" in out and b"more than 64 attributes" in out
    c.now += 61
    c.send(wide % 3)
    skips = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(skips) == 2 and "1 more like it" in skips[1]
    assert c.s.skipped == 3 and c.s.state is State.ONLINE


def test_an_over_limit_result_or_message_gets_no_answer() -> None:
    c = Conv()
    c.online()
    c.events()
    out = c.send(b"<iq type='result' id='r1' from='mallory@evil.example/x'>" + DEEP + b"</iq>")
    assert out == b"" and c.s.state is State.ONLINE


def test_an_over_limit_element_while_negotiating_is_the_servers_fault() -> None:
    c = Conv()
    c.s.connection_made(c.now, TLS13)
    c.out()
    out = c.send(c.header() + b"<stream:features>" + DEEP + b"</stream:features>")
    assert b"<policy-violation" in out
    [closed] = c.events()
    assert isinstance(closed, Closed) and closed.condition == "policy-violation"
    assert closed.retry is Retry.BACKOFF


def test_the_stream_end_names_are_importable_where_they_were() -> None:
    """The stream's end and the session's own failures moved apart (the
    first loads when first needed); the old names still import."""
    from stanzalink.session import core, fail, stream_errors

    assert core.TRANSIENT_CONDITIONS is stream_errors.TRANSIENT_CONDITIONS
    assert "internal-server-error" in core.TRANSIENT_CONDITIONS
    assert stream_errors.fail_local is fail.fail_local
    assert stream_errors.fail_remote is fail.fail_remote
    with pytest.raises(AttributeError):
        core.NOT_A_NAME  # noqa: B018


def test_the_first_stanza_loads_the_online_handler_which_takes_every_stanza_after() -> None:
    """Stanzas once online are :mod:`.online`'s, loaded with the first one:
    after it the table calls that handler directly, and a second session
    reads stanzas as the first did."""
    from stanzalink.session import core, online

    for _ in range(2):
        c = Conv()
        c.online()
        c.events()
        c.send(b"<message from='a@example.net/x'><body>hi</body></message>")
        [received] = c.events()
        assert isinstance(received, StanzaReceived)
        assert received.stanza.findtext("{jabber:client}body") == "hi"
        assert core._HANDLERS["stanza"] is online.on_stanza

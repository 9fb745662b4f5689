"""Conversation tests for the XEP-0077 §3.3 in-band password change: what the
device sends, how each server answer is taken, and that the next login
uses the new password.  Server answers follow XEP-0077's examples 18-25."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pytest

from stanzalink.errors import LocalProtocolError
from stanzalink.session.core import State
from stanzalink.session.events import (
    Closed,
    Online,
    PasswordChanged,
    PasswordChangeFailed,
    StanzaReceived,
)
from tests.session.test_core import FEAT_BIND, FEAT_PLAIN, TLS13, Conv

REG = "jabber:iq:register"
XD = "jabber:x:data"


def _id(data: bytes) -> bytes:
    return re.search(rb"id=\"([^\"]+)\"", data).group(1)  # type: ignore[union-attr]


def _change(c: Conv, new: str = "n3w-secret") -> bytes:
    c.events()  # what the login produced
    c.s.change_password(new, c.now)
    return c.out()


def test_request_result_and_the_next_login_uses_the_new_password() -> None:
    c = Conv()
    c.online()
    out = _change(c)
    iq = ET.fromstring(out)
    assert iq.get("type") == "set" and iq.get("to") == "example.net"
    q = iq.find(f"{{{REG}}}query")
    assert q is not None
    assert q.findtext(f"{{{REG}}}username") == "device1"
    assert q.findtext(f"{{{REG}}}password") == "n3w-secret"
    # the request is an ordinary stanza: counted and kept by stream management
    assert c.s.sm.h_out == 1 and len(c.s.sm.unacked) == 1
    c.send(b"<iq type='result' id='" + _id(out) + b"' from='example.net'/>")
    assert c.events() == [PasswordChanged()]
    assert c.s.config.password == "n3w-secret"

    # a later login sends the new password
    c.s.close(c.now)
    c.s.connection_lost(c.now)
    c.events()
    c.s.connection_made(c.now, TLS13)
    c.out()
    auth = c.send(c.header() + FEAT_PLAIN)
    payload = re.search(rb">([^<]+)</auth>", auth).group(1)  # type: ignore[union-attr]
    assert base64.b64decode(payload) == b"\x00device1\x00n3w-secret"


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("not-authorized", "safe enough"),
        ("not-allowed", "does not allow password changes"),
        ("bad-request", "bad-request"),
        ("service-unavailable", "does not offer"),
    ],
)
def test_refusals_keep_the_old_password(condition: str, words: str) -> None:
    c = Conv()
    c.online()
    out = _change(c)
    c.send(
        b"<iq type='error' id='" + _id(out) + b"' from='example.net'>"
        b"<error type='cancel'><" + condition.encode() + b" "
        b"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    (ev,) = c.events()
    assert isinstance(ev, PasswordChangeFailed) and ev.condition == condition
    assert words in ev.text
    assert c.s.config.password == "secret" and c.s.state is State.ONLINE
    # and another change may be tried
    assert _change(c, "again-1").count(b"<password>again-1</password>") == 1


FORM = (
    b"<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'>"
    b"<title>Password Change</title>"
    b"<instructions>Use this form to change your password.</instructions>"
    b"<field type='hidden' var='FORM_TYPE'><value>jabber:iq:register:changepassword</value>"
    b"</field>"
    b"<field type='text-single' label='Username' var='username'><required/></field>"
    b"<field type='text-private' label='Old Password' var='old_password'><required/></field>"
    b"<field type='text-private' label='New Password' var='password'><required/></field>"
    b"%s</x></query>"
)


def _form_error(iq_id: bytes, extra: bytes = b"") -> bytes:
    return (
        b"<iq type='error' from='example.net' to='device1@example.net/agent' id='"
        + iq_id
        + b"'>"
        + FORM % extra
        + b"<error code='401' type='modify'>"
        b"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )


def test_a_server_that_requires_the_form_gets_it_filled_in() -> None:
    c = Conv()
    c.online()
    first = _change(c, "groundlings")
    submit = c.send(_form_error(_id(first)))
    x = ET.fromstring(submit).find(f"{{{REG}}}query/{{{XD}}}x")
    assert x is not None and x.get("type") == "submit"
    values = {f.get("var"): f.findtext(f"{{{XD}}}value") for f in x.findall(f"{{{XD}}}field")}
    assert values == {
        "FORM_TYPE": "jabber:iq:register:changepassword",
        "username": "device1",
        "old_password": "secret",
        "password": "groundlings",
    }
    assert c.events() == []
    c.send(b"<iq type='result' id='" + _id(submit) + b"' from='example.net'/>")
    assert c.events() == [PasswordChanged()]
    assert c.s.config.password == "groundlings"


def test_the_form_is_submitted_once_only() -> None:
    c = Conv()
    c.online()
    submit = c.send(_form_error(_id(_change(c))))
    assert c.send(_form_error(_id(submit))) == b""  # no loop
    (ev,) = c.events()
    assert isinstance(ev, PasswordChangeFailed) and ev.condition == "not-authorized"
    assert c.s.config.password == "secret"


def test_a_form_the_device_cannot_fill_is_a_clear_failure() -> None:
    c = Conv()
    c.online()
    extra = b"<field type='text-single' var='captcha'><required/></field>"
    assert c.send(_form_error(_id(_change(c)), extra)) == b""
    (ev,) = c.events()
    assert isinstance(ev, PasswordChangeFailed) and "captcha" in ev.text


def test_an_answer_from_someone_else_is_not_taken() -> None:
    c = Conv()
    c.online()
    out = _change(c)
    c.send(b"<iq type='result' id='" + _id(out) + b"' from='mallory@evil.example/x'/>")
    (ev,) = c.events()
    assert isinstance(ev, StanzaReceived)  # left to the application, which drops it
    assert c.s.config.password == "secret"
    c.send(b"<iq type='result' id='" + _id(out) + b"'/>")  # no from: our server
    assert c.events() == [PasswordChanged()]


def test_only_online_and_one_at_a_time() -> None:
    c = Conv()
    with pytest.raises(LocalProtocolError):
        c.s.change_password("x", c.now)
    c.online()
    _change(c)
    with pytest.raises(LocalProtocolError):
        c.s.change_password("y", c.now)
    with pytest.raises(LocalProtocolError):
        Conv().s.change_password("", 0)
    c.s.cancel_password_change()
    _change(c, "y")


def test_the_request_survives_a_stream_resumption() -> None:
    c = Conv()
    c.online()
    out = _change(c)
    c.s.connection_lost(c.now)
    assert isinstance(c.events()[-1], Closed)
    c.s.connection_made(c.now, TLS13)
    c.out()
    c.send(c.header() + FEAT_PLAIN)
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    c.send(c.header() + FEAT_BIND)
    again = c.send(b"<resumed xmlns='urn:xmpp:sm:3' h='0' previd='sm-1'/>")
    assert _id(again) == _id(out) and b"<password>n3w-secret</password>" in again
    assert any(isinstance(e, Online) and e.resumed for e in c.events())
    c.send(b"<iq type='result' id='" + _id(out) + b"' from='example.net'/>")
    assert c.events() == [PasswordChanged()]


def test_without_stream_management_a_lost_connection_ends_the_wait() -> None:
    """Nothing will resend the request: the change is reported as failed
    with an unknown outcome, and the old password stays."""
    c = Conv(stream_management=False)
    c.login()
    _change(c)
    c.s.connection_lost(c.now)
    events = c.events()
    failed = [e for e in events if isinstance(e, PasswordChangeFailed)]
    assert failed and failed[0].condition == "connection-lost"
    assert "may or may not" in failed[0].text and c.s.config.password == "secret"
    assert isinstance(events[-1], Closed)


def test_with_stream_management_the_request_waits_for_the_next_session() -> None:
    """Not resumable: the unacknowledged request goes out again on the next
    session, so the change stays pending."""
    c = Conv()
    c.online(resumable=False)
    _change(c)
    c.s.connection_lost(c.now)
    assert not [e for e in c.events() if isinstance(e, PasswordChangeFailed)]
    assert c.s._pw_change is not None


def test_the_account_events_keep_their_import_path() -> None:
    """Registration's and the password change's events live in a module of
    their own (loaded with those operations) and are the same classes
    when imported from the events module, as before."""
    import pickle

    from stanzalink.session import account_events, events

    for name in ("Registered", "PasswordChanged", "PasswordChangeFailed"):
        assert getattr(events, name) is getattr(account_events, name)
    failed = events.PasswordChangeFailed("not-allowed", "no")
    assert repr(failed) == "PasswordChangeFailed(condition='not-allowed', text='no')"
    assert pickle.loads(pickle.dumps(failed)) == failed
    with pytest.raises(AttributeError):
        _ = events.NoSuchEvent

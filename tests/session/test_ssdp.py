"""XEP-0440 (channel-binding types) and XEP-0474 (SCRAM downgrade
protection, version 0.5.0) in the session: the server's list picks the
binding, the server's ``h`` attribute is checked against what the client
received, and a tampered list stops the login before any proof is sent."""

from __future__ import annotations

import base64
import hashlib

import pytest

from stanzalink.session.core import State, TLSInfo
from stanzalink.session.events import Authenticated, Closed
from stanzalink.session.sasl import ScramKeys, select_mechanism, ssdp_hash
from tests.session.test_core import SERVER_HEADER
from tests.session.test_sasl import ScramServer
from tests.session.test_scram_keys import _payload, _sasl_el, session

TLS13 = TLSInfo("TLSv1.3", {"tls-server-end-point": b"\x07" * 32})


def test_xep0474_example_hash() -> None:
    """XEP-0474 §5.3: SHA-1 over
    'SCRAM-SHA-1\\x1eSCRAM-SHA-1-PLUS\\x1ftls-exporter\\x1etls-server-end-point'."""
    assert (
        ssdp_hash(
            "sha1", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], ["tls-server-end-point", "tls-exporter"]
        )
        == "G6k/rBLDqgOhRRaCuuatSDFkJ08="
    )
    # without XEP-0440 there is no separator and no type list
    assert (
        ssdp_hash("sha256", ["B", "A"], None)
        == base64.b64encode(hashlib.sha256(b"A\x1eB").digest()).decode()
    )


def features(mechs: list[str], cb: list[str] | None) -> bytes:
    out = b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    out += b"".join(b"<mechanism>%s</mechanism>" % m.encode() for m in mechs)
    out += b"</mechanisms>"
    if cb is not None:
        out += b"<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
        out += b"".join(b"<channel-binding type='%s'/>" % t.encode() for t in cb)
        out += b"</sasl-channel-binding>"
    return out + b"</stream:features>"


def run(
    real: tuple[list[str], list[str] | None],
    seen: tuple[list[str], list[str] | None],
    *,
    with_hash: bool = True,
) -> tuple[bytes, bytes, list[object]]:
    """The server advertised ``real``; the client receives ``seen`` (an
    attacker may have edited it).  Returns (auth, what followed the
    challenge, events)."""
    s = session("pw")
    s.connection_made(1.0, TLS13)
    s.data_to_send()
    s.receive_data(SERVER_HEADER % 1 + features(*seen), 1.0)
    auth = s.data_to_send()
    mech = auth.split(b"mechanism='")[1].split(b"'")[0].decode()
    h = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech.removesuffix("-PLUS")]
    cb = b"\x07" * 32 if mech.endswith("-PLUS") else b""
    server = ScramServer(h, "pw", cb_data=cb)
    server.first(_payload(auth))
    if with_hash:
        server.server_first += b",h=" + ssdp_hash(h, *real).encode()
    s.receive_data(_sasl_el(b"challenge", server.server_first), 1.0)
    after = s.data_to_send()
    if s.state is State.SASL:
        s.receive_data(_sasl_el(b"success", server.final(_payload(after))), 1.0)
    return auth, after, s.events()


def test_xep0440_list_and_a_matching_hash_log_in_with_binding() -> None:
    adv = (["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"], ["tls-server-end-point"])
    auth, _, events = run(adv, adv)
    assert b"mechanism='SCRAM-SHA-256-PLUS'" in auth
    assert base64.b64decode(auth.split(b">")[1].split(b"<")[0]).startswith(
        b"p=tls-server-end-point,,"
    )
    assert Authenticated("SCRAM-SHA-256-PLUS", "p=tls-server-end-point") in events


def test_stripped_mechanisms_are_detected_before_the_proof() -> None:
    """An attacker removes SCRAM-SHA-256(-PLUS): the client takes SCRAM-SHA-1,
    but the server's hash covers the real list."""
    real = (["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"], ["tls-server-end-point"])
    seen = (["SCRAM-SHA-1"], None)
    auth, after, events = run(real, seen)
    assert b"mechanism='SCRAM-SHA-1'" in auth
    assert after.startswith(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    assert b"<response" not in after  # no client proof was sent
    closed = events[-1]
    assert isinstance(closed, Closed) and "XEP-0474" in closed.text


def test_a_changed_binding_list_is_detected() -> None:
    """The attacker replaces tls-server-end-point by a type the client cannot
    use (tls-unique on TLS 1.3): the client goes on without binding, flag n,
    as XEP-0474's rule 6 says, and the hash then shows the change."""
    real = (["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"], ["tls-server-end-point", "tls-exporter"])
    seen = (["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"], ["tls-unique"])
    auth, after, events = run(real, seen)
    assert b"mechanism='SCRAM-SHA-256'" in auth
    assert base64.b64decode(auth.split(b">")[1].split(b"<")[0]).startswith(b"n,,")
    assert after.startswith(b"<abort")
    closed = events[-1]
    assert isinstance(closed, Closed) and "XEP-0474" in closed.text


def test_rule_6_an_unusable_list_that_is_genuine_logs_in() -> None:
    adv = (["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"], ["tls-unique"])
    _, _, events = run(adv, adv)
    assert Authenticated("SCRAM-SHA-256", "n") in events


def test_servers_without_xep0474_are_unchanged() -> None:
    adv = (["SCRAM-SHA-1", "PLAIN"], None)
    _, _, events = run(adv, adv, with_hash=False)
    assert Authenticated("SCRAM-SHA-1", "y") in events


def test_plain_is_pinned_away_once_scram_was_used() -> None:
    """XEP-0474 §6: after a SCRAM login (the session holds SCRAM keys) PLAIN is
    never used again, even with the password at hand."""
    keys = {"SCRAM-SHA-1": ScramKeys("SCRAM-SHA-1", b"s", 4096, b"c" * 20, b"k" * 20)}
    m = select_mechanism(
        ["PLAIN", "SCRAM-SHA-512"], tls=True, username="d", password="p", keys=keys
    )
    assert m.name == "SCRAM-SHA-512"


def test_plain_pinning_refuses_a_plain_only_offer() -> None:
    keys = {"SCRAM-SHA-1": ScramKeys("SCRAM-SHA-1", b"s", 4096, b"c" * 20, b"k" * 20)}
    with pytest.raises(Exception, match="no mechanism in common"):
        select_mechanism(["PLAIN"], tls=True, username="d", password="p", keys=keys)


def test_external_with_a_client_certificate_in_the_session() -> None:
    """A TLS layer with a client certificate and a server offering EXTERNAL:
    EXTERNAL with an empty authzid ('='), nothing of the password sent."""
    s = session("pw")
    s.connection_made(1.0, TLSInfo("TLSv1.3", {}, client_certificate=True))
    s.data_to_send()
    s.receive_data(SERVER_HEADER % 1 + features(["SCRAM-SHA-256", "EXTERNAL"], None), 1.0)
    auth = s.data_to_send()
    assert auth == b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>"
    s.receive_data(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", 1.0)
    assert Authenticated("EXTERNAL", "") in s.events() and s.authenticated

"""The value classes written out instead of dataclasses (stanzalink._value):
equality, hashing, immutability, repr and defaults behave as before."""

from __future__ import annotations

import pytest

from stanzalink.aio.client import ClientConfig
from stanzalink.aio.targets import Target
from stanzalink.errors import LocalProtocolError
from stanzalink.jid import JID
from stanzalink.session.core import SessionConfig, TLSInfo
from stanzalink.session.events import Closed, Online, Retry, StanzaReceived, StartTLS
from stanzalink.session.sasl import ScramKeys
from stanzalink.session.sm import StreamManagement
from stanzalink.xml.events import StreamClose, StreamOpen


def test_jid_compares_and_hashes_by_its_parts() -> None:
    a = JID.parse("Device1@Example.NET/agent")
    b = JID("device1", "example.net", "agent")
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a != a.bare and a.bare == JID("device1", "example.net")
    assert a != "device1@example.net/agent"
    assert repr(b) == "JID(domain='example.net', local='device1', resource='agent')"
    with pytest.raises(AttributeError):
        a.local = "other"  # type: ignore[misc]


def test_events_are_immutable_values() -> None:
    jid = JID.parse("d@example.net/r")
    assert Online(jid, False, True) == Online(jid, resumed=False, stream_management=True)
    assert Online(jid, False, True) != Online(jid, True, True)
    assert StartTLS() == StartTLS() and StreamClose() == StreamClose()
    assert StartTLS() != StreamClose()
    closed = Closed("conflict", "replaced", Retry.NEVER, by_peer=True)
    assert closed.redirect is None and closed.resume_location is None
    with pytest.raises(AttributeError):
        closed.text = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del closed.text  # type: ignore[misc]
    assert "condition='conflict'" in repr(closed)
    with pytest.raises(TypeError):
        StanzaReceived()  # type: ignore[call-arg]
    keys = ScramKeys("SCRAM-SHA-1", b"salt", 4096, b"ck", b"sk")
    assert keys == ScramKeys("SCRAM-SHA-1", b"salt", 4096, b"ck", b"sk")
    assert len({keys, ScramKeys("SCRAM-SHA-1", b"salt", 4096, b"ck", b"sk")}) == 1
    assert Target("h", 5222, False) == Target("h", 5222, False)


def test_mutable_defaults_are_not_shared() -> None:
    a = StreamOpen({"id": "1"})
    b = StreamOpen({"id": "1"})
    assert a == b and a.nsmap == {} and a.nsmap is not b.nsmap
    assert TLSInfo("TLSv1.3").channel_bindings is not TLSInfo("TLSv1.3").channel_bindings
    jid = JID.parse("d@example.net")
    c1, c2 = ClientConfig(jid=jid), ClientConfig(jid=jid)
    for name in ("scram_keys", "parser_limits", "extra"):
        assert getattr(c1, name) == {} and getattr(c1, name) is not getattr(c2, name)
    assert c1 == c2
    c2.port = 5223
    assert c1 != c2
    s1, s2 = StreamManagement(), StreamManagement()
    s1.unacked.append(b"x")
    assert not s2.unacked and s1 != s2


def test_config_positional_order_and_checks_are_kept() -> None:
    jid = JID.parse("d@example.net")
    cfg = ClientConfig(jid, "pw", "agent", host="127.0.0.1")
    assert (cfg.password, cfg.resource, cfg.host, cfg.port) == ("pw", "agent", "127.0.0.1", 5222)
    assert cfg.keepalive == 3600.0 and cfg.stream_management and cfg.max_unacked == 1000
    assert cfg.probe_timeout == 120.0 and cfg.tcp_keepalive_idle == 300
    with pytest.raises(LocalProtocolError):
        SessionConfig(jid, keepalive=0)
    with pytest.raises(LocalProtocolError):
        ClientConfig(jid, keepalive=-1)


def test_values_copy_and_pickle() -> None:
    import copy
    import pickle

    jid = JID.parse("d@example.net/r")
    for clone in (copy.copy(jid), copy.deepcopy(jid), pickle.loads(pickle.dumps(jid))):
        assert clone == jid and clone.resource == "r"
    closed = Closed("conflict", "replaced", Retry.NEVER, by_peer=True, redirect="h:5222")
    assert pickle.loads(pickle.dumps(closed)) == closed

"""Keeping SCRAM's salted keys instead of the password: the session learns
them at a login with the password, logs in with them alone while the
server's salt and iteration count match, fails clearly when they do not and
no password is left, and falls back to the password when keys are refused.
Plus the keys file (session.keystore) and its config key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from stanzalink.agent import parse_config
from stanzalink.config import ConfigError
from stanzalink.jid import JID
from stanzalink.session import keystore
from stanzalink.session.core import Session, SessionConfig, State
from stanzalink.session.events import Authenticated, Closed, ScramKeysUpdated
from stanzalink.session.sasl import ScramKeys
from tests.session.test_core import SERVER_HEADER, TLS13
from tests.session.test_sasl import ScramServer

FEAT_SCRAM = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
    b"</stream:features>"
)
SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"


def _payload(data: bytes) -> bytes:
    m = re.search(rb">([^<]*)</(?:auth|response)>", data)
    assert m is not None, data
    return base64.b64decode(m.group(1))


def _sasl_el(tag: bytes, data: bytes) -> bytes:
    return b"<%s xmlns='%s'>%s</%s>" % (tag, SASL, base64.b64encode(data), tag)


def scram_login(s: Session, server: ScramServer, accept: bool = True) -> tuple[bytes, list[Any]]:
    """Run SCRAM-SHA-256 against ``server``: what the device sent last and
    the events.  ``server`` refuses the proof unless it is right."""
    now = 1.0
    s.connection_made(now, TLS13)
    s.data_to_send()
    s.receive_data(SERVER_HEADER % 1 + FEAT_SCRAM, now)
    auth = s.data_to_send()
    assert b"mechanism='SCRAM-SHA-256'" in auth
    s.receive_data(_sasl_el(b"challenge", server.first(_payload(auth))), now)
    final = s.data_to_send()
    if s.state is not State.SASL:
        return final, s.events()
    try:
        verifier = server.final(_payload(final))
    except AssertionError:
        verifier = b""
    if verifier and accept:
        s.receive_data(_sasl_el(b"success", verifier), now)
    else:
        s.receive_data(
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>", now
        )
    return s.data_to_send(), s.events()


def resalted(password: str, salt: bytes) -> ScramServer:
    """The account after a reset: the same password under another salt."""
    server = ScramServer("sha256", password)
    server.salt = salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, server.iterations)
    server.client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server.server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return server


def session(password: str | None, keys: dict[str, ScramKeys] | None = None) -> Session:
    return Session(
        SessionConfig(
            jid=JID.parse("device1@example.net"),
            password=password,
            resource="agent",
            scram_keys=dict(keys or {}),
        )
    )


def test_keys_are_learned_and_then_replace_the_password() -> None:
    server = ScramServer("sha256", "pw")
    s = session("pw")
    out, events = scram_login(s, server)
    assert s.authenticated and out.startswith(b"<?xml")  # the stream restarts
    learned = [e for e in events if isinstance(e, ScramKeysUpdated)]
    assert len(learned) == 1
    keys = learned[0].keys["SCRAM-SHA-256"]
    assert (keys.salt, keys.iterations) == (server.salt, server.iterations)
    assert (keys.client_key, keys.server_key) == (server.client_key, server.server_key)

    # a device that keeps only the keys logs in, and the server's proof is checked
    again = session(None, learned[0].keys)
    out, events = scram_login(again, server)
    assert again.authenticated
    assert Authenticated("SCRAM-SHA-256", "y") in events  # TLS, but no -PLUS offered
    assert not [e for e in events if isinstance(e, ScramKeysUpdated)]  # nothing new


def test_keys_for_another_salt_without_password_fail_clearly() -> None:
    server = ScramServer("sha256", "pw")
    s = session("pw")
    _, events = scram_login(s, server)
    keys = next(e for e in events if isinstance(e, ScramKeysUpdated)).keys
    server = resalted("pw", b"a-new-salt-after-a-reset")
    keys_only = session(None, keys)
    out, events = scram_login(keys_only, server)
    assert out.startswith(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.condition == "not-authorized"
    assert "salt" in closed.text and "no password" in closed.text
    assert not keys_only.authenticated


def test_keys_for_another_salt_with_password_use_the_password() -> None:
    old = ScramServer("sha256", "pw")
    s = session("pw")
    _, events = scram_login(s, old)
    keys = next(e for e in events if isinstance(e, ScramKeysUpdated)).keys
    new = resalted("pw", b"fresh-salt")
    both = session("pw", keys)
    _, events = scram_login(both, new)
    assert both.authenticated
    updated = [e for e in events if isinstance(e, ScramKeysUpdated)]
    assert updated and updated[0].keys["SCRAM-SHA-256"].salt == b"fresh-salt"


def test_refused_keys_are_dropped_and_the_password_tried_once() -> None:
    """Same salt, another password on the server: the stored keys are
    refused; the session forgets them and logs in with the password."""
    stale = ScramServer("sha256", "old-pw")
    s = session("old-pw")
    _, events = scram_login(s, stale)
    keys = next(e for e in events if isinstance(e, ScramKeysUpdated)).keys
    server = ScramServer("sha256", "new-pw")  # same salt and count
    dev = session("new-pw", keys)
    out, events = scram_login(dev, server)
    # the refusal made the session start again with the password
    assert [e.keys for e in events if isinstance(e, ScramKeysUpdated)] == [{}]
    assert b"mechanism='SCRAM-SHA-256'" in out and dev.state is State.SASL
    dev.receive_data(_sasl_el(b"challenge", server.first(_payload(out))), 2.0)
    dev.receive_data(_sasl_el(b"success", server.final(_payload(dev.data_to_send()))), 2.0)
    assert dev.authenticated
    learned = [e for e in dev.events() if isinstance(e, ScramKeysUpdated)]
    assert learned[0].keys["SCRAM-SHA-256"].client_key == server.client_key


def test_keys_only_refused_is_not_retried() -> None:
    stale = ScramServer("sha256", "old-pw")
    s = session("old-pw")
    _, events = scram_login(s, stale)
    keys = next(e for e in events if isinstance(e, ScramKeysUpdated)).keys
    dev = session(None, keys)
    _, events = scram_login(dev, ScramServer("sha256", "new-pw"))
    closed = events[-1]
    assert isinstance(closed, Closed) and closed.condition == "not-authorized"


def test_without_password_plain_is_never_chosen() -> None:
    keys = {"SCRAM-SHA-1": ScramKeys("SCRAM-SHA-1", b"s", 4096, b"c" * 20, b"k" * 20)}
    s = session(None, keys)
    s.connection_made(1.0, TLS13)
    s.data_to_send()
    s.receive_data(SERVER_HEADER % 1 + FEAT_SCRAM, 1.0)  # SHA-256 and PLAIN only
    events = s.events()
    closed = events[-1]
    assert isinstance(closed, Closed) and "no mechanism in common" in closed.text
    assert b"<auth" not in s.data_to_send()


# ------------------------------------------------------------------ the file
def _keys() -> dict[str, ScramKeys]:
    return {
        "SCRAM-SHA-1": ScramKeys("SCRAM-SHA-1", b"salt1", 4096, b"a" * 20, b"b" * 20),
        "SCRAM-SHA-512": ScramKeys("SCRAM-SHA-512", b"salt5", 10000, b"c" * 64, b"d" * 64),
    }


def test_keystore_round_trip_mode_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "scram.json"
    keystore.save(path, "device1@example.net", _keys())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore.load(path, "device1@example.net") == _keys()
    assert keystore.load(path, "other@example.net") == {}  # not ours: ignored
    keystore.save(path, "device1@example.net", {})
    assert keystore.load(path, "device1@example.net") == {}
    assert sorted(os.listdir(tmp_path)) == ["scram.json"]  # no temporary left behind
    assert keystore.load(tmp_path / "absent.json", "device1@example.net") == {}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"version": 2, "jid": "device1@example.net", "keys": {}}',
        '{"version": 1, "jid": "device1@example.net", "keys": {"MD5": {}}}',
        '{"version": 1, "jid": "device1@example.net", "keys": {"SCRAM-SHA-1": '
        '{"salt": "c2FsdA==", "iterations": 4096, "client_key": "YQ==", "server_key": "YQ=="}}}',
    ],
)
def test_keystore_refuses_what_it_did_not_write(text: str) -> None:
    with pytest.raises(keystore.KeyStoreError):
        keystore.loads(text, "device1@example.net")


def test_config_keys_file_may_replace_the_password(tmp_path: Path) -> None:
    path = tmp_path / "scram.json"
    account: dict[str, Any] = {"jid": "device1@example.net", "scram_keys_file": str(path)}
    with pytest.raises(ConfigError) as info:
        parse_config({"account": account})  # no keys yet and no password
    assert "account.scram_keys_file" in str(info.value)
    keystore.save(path, "device1@example.net", _keys())
    cfg = parse_config({"account": account})
    assert cfg.password is None and cfg.section("account")["scram_keys_file"] == str(path)
    cfg = parse_config({"account": {**account, "password": "p"}})
    assert cfg.password == "p"
    with pytest.raises(ConfigError) as info:
        parse_config({"account": {**account, "scram_keys_file": str(tmp_path / "no" / "x.json")}})
    assert "account.scram_keys_file" in str(info.value)
    path.write_text("garbage")
    with pytest.raises(ConfigError) as info:
        parse_config({"account": account})
    assert "account.scram_keys_file" in str(info.value)

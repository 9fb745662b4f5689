"""SASL mechanisms: the RFC test vectors, GS2 flags, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from stanzalink.errors import LocalProtocolError
from stanzalink.session.sasl import (
    Plain,
    SASLError,
    Scram,
    saslprep,
    select_mechanism,
    tls_server_end_point,
    usable_bindings,
)


def test_rfc5802_scram_sha1_vector() -> None:
    m = Scram("SCRAM-SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    assert m.initial_response() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = m.challenge(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final == (
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    m.success(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")


def test_rfc7677_scram_sha256_vector() -> None:
    m = Scram("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert m.initial_response() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = m.challenge(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    m.success(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


class ScramServer:
    """A SCRAM server written from RFC 5802 §3, for round trips."""

    def __init__(self, hash_name: str, password: str, cb_data: bytes = b"") -> None:
        self.h = hash_name
        self.salt = b"salty-salt-1234"
        self.iterations = 4096
        salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), self.salt, self.iterations)
        self.client_key = hmac.new(salted, b"Client Key", hash_name).digest()
        self.server_key = hmac.new(salted, b"Server Key", hash_name).digest()
        self.cb_data = cb_data

    def first(self, client_first: bytes) -> bytes:
        gs2, _, self.bare = client_first.partition(b",,")
        self.gs2 = gs2 + b",,"
        nonce = dict(p.split(b"=", 1) for p in self.bare.split(b","))[b"r"]
        self.server_first = (
            b"r=" + nonce + b"SERVER,s=" + base64.b64encode(self.salt) + b",i=%d" % self.iterations
        )
        return self.server_first

    def final(self, client_final: bytes) -> bytes:
        without_proof, _, proof = client_final.rpartition(b",p=")
        attrs = dict(p.split(b"=", 1) for p in without_proof.split(b","))
        assert base64.b64decode(attrs[b"c"]) == self.gs2 + self.cb_data
        auth = self.bare + b"," + self.server_first + b"," + without_proof
        stored = hashlib.new(self.h, self.client_key).digest()
        sig = hmac.new(stored, auth, self.h).digest()
        key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), sig, strict=True))
        assert hashlib.new(self.h, key).digest() == stored, "bad client proof"
        return b"v=" + base64.b64encode(hmac.new(self.server_key, auth, self.h).digest())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_round_trip(mech: str) -> None:
    server = ScramServer(HASH[mech], "s3cr3t")
    m = Scram(mech, "device1", "s3cr3t")
    server_first = server.first(m.initial_response())
    m.success(server.final(m.challenge(server_first)))


HASH = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


def test_plus_round_trip_binds_the_channel() -> None:
    cb = b"\x11" * 32
    server = ScramServer("sha512", "pw", cb_data=cb)
    m = Scram("SCRAM-SHA-512-PLUS", "device1", "pw", cb_type="tls-server-end-point", cb_data=cb)
    first = m.initial_response()
    assert first.startswith(b"p=tls-server-end-point,,")
    m.success(server.final(m.challenge(server.first(first))))
    # the same exchange over another channel fails at the server
    other = ScramServer("sha512", "pw", cb_data=b"\x22" * 32)
    m2 = Scram("SCRAM-SHA-512-PLUS", "device1", "pw", cb_type="tls-server-end-point", cb_data=cb)
    with pytest.raises(AssertionError):
        other.final(m2.challenge(other.first(m2.initial_response())))


def test_wrong_server_signature_is_refused() -> None:
    server = ScramServer("sha256", "pw")
    m = Scram("SCRAM-SHA-256", "device1", "pw")
    m.challenge(server.first(m.initial_response()))
    with pytest.raises(SASLError) as info:
        m.success(b"v=" + base64.b64encode(b"\x00" * 32))
    assert info.value.condition == "not-authorized"


@pytest.mark.parametrize(
    ("server_first", "condition"),
    [
        (b"r=someoneelse,s=c2FsdA==,i=4096", "malformed-request"),
        (b"r=NONCE,s=c2FsdA==,i=4096", "malformed-request"),  # not extended
        (b"r=NONCEx,s=c2FsdA==,i=1000", "malformed-request"),  # too few iterations
        (b"r=NONCEx,s=***,i=4096", "malformed-request"),
        (b"m=ext,r=NONCEx,s=c2FsdA==,i=4096", "malformed-request"),
        (b"e=unknown-user", "not-authorized"),
        (b"r=NONCEx", "malformed-request"),
        (b"\xff\xfe", "malformed-request"),
    ],
)
def test_bad_server_first(server_first: bytes, condition: str) -> None:
    m = Scram("SCRAM-SHA-1", "u", "p", nonce="NONCE")
    m.initial_response()
    with pytest.raises(SASLError) as info:
        m.challenge(server_first)
    assert info.value.condition == condition


def test_stored_keys_replace_the_password() -> None:
    server = ScramServer("sha256", "pw")
    m = Scram("SCRAM-SHA-256", "device1", "pw")
    m.success(server.final(m.challenge(server.first(m.initial_response()))))
    keys = m.keys
    assert keys is not None and keys.iterations == 4096
    again = Scram("SCRAM-SHA-256", "device1", None, keys=keys)
    again.success(server.final(again.challenge(server.first(again.initial_response()))))
    # a server with another salt cannot be served from the keys alone
    server.salt = b"other"
    third = Scram("SCRAM-SHA-256", "device1", None, keys=keys)
    with pytest.raises(LocalProtocolError):
        third.challenge(server.first(third.initial_response()))


def test_username_escaping_and_saslprep() -> None:
    m = Scram("SCRAM-SHA-1", "a=b,c", "p", nonce="N")
    assert m.initial_response() == b"n,,n=a=3Db=2Cc,r=N"
    assert saslprep("I\u00adX") == "IX"  # RFC 4013 §3 examples
    assert saslprep("user") == "user"
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    with pytest.raises(LocalProtocolError):
        saslprep("\u0007")
    with pytest.raises(LocalProtocolError):
        saslprep("\u0627\u0031")


TLS12 = {"tls-unique": b"U" * 12, "tls-server-end-point": b"E" * 32}
TLS13 = {"tls-unique": b"U" * 12, "tls-server-end-point": b"E" * 32}


def _gs2(m: object) -> bytes:
    assert isinstance(m, Scram)
    return m.initial_response().split(b",", 1)[0]


def test_selection_prefers_plus_with_tls_unique_on_tls12() -> None:
    offered = ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "PLAIN"]
    m = select_mechanism(
        offered, tls=True, tls_version="TLSv1.2", cb_types=TLS12, username="d", password="p"
    )
    assert m.name == "SCRAM-SHA-1-PLUS" and _gs2(m) == b"p=tls-unique"


def test_tls_unique_is_never_used_on_tls13() -> None:
    assert usable_bindings("TLSv1.3", TLS13, None) == []
    offered = ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"]
    m = select_mechanism(
        offered, tls=True, tls_version="TLSv1.3", cb_types=TLS13, username="d", password="p"
    )
    # the server offers -PLUS with a binding we cannot use here: plain SCRAM, flag n
    assert m.name == "SCRAM-SHA-1" and _gs2(m) == b"n"


def test_xep0440_list_picks_a_type_we_share() -> None:
    m = select_mechanism(
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
        tls=True,
        tls_version="TLSv1.3",
        cb_types=TLS13,
        server_cb_types=["tls-server-end-point"],
        username="d",
        password="p",
    )
    assert m.name == "SCRAM-SHA-256-PLUS" and _gs2(m) == b"p=tls-server-end-point"


def test_stripped_plus_offer_sends_y() -> None:
    m = select_mechanism(
        ["SCRAM-SHA-1", "PLAIN"],
        tls=True,
        tls_version="TLSv1.2",
        cb_types=TLS12,
        username="d",
        password="p",
    )
    assert m.name == "SCRAM-SHA-1" and _gs2(m) == b"y"


def test_announced_bindings_without_plus_is_a_downgrade() -> None:
    with pytest.raises(SASLError):
        select_mechanism(
            ["SCRAM-SHA-1"],
            tls=True,
            tls_version="TLSv1.3",
            cb_types=TLS13,
            server_cb_types=["tls-server-end-point"],
            username="d",
            password="p",
        )


def test_no_binding_data_sends_n() -> None:
    m = select_mechanism(
        ["SCRAM-SHA-1"], tls=True, tls_version="TLSv1.3", cb_types={}, username="d", password="p"
    )
    assert _gs2(m) == b"n"


def test_strongest_wins_and_plain_needs_tls() -> None:
    m = select_mechanism(
        ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-512", "SCRAM-SHA-256"],
        tls=True,
        username="d",
        password="p",
    )
    assert m.name == "SCRAM-SHA-512"
    with pytest.raises(LocalProtocolError) as info:
        select_mechanism(["PLAIN"], tls=False, username="d", password="p")
    assert "clear" in str(info.value)
    m = select_mechanism(["PLAIN"], tls=True, username="d", password="p")
    assert isinstance(m, Plain) and m.initial_response() == b"\x00d\x00p"


def test_external_with_a_client_certificate() -> None:
    m = select_mechanism(["EXTERNAL", "SCRAM-SHA-1"], tls=True, have_client_cert=True, username="d")
    assert m.name == "EXTERNAL" and m.initial_response() == b""
    m = select_mechanism(
        ["EXTERNAL", "SCRAM-SHA-1"], tls=True, have_client_cert=False, username="d", password="p"
    )
    assert m.name == "SCRAM-SHA-1"


def test_allowed_list_is_honoured() -> None:
    m = select_mechanism(
        ["SCRAM-SHA-256", "SCRAM-SHA-1"],
        tls=True,
        allowed={"SCRAM-SHA-1"},
        username="d",
        password="p",
    )
    assert m.name == "SCRAM-SHA-1"


def test_tls_server_end_point_hash_choice() -> None:
    der = b"not really a certificate"
    assert tls_server_end_point(der, "sha1") == hashlib.sha256(der).digest()
    assert tls_server_end_point(der, "sha384") == hashlib.sha384(der).digest()
    assert tls_server_end_point(der) == hashlib.sha256(der).digest()


@pytest.mark.parametrize(("digest", "expected"), [("sha384", "sha384"), ("sha1", "sha256")])
def test_tls_server_end_point_reads_the_certificate(
    tmp_path: object, digest: str, expected: str
) -> None:
    import shutil
    import ssl
    import subprocess
    from pathlib import Path

    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    d = Path(str(tmp_path))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", f"-{digest}", "-days", "1",
         "-subj", "/CN=example.net", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    der = ssl.PEM_cert_to_DER_cert((d / "c.pem").read_text())
    assert tls_server_end_point(der) == hashlib.new(expected, der).digest()


def _outcome(f: Callable[[str], str], text: str) -> str:
    try:
        return "ok:" + f(text)
    except LocalProtocolError as exc:
        return "error:" + str(exc)


def test_saslprep_ascii_without_tables_is_saslprep_with_them() -> None:
    """The ASCII shortcut gives what the RFC 3454 tables give, for every
    ASCII character alone and between others, and for whole strings."""
    from stanzalink.session.saslprep import saslprep_tables as _saslprep_tables

    samples = ["", "user", "Pass word", "a=b,c", "\x7f", "tab\there", "ok~"]
    for code in range(128):
        samples += [chr(code), f"a{chr(code)}b", f"{chr(code)}{chr(code)}"]
    for text in samples:
        assert _outcome(saslprep, text) == _outcome(_saslprep_tables, text), repr(text)

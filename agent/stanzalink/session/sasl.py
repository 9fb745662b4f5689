"""SASL mechanisms for the session, sans-IO: SCRAM-SHA-1/256/512 and their
-PLUS variants (RFC 5802, RFC 7677), PLAIN (RFC 4616) and EXTERNAL.

Mechanisms take and return raw bytes; base64 belongs to the XML layer.
Channel-binding data comes from the caller (the TLS adapter), so nothing
here touches ssl or sockets.

Channel binding and the GS2 flag (RFC 5802 §6):

- a -PLUS mechanism is used when the server offers one and the connection
  has a binding type the server accepts: the XEP-0440 list when the server
  sends one, else ``tls-unique`` (RFC 5802's default), which exists only on
  TLS 1.2 and below (RFC 9266); the flag is then ``p=<type>``;
- ``y`` when the client could bind but the server offered no -PLUS
  mechanism: a server that does support binding then sees the downgrade;
- ``n`` when the client cannot bind (no TLS data, or no type in common).

SASLprep of a string that is not ASCII is in :mod:`.saslprep`, loaded
when first needed.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence

from stanzalink import digest
from stanzalink._value import Value, _set
from stanzalink.errors import LocalProtocolError, RemoteProtocolError

HASHES: dict[str, str] = {
    "SCRAM-SHA-1": "sha1",
    "SCRAM-SHA-256": "sha256",
    "SCRAM-SHA-512": "sha512",
}
# strongest first
ORDER = [
    "EXTERNAL",
    "SCRAM-SHA-512-PLUS",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-512",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
]
# preferred channel-binding types, best first
CB_PREFERENCE = ["tls-exporter", "tls-server-end-point", "tls-unique"]
MIN_ITERATIONS = 4096


class SASLError(RemoteProtocolError):
    """The server's SASL messages are wrong (the condition to report)."""


# --------------------------------------------------------------------- SASLprep
def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (stored strings).  An ASCII string is prepared
    without the Unicode tables (they are large, and a lookup touches them):
    for ASCII, no character is mapped, NFKC changes nothing, and the only
    prohibited characters are the controls (RFC 3454 C.2.1)."""
    if text.isascii():
        for ch in text:
            if ch < " " or ch == "\x7f":
                raise LocalProtocolError(f"U+{ord(ch):04X} is not allowed in a SASL string")
        return text
    from stanzalink.session.saslprep import saslprep_tables

    return saslprep_tables(text)


def _scram_name(username: str) -> str:
    return saslprep(username).replace("=", "=3D").replace(",", "=2C")


# --------------------------------------------------------------------- channel binding
def tls_server_end_point(der: bytes, signature_hash: str | None = None) -> bytes:
    """RFC 5929 §4.1: the server certificate hashed with its signature hash
    algorithm; SHA-256 when that is MD5 or SHA-1 (or unknown)."""
    name = (signature_hash or _cert_signature_hash(der) or "sha256").lower()
    if name in ("md5", "sha1"):
        name = "sha256"
    try:
        return digest.digest(name, der)
    except ValueError:
        return digest.digest("sha256", der)


_SIG_OIDS = {
    # RSA PKCS#1 v1.5
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    # ECDSA
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER item at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _cert_signature_hash(der: bytes) -> str | None:
    """The hash of a certificate's signatureAlgorithm (a minimal DER walk:
    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, ... })."""
    try:
        _, start, _ = _der_item(der, 0)
        _, _, tbs_end = _der_item(der, start)
        tag, alg_start, _ = _der_item(der, tbs_end)
        if tag != 0x30:
            return None
        tag, oid_start, oid_end = _der_item(der, alg_start)
        if tag != 0x06:
            return None
        raw = der[oid_start:oid_end]
        parts = [raw[0] // 40, raw[0] % 40]
        value = 0
        for b in raw[1:]:
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                parts.append(value)
                value = 0
        return _SIG_OIDS.get(".".join(str(p) for p in parts))
    except (ValueError, IndexError):
        return None


# --------------------------------------------------------------------- XEP-0474
def ssdp_hash(hash_name: str, mechanisms: Sequence[str], cb_types: Sequence[str] | None) -> str:
    """XEP-0474 (0.5.0) §5.1: the advertised mechanisms sorted by octets and
    joined by U+001E; when XEP-0440 was used, U+001F and the sorted binding
    types joined by U+001E; hashed with the SCRAM hash, base64."""
    text = "\x1e".join(sorted(mechanisms, key=str.encode))
    if cb_types is not None:
        text += "\x1f" + "\x1e".join(sorted(cb_types, key=str.encode))
    return base64.b64encode(digest.digest(hash_name, text.encode())).decode()


# --------------------------------------------------------------------- mechanisms
class Mechanism:
    name = ""
    gs2_flag = ""

    def initial_response(self) -> bytes | None:
        raise NotImplementedError

    def challenge(self, data: bytes) -> bytes:
        raise SASLError("malformed-request", f"{self.name} expects no challenge")

    def success(self, data: bytes) -> None:
        if data:
            raise SASLError("malformed-request", f"{self.name} expects no data with success")


class Plain(Mechanism):
    name = "PLAIN"

    def __init__(self, username: str, password: str, authzid: str = "") -> None:
        self._msg = (
            authzid.encode()
            + b"\x00"
            + saslprep(username).encode()
            + b"\x00"
            + saslprep(password).encode()
        )

    def initial_response(self) -> bytes:
        return self._msg


class External(Mechanism):
    name = "EXTERNAL"

    def __init__(self, authzid: str = "") -> None:
        self._authzid = authzid

    def initial_response(self) -> bytes:
        return self._authzid.encode()


class ScramKeys(Value):
    """What a device may keep instead of its password: the salted keys for
    one salt and iteration count (RFC 5802 §3)."""

    __slots__ = ("client_key", "iterations", "mechanism", "salt", "server_key")

    mechanism: str
    salt: bytes
    iterations: int
    client_key: bytes
    server_key: bytes

    def __init__(
        self, mechanism: str, salt: bytes, iterations: int, client_key: bytes, server_key: bytes
    ) -> None:
        _set(self, "mechanism", mechanism)
        _set(self, "salt", salt)
        _set(self, "iterations", iterations)
        _set(self, "client_key", client_key)
        _set(self, "server_key", server_key)


class Scram(Mechanism):
    """SCRAM-SHA-1/256/512, with -PLUS when ``cb_type`` is given."""

    def __init__(
        self,
        mechanism: str,
        username: str,
        password: str | None,
        *,
        cb_type: str | None = None,
        cb_data: bytes = b"",
        gs2_flag: str = "n",
        authzid: str = "",
        keys: ScramKeys | None = None,
        min_iterations: int = MIN_ITERATIONS,
        nonce: str | None = None,
        advertised: tuple[Sequence[str], Sequence[str] | None] | None = None,
    ) -> None:
        base = mechanism.removesuffix("-PLUS")
        if base not in HASHES:
            raise LocalProtocolError(f"unknown SCRAM mechanism {mechanism}")
        if mechanism.endswith("-PLUS") != (cb_type is not None):
            raise LocalProtocolError(
                "-PLUS needs a channel-binding type, and only -PLUS may use one"
            )
        if password is None and keys is None:
            raise LocalProtocolError("SCRAM needs the password or stored keys")
        if keys is not None and keys.mechanism != base:
            raise LocalProtocolError(f"keys for {keys.mechanism} cannot serve {mechanism}")
        self.name = mechanism
        self._hash = HASHES[base]
        self._password = saslprep(password) if password is not None else None
        self.keys = keys
        self.used_stored_keys = False
        # what the server advertised (mechanisms, XEP-0440 types), for XEP-0474
        self._advertised = advertised
        self.downgrade_protected = False
        self._min_iter = min_iterations
        gs2 = f"p={cb_type}" if cb_type else gs2_flag
        self.gs2_flag = gs2
        authz = f"a={_scram_name(authzid)}" if authzid else ""
        self._gs2 = f"{gs2},{authz},".encode()
        self._cb_data = cb_data if cb_type else b""
        self._nonce = nonce or base64.b64encode(os.urandom(24)).decode()  # the OS CSPRNG
        self._first_bare = f"n={_scram_name(username)},r={self._nonce}".encode()
        self._server_signature: bytes | None = None
        self._state = 0

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return digest.hmac_digest(key, msg, self._hash)

    def initial_response(self) -> bytes:
        self._state = 1
        return self._gs2 + self._first_bare

    def challenge(self, data: bytes) -> bytes:
        if self._state != 1:
            raise SASLError("malformed-request", "unexpected SCRAM challenge")
        self._state = 2
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLError("malformed-request", "server-first-message is not UTF-8") from None
        attrs = _parse_attrs(text)
        if "m" in attrs:
            raise SASLError("malformed-request", "the server requires an unknown SCRAM extension")
        if "e" in attrs:
            raise SASLError("not-authorized", f"the server refused: {attrs['e']}")
        ssdp = attrs.get("h")
        if ssdp is not None and self._advertised is not None:
            expected = ssdp_hash(self._hash, *self._advertised)
            if not digest.compare_digest(ssdp.encode(), expected.encode()):
                raise SASLError(
                    "not-authorized",
                    "XEP-0474: the server's hash of its mechanisms and channel-binding types "
                    "does not match the list this client received (downgrade attack?)",
                )
            self.downgrade_protected = True
        nonce, salt_b64, iters = attrs.get("r"), attrs.get("s"), attrs.get("i")
        if not nonce or salt_b64 is None or not iters:
            raise SASLError("malformed-request", "server-first-message lacks r, s or i")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SASLError("malformed-request", "the server nonce does not extend ours")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iters)
        except ValueError:
            raise SASLError("malformed-request", "bad salt or iteration count") from None
        if iterations < self._min_iter:
            raise SASLError(
                "malformed-request",
                f"the server asks for {iterations} iterations, "
                f"fewer than the minimum {self._min_iter}",
            )
        keys = self.keys
        self.used_stored_keys = not (
            keys is None or keys.salt != salt or keys.iterations != iterations
        )
        if keys is None or keys.salt != salt or keys.iterations != iterations:
            if self._password is None:
                raise LocalProtocolError(
                    f"the stored {self.name.removesuffix('-PLUS')} keys are for another salt or "
                    "iteration count than the server's now (the password was changed or the "
                    "account re-created) and the device has no password to fall back on"
                )
            salted = digest.pbkdf2_hmac(self._hash, self._password.encode(), salt, iterations)
            keys = ScramKeys(
                self.name.removesuffix("-PLUS"),
                salt,
                iterations,
                self._hmac(salted, b"Client Key"),
                self._hmac(salted, b"Server Key"),
            )
            self.keys = keys
        cbind = base64.b64encode(self._gs2 + self._cb_data).decode()
        final_bare = f"c={cbind},r={nonce}".encode()
        auth = self._first_bare + b"," + data + b"," + final_bare
        stored = digest.digest(self._hash, keys.client_key)
        signature = self._hmac(stored, auth)
        proof = bytes(a ^ b for a, b in zip(keys.client_key, signature, strict=True))
        self._server_signature = self._hmac(keys.server_key, auth)
        return final_bare + b",p=" + base64.b64encode(proof)

    def success(self, data: bytes) -> None:
        if self._state != 2 or self._server_signature is None:
            raise SASLError("malformed-request", "SCRAM success before the exchange finished")
        attrs = _parse_attrs(data.decode("utf-8", "replace"))
        if "e" in attrs:
            raise SASLError("not-authorized", f"the server reports: {attrs['e']}")
        try:
            verifier = base64.b64decode(attrs.get("v", ""), validate=True)
        except ValueError:
            verifier = b""
        if not digest.compare_digest(verifier, self._server_signature):
            raise SASLError("not-authorized", "the server's SCRAM signature is wrong")
        self._state = 3


def _parse_attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        if len(part) >= 2 and part[1] == "=":
            out.setdefault(part[0], part[2:])
        elif part:
            raise SASLError("malformed-request", f"bad SCRAM attribute {part[:20]!r}")
    return out


def usable_bindings(
    tls_version: str | None, cb_types: Mapping[str, bytes], server_cb_types: Sequence[str] | None
) -> list[str]:
    """Binding types this connection can use with this server, best first."""
    have = dict(cb_types)
    if tls_version == "TLSv1.3":
        have.pop("tls-unique", None)  # undefined on TLS 1.3 (RFC 9266)
    accepted = set(server_cb_types) if server_cb_types is not None else {"tls-unique"}
    return [t for t in CB_PREFERENCE if t in have and t in accepted]


def select_mechanism(
    offered: Sequence[str],
    *,
    tls: bool,
    tls_version: str | None = None,
    cb_types: Mapping[str, bytes] | None = None,
    server_cb_types: Sequence[str] | None = None,
    have_client_cert: bool = False,
    allowed: set[str] | frozenset[str] | None = None,
    username: str = "",
    password: str | None = None,
    keys: Mapping[str, ScramKeys] | None = None,
    all_offered: Sequence[str] | None = None,
) -> Mechanism:
    """The strongest mechanism both sides support, ready to run.

    ``offered`` may be narrowed (mechanisms already tried are left out);
    ``all_offered`` is the server's whole list, which decides the GS2 flag.
    ``keys``: stored SCRAM keys by hash ("SCRAM-SHA-1"...); without a
    password only mechanisms with stored keys are candidates.
    """
    cb_types = cb_types or {}
    keys = keys or {}
    advertised = (list(all_offered if all_offered is not None else offered), server_cb_types)
    offers = [m for m in offered if allowed is None or m in allowed]
    bindings = usable_bindings(tls_version, cb_types, server_cb_types) if tls else []
    full_list = list(all_offered if all_offered is not None else offered)
    plus_offered = any(m.endswith("-PLUS") for m in full_list)
    can_bind = tls and any(
        t in cb_types and not (t == "tls-unique" and tls_version == "TLSv1.3")
        for t in CB_PREFERENCE
    )
    if server_cb_types is not None and not plus_offered and can_bind:
        # XEP-0440 announces channel binding but no -PLUS mechanism is left:
        # someone removed them from the list
        raise SASLError(
            "malformed-request",
            "the server announces channel-binding types but offers no SCRAM-*-PLUS (downgrade)",
        )

    for name in ORDER:
        if name not in offers:
            continue
        if name == "EXTERNAL":
            if have_client_cert and tls:
                return External()
            continue
        if name == "PLAIN":
            if not tls:
                continue  # never in the clear
            if password is None:
                continue
            if keys:
                continue  # SCRAM worked before: never fall back to PLAIN (XEP-0474 §6)
            return Plain(username, password)
        stored = keys.get(name.removesuffix("-PLUS"))
        if password is None and stored is None:
            continue
        if name.endswith("-PLUS"):
            if not bindings:
                continue
            cb = bindings[0]
            return Scram(
                name,
                username,
                password,
                cb_type=cb,
                cb_data=cb_types[cb],
                keys=stored,
                advertised=advertised,
            )
        # RFC 5802 §6: 'y' when we could bind but the server offered no -PLUS
        flag = "y" if (can_bind and not plus_offered) else "n"
        return Scram(name, username, password, gs2_flag=flag, keys=stored, advertised=advertised)
    why = "no mechanism in common"
    if not tls and "PLAIN" in offers:
        why = "the server offers only PLAIN without TLS, which would send the password in the clear"
    raise LocalProtocolError(f"cannot log in: {why} (offered: {', '.join(offered) or 'none'})")

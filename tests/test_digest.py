"""stanzalink.digest: OpenSSL's hashes without hashlib, and the same
answers as hashlib and hmac (also where the interpreter has no _hashlib)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from stanzalink import digest

from .util import child_lines

NAMES = ["sha1", "sha256", "sha384", "sha512", "sha3_512"]


@pytest.mark.parametrize("name", NAMES)
def test_the_answers_are_hashlibs_and_hmacs(name: str) -> None:
    data, key, salt = b"\x00device\xff" * 9, b"k" * 70, b"salt"
    assert digest.digest(name, data) == hashlib.new(name, data).digest()
    assert digest.hexdigest(name, data) == hashlib.new(name, data).hexdigest()
    assert digest.hmac_digest(key, data, name) == hmac.new(key, data, name).digest()
    assert digest.pbkdf2_hmac(name, b"pw", salt, 3) == hashlib.pbkdf2_hmac(name, b"pw", salt, 3)


def test_known_vectors() -> None:
    # FIPS 180 "abc"; RFC 4231-style HMAC-SHA-256; RFC 6070 PBKDF2-HMAC-SHA1 c=1 and c=4096
    assert digest.hexdigest("sha1", b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    fox = b"The quick brown fox jumps over the lazy dog"
    assert digest.hmac_digest(b"key", fox, "sha256").hex() == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
    assert digest.pbkdf2_hmac("sha1", b"password", b"salt", 1).hex() == (
        "0c60c80f961f0e71f3a9b524af6012062fe037a6"
    )
    assert digest.pbkdf2_hmac("sha1", b"password", b"salt", 4096).hex() == (
        "4b007901b765489abead49d926f721d065a429c1"
    )
    assert digest.compare_digest(b"same", b"same")
    assert not digest.compare_digest(b"same", b"sane")


def test_an_unknown_name_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        digest.digest("no-such-hash", b"")


def test_importing_it_loads_neither_hashlib_nor_blake2() -> None:
    code = (
        "import sys, json; import stanzalink.digest as d; d.digest('sha256', b'x'); "
        "print(json.dumps(sorted({'hashlib', 'hmac', '_blake2'} & set(sys.modules))))"
    )
    out = "\n".join(child_lines(code))
    assert json.loads(out) == []


def test_without_hashlibs_binding_the_same_answers_come_from_hashlib() -> None:
    # an interpreter built without _hashlib: the import fails, hashlib's own
    # SHA and HMAC code answers
    code = (
        "import sys; sys.modules['_hashlib'] = None\n"
        "import json, stanzalink.digest as d\n"
        "print(json.dumps([d.hexdigest('sha256', b'abc'), d.hmac_digest(b'k', b'm', 'sha1').hex(),"
        " d.pbkdf2_hmac('sha1', b'password', b'salt', 1).hex(), d.compare_digest(b'a', b'a'),"
        " d._new.__module__]))\n"
    )
    out = "\n".join(child_lines(code))
    sha, mac, derived, same, module = json.loads(out)
    assert sha == hashlib.sha256(b"abc").hexdigest()
    assert mac == hmac.new(b"k", b"m", "sha1").hexdigest()
    assert derived == "0c60c80f961f0e71f3a9b524af6012062fe037a6"
    assert same is True
    assert module == "hashlib"


def test_without_hashlibs_binding_nor_hashlibs_own_pbkdf2_only_pbkdf2_fails() -> None:
    # Python 3.12 dropped hashlib's pure-Python PBKDF2: an interpreter built
    # without _hashlib then has none; the module still imports, and a SCRAM
    # login gets a local error it can report
    code = (
        "import sys; sys.modules['_hashlib'] = None\n"
        "import hashlib; del hashlib.pbkdf2_hmac\n"
        "import stanzalink.digest as d\n"
        "from stanzalink.errors import LocalProtocolError\n"
        "print(d.hexdigest('sha1', b'abc'))\n"
        "try:\n"
        "    d.pbkdf2_hmac('sha1', b'password', b'salt', 1)\n"
        "except LocalProtocolError as exc:\n"
        "    print(exc)\n"
    )
    out = child_lines(code)
    assert out == [
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "PBKDF2 needs OpenSSL's hashes, and this Python was built without them (_hashlib)",
    ]

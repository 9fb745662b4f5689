"""XEP-0300 hashes: the algorithms accepted, the elements, file hashing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from stanzalink.xep.hashes import NS, Hashes, hash_element, hash_file, parse_hashes, strongest
from stanzalink.xml import tostring
from stanzalink_testing.harness import parse_stanza


def test_strongest_accepted_algorithm() -> None:
    assert strongest(["sha-1", "sha-256", "sha-512"]) == "sha-512"
    assert strongest(["sha-256", "sha3-256"]) == "sha3-256"
    assert strongest(["sha-1", "md5"]) is None  # not an integrity check any more
    assert strongest([]) is None


def test_elements_from_the_xep() -> None:
    # XEP-0300 §3: two hashes, then hash-used
    el = parse_stanza(
        "<message><file xmlns='urn:example'>"
        f"<hash xmlns='{NS}' algo='sha-1'>2AfMGH8O7UNPTvUVAM9aK13mpCY=</hash>"
        f"<hash xmlns='{NS}' algo='sha-256'>2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=</hash>"
        f"<hash-used xmlns='{NS}' algo='sha-256'/></file></message>"
    )
    f = el.find("{urn:example}file")
    assert f is not None
    got, used = parse_hashes(f)
    assert got == {
        "sha-1": "2AfMGH8O7UNPTvUVAM9aK13mpCY=",
        "sha-256": "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=",
    }
    assert used == "sha-256"
    out = tostring(hash_element("sha-256", "2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU="))
    assert out == (
        b'<hash xmlns="urn:xmpp:hashes:2" algo="sha-256">'
        b"2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=</hash>"
    )


def test_hash_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x" * 3_000_000)  # more than one read block
    for algo, ref in [("sha-256", hashlib.sha256), ("sha3-512", hashlib.sha3_512)]:
        assert hash_file(p, algo) == base64.b64encode(ref(b"x" * 3_000_000).digest()).decode()
    expected = base64.b64encode(hashlib.blake2b(b"x" * 3_000_000, digest_size=32).digest())
    assert hash_file(p, "blake2b-256") == expected.decode()


def test_disco_features_as_in_the_xep() -> None:
    assert Hashes.disco_features[0] == "urn:xmpp:hashes:2"
    assert "urn:xmpp:hash-function-text-names:sha-256" in Hashes.disco_features
    assert "urn:xmpp:hash-function-text-names:sha3-256" in Hashes.disco_features
    assert "urn:xmpp:hash-function-text-names:sha-1" not in Hashes.disco_features

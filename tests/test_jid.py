"""JID parsing and RFC 7622 normalisation."""

from __future__ import annotations

import pytest

from stanzalink.jid import JID, InvalidJID


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice@Example.NET", "alice@example.net"),
        ("alice@example.net.", "alice@example.net"),
        ("\uff21lice@example.net", "alice@example.net"),  # fullwidth A
        ("alice@\uff45xample.net", "alice@example.net"),  # fullwidth e in the domain
        ("caf\u0065\u0301@example.net", "caf\u00e9@example.net"),  # NFC
        ("alice@b\u00dcCHER.example", "alice@xn--bcher-kva.example"),  # IDNA
        ("alice@example.net/Res", "alice@example.net/Res"),
        ("[::1]", "[0:0:0:0:0:0:0:1]"),
    ],
)
def test_spellings_of_one_jid_are_equal(a: str, b: str) -> None:
    assert JID.parse(a) == JID.parse(b)
    assert hash(JID.parse(a)) == hash(JID.parse(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice@example.net", "\u0430lice@example.net"),  # Cyrillic a: a lookalike
        ("alice@example.net", "alice@examp1e.net"),
        ("alice@example.net/res", "alice@example.net/Res"),  # resources keep case
        ("alice@example.net", "alice@example.net/r"),
        ("example.net", "alice@example.net"),
    ],
)
def test_different_jids_differ(a: str, b: str) -> None:
    assert JID.parse(a) != JID.parse(b)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "@example.net",
        "alice@",
        "alice@example.net/",
        "a b@example.net",
        'a"b@example.net',
        "alice@exa mple.net",
        "alice@-example.net",
        "alice@example..net",
        "alice@[::1",
        "a" * 1024 + "@example.net",
        "alice@example.net/\x00",
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(InvalidJID):
        JID.parse(bad)


def test_parts_and_str() -> None:
    j = JID.parse("Alice@Example.net/Phone")
    assert (j.local, j.domain, j.resource) == ("alice", "example.net", "Phone")
    assert str(j) == "alice@example.net/Phone"
    assert j.bare == JID.parse("alice@example.net") and j.bare.is_bare and not j.is_bare
    assert JID.parse("example.net").is_domain
    assert str(j.with_resource("x")) == "alice@example.net/x"
    assert JID.parse("a@b.example/with/slash").resource == "with/slash"

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


def _by_tables(part: str, kind: str) -> str | None:
    """What RFC 7622's rules give with the Unicode tables, for an ASCII
    part: None when the part is refused."""
    import unicodedata

    if kind == "local":
        s = unicodedata.normalize("NFC", part.lower())
        ok = bool(s) and all(
            (ch not in "\"&'/:<>@" and 0x21 <= ord(ch) <= 0x7E)
            or (
                ord(ch) >= 0x80
                and unicodedata.category(ch) in {"Ll", "Lu", "Lo", "Lt", "Nd", "Lm", "Mn", "Mc"}
            )
            for ch in s
        )
    else:
        s = unicodedata.normalize("NFC", part)
        ok = bool(s) and all(
            unicodedata.category(ch) not in ("Cc", "Cs", "Cn")
            and (unicodedata.category(ch) != "Zs" or ch == " ")
            for ch in s
        )
    return s if ok else None


def test_ascii_parts_without_tables_match_the_tables() -> None:
    """Local and resource parts in ASCII are prepared without unicodedata;
    for every ASCII character, alone and between others, the answer is
    what the tables give."""
    samples = ["Alice", "a b", "x.y-z_1"]
    for code in range(128):
        samples += [chr(code), f"a{chr(code)}B"]
    for part in samples:
        for kind in ("local", "resource"):
            text = f"{part}@example.net" if kind == "local" else f"a@example.net/{part}"
            expected = _by_tables(part, kind)
            try:
                jid = JID.parse(text)
            except InvalidJID:
                assert expected is None, (kind, part)
                continue
            got = jid.local if kind == "local" else jid.resource
            assert got == expected, (kind, part)

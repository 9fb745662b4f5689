"""JIDs (RFC 7622), normalised so that two spellings of one address compare equal.

- localpart: the PRECIS UsernameCaseMapped profile (RFC 8265): fullwidth and
  halfwidth forms mapped to their ordinary forms, lower-cased, NFC; ASCII
  printables and letters/digits/marks only; none of ``" & ' / : < > @``.
- domainpart: IDNA (Python's ``idna`` codec: nameprep, then A-label and back),
  lower case, no trailing dot; IPv4 and bracketed IPv6 literals accepted.
- resourcepart: the OpaqueString profile: NFC, otherwise as given.

Each part is at most 1023 bytes of UTF-8.  A malformed JID raises
:class:`InvalidJID` (the stanza error condition ``jid-malformed``).
"""

from __future__ import annotations

from functools import lru_cache

from stanzalink._value import Value, _set

_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_IDENTIFIER_CATEGORIES = frozenset({"Ll", "Lu", "Lo", "Lt", "Nd", "Lm", "Mn", "Mc"})
_MAX_PART = 1023


class InvalidJID(ValueError):
    """Not a valid JID (stanza error ``jid-malformed``)."""

    condition = "jid-malformed"


# An all-ASCII part (nearly every JID a device meets) is prepared without
# unicodedata: for ASCII, width mapping and NFC change nothing and the
# categories are known.  Its tables are large, and a lookup touches them.


def _width_map(s: str) -> str:
    import unicodedata

    out = []
    for ch in s:
        decomp = unicodedata.decomposition(ch)
        if decomp.startswith(("<wide>", "<narrow>")):
            out.append(unicodedata.normalize("NFKC", ch))
        else:
            out.append(ch)
    return "".join(out)


def _category(ch: str) -> str:
    import unicodedata

    return unicodedata.category(ch)


def _check_len(part: str, what: str) -> None:
    if len(part.encode()) > _MAX_PART:
        raise InvalidJID(f"{what} longer than {_MAX_PART} bytes")


def normalize_local(local: str) -> str:
    if local.isascii():
        s = local.lower()
    else:
        import unicodedata

        s = unicodedata.normalize("NFC", _width_map(local).lower())
    if not s:
        raise InvalidJID("empty localpart")
    for ch in s:
        if ch in _LOCAL_FORBIDDEN:
            raise InvalidJID(f"{ch!r} is not allowed in a localpart")
        o = ord(ch)
        if 0x21 <= o <= 0x7E:
            continue
        if o < 0x80 or _category(ch) not in _IDENTIFIER_CATEGORIES:
            raise InvalidJID(f"U+{o:04X} is not allowed in a localpart")
    _check_len(s, "localpart")
    return s


def normalize_domain(domain: str) -> str:
    s = domain[:-1] if domain.endswith(".") else domain
    if not s:
        raise InvalidJID("empty domainpart")
    if s.startswith("["):
        if not s.endswith("]"):
            raise InvalidJID("unterminated IPv6 literal")
        import ipaddress  # only for address literals

        try:
            return "[" + ipaddress.IPv6Address(s[1:-1]).compressed + "]"
        except ValueError as exc:
            raise InvalidJID(f"bad IPv6 literal: {exc}") from None
    if s.replace(".", "").isdigit():
        import ipaddress

        try:
            return str(ipaddress.IPv4Address(s))
        except ValueError:
            pass
    if s.isascii():
        s = s.lower()
        ascii_name = s
    else:
        try:
            ascii_name = _width_map(s).encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidJID(f"bad internationalised domain {domain!r}: {exc}") from None
    labels = ascii_name.split(".")
    for label in labels:
        if not label or len(label) > 63:
            raise InvalidJID(f"bad domain label in {domain!r}")
        if label[0] == "-" or label[-1] == "-":
            raise InvalidJID(f"domain label {label!r} starts or ends with '-'")
        for ch in label:
            if not (ch.isalnum() or ch in "-_"):
                raise InvalidJID(f"{ch!r} is not allowed in a domain")
    try:
        s = ascii_name.encode("ascii").decode("idna") if "xn--" in ascii_name else ascii_name
    except UnicodeError as exc:
        raise InvalidJID(f"bad A-label in {domain!r}: {exc}") from None
    s = s.lower()
    if not s.isascii():
        import unicodedata

        s = unicodedata.normalize("NFC", s)
    _check_len(s, "domainpart")
    return s


def normalize_resource(resource: str) -> str:
    if resource.isascii():
        s = resource
    else:
        import unicodedata

        s = unicodedata.normalize("NFC", resource)
    if not s:
        raise InvalidJID("empty resourcepart")
    for ch in s:
        o = ord(ch)
        if 0x20 <= o < 0x7F:
            continue  # printable ASCII, the space included
        cat = "Cc" if o < 0x80 else _category(ch)
        if cat in ("Cc", "Cs", "Cn") or (cat == "Zs" and ch != " "):
            raise InvalidJID(f"U+{ord(ch):04X} is not allowed in a resourcepart")
    _check_len(s, "resourcepart")
    return s


class JID(Value):
    """A normalised JID; compare and hash freely."""

    __slots__ = ("domain", "local", "resource")

    local: str | None
    domain: str
    resource: str | None

    def __init__(self, local: str | None, domain: str, resource: str | None = None) -> None:
        _set(self, "local", local)
        _set(self, "domain", domain)
        _set(self, "resource", resource)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not JID:
            return NotImplemented
        assert isinstance(other, JID)
        return (
            self.domain == other.domain
            and self.local == other.local
            and self.resource == other.resource
        )

    def __hash__(self) -> int:
        return hash((self.local, self.domain, self.resource))

    @staticmethod
    def parse(text: str) -> JID:
        return _parse(text)

    @property
    def bare(self) -> JID:
        return JID(self.local, self.domain) if self.resource is not None else self

    @property
    def is_bare(self) -> bool:
        return self.resource is None

    @property
    def is_domain(self) -> bool:
        return self.local is None and self.resource is None

    def with_resource(self, resource: str | None) -> JID:
        return JID(
            self.local, self.domain, None if resource is None else normalize_resource(resource)
        )

    def __str__(self) -> str:
        s = self.domain if self.local is None else f"{self.local}@{self.domain}"
        return s if self.resource is None else f"{s}/{self.resource}"


@lru_cache(maxsize=4096)
def _parse(text: str) -> JID:
    if not isinstance(text, str):
        raise InvalidJID(f"a JID is a string, not {type(text).__name__}")
    rest, slash, resource = text.partition("/")
    if slash and not resource:
        raise InvalidJID(f"empty resourcepart in {text!r}")
    local, at, domain = rest.partition("@")
    if not at:
        local, domain = "", rest
    elif not local:
        raise InvalidJID(f"empty localpart in {text!r}")
    return JID(
        normalize_local(local) if at else None,
        normalize_domain(domain),
        normalize_resource(resource) if slash else None,
    )


def from_own_server(own: JID, sender: str | JID | None) -> bool:
    """Was this sent by the account's own server on the account's behalf?
    Yes for no ``from`` at all, the server's domain, and the account's own
    bare JID (roster pushes, RFC 6121 §2.1.6); no for anything else,
    another resource of the account and a malformed address included."""
    if sender is None:
        return True
    if not isinstance(sender, JID):
        try:
            sender = _parse(sender)
        except InvalidJID:
            return False
    return sender == own.bare or sender == JID(None, own.domain)

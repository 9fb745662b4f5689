"""XEP-0203 stamps (XEP-0082 date-times) and the age of a stanza."""

from __future__ import annotations

import pytest

from stanzalink.xep.delay import Delay, delay_of, parse_stamp
from stanzalink_testing.harness import parse_stanza

T = 1764558000.0  # 2025-12-01T03:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-01T03:00:00Z", T),
        ("2025-12-01T03:00:00.250Z", T + 0.25),
        ("2025-12-01T03:00:00.123456789Z", T + 0.123456789),
        ("2025-12-01T04:30:00+01:30", T),
        ("2025-11-30T22:00:00-05:00", T),
        ("2025-12-01T03:00:00+00:00", T),
        (" 2025-12-01T03:00:00Z\n", T),
    ],
)
def test_xep0082_stamps(text: str, expected: float) -> None:
    got = parse_stamp(text)
    assert got is not None and abs(got - expected) < 1e-6


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "2025-12-01T03:00Z",  # no seconds
        "2025-12-01T03:00:00",  # no zone
        "2025-12-01 03:00:00Z",
        "20251201T03:00:00Z",  # XEP-0091's legacy form is not XEP-0082
        "2025-12-01T03:00:00.Z",
        "2025-13-01T03:00:00Z",
        "2025-02-29T03:00:00Z",
        "2025-12-01T24:00:00Z",
        "2025-12-01T03:00:60Z",
        "2025-12-01T03:00:00+15:00",
        "2025-12-01T03:00:00+01:60",
        "2025-12-01T03:00:00z",
        "١٢٣٤-12-01T03:00:00Z",  # digits of another script
    ],
)
def test_what_is_not_a_stamp(text: str | None) -> None:
    assert parse_stamp(text) is None


def msg(*stamps: str) -> object:
    delays = "".join(f"<delay xmlns='urn:xmpp:delay' stamp='{s}'/>" for s in stamps)
    return parse_stanza(f"<message from='a@example.net/x'><body>x</body>{delays}</message>")


def test_the_age_of_a_stanza() -> None:
    assert delay_of(msg(), T) is None
    assert delay_of(msg("2025-12-01T02:59:00Z"), T) == Delay("2025-12-01T02:59:00Z", 60.0)
    # the oldest of several
    two = delay_of(msg("2025-12-01T02:59:59Z", "2025-12-01T02:50:00Z"), T)
    assert two == Delay("2025-12-01T02:50:00Z", 600.0)
    # ahead by no more than the skew: age 0; further: unknown
    assert delay_of(msg("2025-12-01T03:00:30Z"), T, skew=60) == Delay("2025-12-01T03:00:30Z", 0.0)
    assert delay_of(msg("2025-12-01T03:01:30Z"), T, skew=60) == Delay("2025-12-01T03:01:30Z", None)
    # one unreadable stamp makes it unknown
    bad = delay_of(msg("2025-12-01T02:59:00Z", "soon"), T)
    assert bad == Delay("soon", None)
    assert bad.older_than(10**9) and "unknown" in bad.describe()
    assert delay_of(msg("x" * 100), T) == Delay("x" * 64, None)
    # what is shown of a stamp (answers, the audit log) breaks no line
    assert delay_of(msg("a&#10;b&#13;c&#9;d\u2028"), T) == Delay("a?b?c?d?", None)


def test_older_than_and_describe() -> None:
    d = Delay("2025-12-01T02:58:00Z", 120.0)
    assert not d.older_than(120) and d.older_than(119.9)
    assert d.describe() == "sent at 2025-12-01T02:58:00Z, 120 s ago"

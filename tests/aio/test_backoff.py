"""Reconnect delays: exponential, capped, fully jittered."""

from __future__ import annotations

from stanzalink.aio.reconnect import backoff_delay, uniform


def test_full_jitter_within_the_capped_exponential() -> None:
    for attempt in range(40):
        ceiling = min(300.0, 1.0 * 2**attempt)
        delays = [backoff_delay(attempt, 1.0, 300.0) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        # spread over the whole range, not clustered (no synchronised retries)
        assert max(delays) > 0.7 * ceiling and min(delays) < 0.3 * ceiling


def test_uniform_bounds_and_spread() -> None:
    xs = [uniform(2.0, 3.0) for _ in range(2000)]
    assert all(2.0 <= x <= 3.0 for x in xs)
    assert 2.45 < sum(xs) / len(xs) < 2.55


def test_injected_randomness() -> None:
    assert backoff_delay(3, 1.0, 300.0, lambda lo, hi: hi) == 8.0
    assert backoff_delay(20, 1.0, 300.0, lambda lo, hi: hi) == 300.0


def test_the_default_caps_bring_a_device_back_within_a_minute() -> None:
    """After a long outage a device tries again at least once a minute (so it
    is back within 60 s of its server's return); after refusals, at most every
    300 s."""
    from stanzalink.aio.config import ClientConfig
    from stanzalink.aio.reconnect import Reconnect
    from stanzalink.jid import JID
    from stanzalink.session.events import Retry

    cfg = ClientConfig(JID.parse("device1@example.net"))
    outage, refused = Reconnect(cfg), Reconnect(cfg)
    waits = [outage.next_delay(Retry.BACKOFF, now=0.0, online_since=None) for _ in range(200)]
    assert max(waits) <= 60.0 and max(waits[20:]) > 40.0
    slow = [refused.next_delay(Retry.SLOW, now=0.0, online_since=None) for _ in range(200)]
    assert min(slow) >= 30.0 and max(slow) <= 300.0 and max(slow[20:]) > 200.0


def _draws(reconnect: object, retry: object, online_since: float | None) -> tuple[float, float]:
    """The range the next wait is drawn from (a rand hook that records it)."""
    from stanzalink.aio.reconnect import Reconnect

    assert isinstance(reconnect, Reconnect)
    seen: list[tuple[float, float]] = []

    def rand(low: float, high: float) -> float:
        seen.append((low, high))
        return high

    reconnect.rand = rand
    reconnect.next_delay(retry, now=1000.0, online_since=online_since)  # type: ignore[arg-type]
    (drawn,) = seen
    return drawn


def test_the_first_wait_after_a_lost_link_is_spread() -> None:
    """A node dies with N devices on it: each device's first attempt is drawn
    uniformly under reconnect_spread (5 s: N / 5 handshakes a second at the
    survivors, not N in the first second); the attempts after it back off
    with full jitter under a ceiling that doubles up to reconnect_max, never
    under the spread."""
    from stanzalink.aio.config import RECONNECT_SPREAD, ClientConfig
    from stanzalink.aio.reconnect import Reconnect
    from stanzalink.jid import JID
    from stanzalink.session.events import Retry

    assert RECONNECT_SPREAD == 5.0
    jid = JID.parse("device1@example.net")
    for retry in (Retry.BACKOFF, Retry.NOW):  # a dead link; system-shutdown
        reconnect = Reconnect(ClientConfig(jid))
        # online since long enough: the count of attempts starts again
        assert _draws(reconnect, retry, online_since=0.0) == (0, 5.0)
        ceilings = [_draws(reconnect, retry, online_since=None)[1] for _ in range(8)]
        assert ceilings == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    # a session that was online a moment only: the backoff goes on, never under the spread
    brief = Reconnect(ClientConfig(jid))
    for _ in range(3):
        _draws(brief, Retry.BACKOFF, online_since=None)
    assert _draws(brief, Retry.BACKOFF, online_since=999.0) == (0, 8.0)
    brief = Reconnect(ClientConfig(jid))
    _draws(brief, Retry.BACKOFF, online_since=None)
    assert _draws(brief, Retry.BACKOFF, online_since=999.0) == (0, 5.0)
    # no link established (the server was never reached): under a second first
    assert _draws(Reconnect(ClientConfig(jid)), Retry.BACKOFF, None) == (0, 1.0)
    # a refusal keeps its slow backoff
    assert _draws(Reconnect(ClientConfig(jid)), Retry.SLOW, online_since=0.0) == (0, 60.0)
    # 0: at once; and reconnect_max caps the spread
    assert _draws(Reconnect(ClientConfig(jid, reconnect_spread=0)), Retry.NOW, 0.0) == (0, 0)
    capped = ClientConfig(jid, reconnect_spread=30, backoff_cap=3)
    assert _draws(Reconnect(capped), Retry.BACKOFF, 0.0) == (0, 3)


def test_the_spread_is_uniform() -> None:
    """1,000 devices whose link died at once: with the spread, at most about
    a fifth of them in any one second (without it, all in the first)."""
    import random

    from stanzalink.aio.config import ClientConfig
    from stanzalink.aio.reconnect import Reconnect
    from stanzalink.jid import JID
    from stanzalink.session.events import Retry

    cfg = ClientConfig(JID.parse("device1@example.net"))
    rng = random.Random(20)  # deterministic: the same draws every run
    firsts = [
        Reconnect(cfg, rand=rng.uniform).next_delay(Retry.BACKOFF, now=100.0, online_since=0.0)
        for _ in range(1000)
    ]
    per_second = [sum(1 for d in firsts if s <= d < s + 1) for s in range(5)]
    assert all(0 <= d <= 5.0 for d in firsts)
    assert max(per_second) < 260 and min(per_second) > 140, per_second


def test_a_wait_that_is_not_a_finite_number_is_refused() -> None:
    """TOML has nan and inf.  A reconnect_max of nan made every wait nan,
    and asyncio's sleep of nan returns at once: the device reconnected in a
    hot loop (50,000 sleeps a second here); inf put the first attempts
    decades apart.  The config refuses both, naming the key, for every
    number it reads (a keepalive of nan is the same hot loop in a timer)."""
    import pytest

    from stanzalink.agent import parse_config
    from stanzalink.config import ConfigError

    account = {"jid": "d@example.net", "password": "p"}
    for section, key in (
        ("connection", "reconnect_max"),
        ("connection", "reconnect_spread"),
        ("connection", "keepalive"),
    ):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ConfigError, match=rf"^{section}\.{key}: "):
                parse_config({"account": dict(account), section: {key: bad}})
    assert parse_config({"account": dict(account), "connection": {"reconnect_max": 30.5}})


def test_reconnect_max_is_at_least_a_second() -> None:
    """A reconnect_max of a millisecond caps every wait at a millisecond: a
    device whose server is down (its connections refused) tries about a
    thousand times a second, and a fleet so configured hammers the server
    when it comes back.  The config refuses a cap
    under 1 s (and over a day: a device that waits longer is offline)."""
    import pytest

    from stanzalink.agent import parse_config
    from stanzalink.config import ConfigError

    account = {"jid": "d@example.net", "password": "p"}
    for bad in (0.001, 0.5, 86401):
        with pytest.raises(ConfigError, match=r"^connection\.reconnect_max: must be between 1 and"):
            parse_config({"account": dict(account), "connection": {"reconnect_max": bad}})
    for good in (1, 3.0, 86400):
        parse_config({"account": dict(account), "connection": {"reconnect_max": good}})

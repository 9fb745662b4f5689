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

"""The lookups' pace (a token bucket whose rate follows AIMD on 45009) and retry backoff:
pure, time passed in."""

from __future__ import annotations

import random

from services.ingestor.lookups.pacing import CallbackLoad, Pace, retry_delay


def sent_in(pace: Pace, start: float, seconds: float, step: float = 0.001) -> int:
    """How many tokens a caller asking every `step` seconds gets."""
    sent, now = 0, start
    while now < start + seconds:
        if pace.take(now) == 0:
            sent += 1
        now += step
    return sent


def test_the_rate_is_kept_within_a_small_burst() -> None:
    pace = Pace(100, now=0.0)
    assert 100 <= sent_in(pace, 0.0, 1.0) <= 106
    assert 500 <= sent_in(pace, 1.0, 5.0) <= 506


def test_an_empty_bucket_says_how_long_to_wait() -> None:
    pace = Pace(10, now=0.0)
    assert pace.take(0.0) == 0
    wait = pace.take(0.0)
    assert 0.09 <= wait <= 0.1
    assert pace.take(0.0 + wait) == 0


def test_45009_halves_the_rate_once_a_second_then_it_climbs_back() -> None:
    pace = Pace(100, recovery_seconds=10, now=0.0)
    pace.rate_limited(1.0)
    assert pace.rate == 50
    pace.rate_limited(1.2)  # the same burst of answers: one signal
    assert pace.rate == 50
    pace.rate_limited(2.0)
    assert pace.rate == 25
    pace.take(2.5)  # no climb within a second of a cut
    assert pace.rate == 25
    pace.take(4.0)  # then +10/s a second: from 3.0 to 4.0, 35
    assert 34.9 <= pace.rate <= 35.1
    pace.take(100.0)
    assert pace.rate == 100  # never above the ceiling


def test_a_halved_rate_sends_fewer_and_never_stops() -> None:
    pace = Pace(100, recovery_seconds=1000, floor=1, now=0.0)
    for second in range(1, 20):
        pace.rate_limited(float(second))
    assert pace.rate == 1
    assert sent_in(pace, 20.0, 5.0) >= 4  # the floor: WeCom is still asked


def test_retry_delay_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    draw = random.Random(7)
    for failures, top in ((1, 1), (2, 2), (3, 4), (6, 32), (9, 256), (20, 300), (10**6, 300)):
        delays = [retry_delay(failures, 1.0, 300.0, draw) for _ in range(200)]
        assert all(top / 2 <= d <= top for d in delays), (failures, min(delays), max(delays))
        assert max(delays) - min(delays) > top / 10  # jittered: not all at one instant


def test_lookups_yield_while_the_ingestor_is_saturated_with_callbacks() -> None:
    load = CallbackLoad(2)
    with load.answering():
        assert not load.busy()
        with load.answering():
            assert load.busy()  # two answering at once: lookups wait
        assert not load.busy()
    assert load.inflight == 0
    never = CallbackLoad(0)
    with never.answering(), never.answering():
        assert not never.busy()

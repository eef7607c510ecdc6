"""An employee's adds counted by ten minutes, channel and campaign (domain/features.py), and the
signals judged on them (domain/signals.py): the counts are the adds' own signs summed, and what
is judged by time (bursts, working hours, engagement decided) follows the buckets."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scorer.domain.features import (
    ENGAGEMENT_WINDOW,
    FIELDS,
    SPAN,
    Bucket,
    Features,
    features_of,
    signs_of,
    span_of,
)
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.signals import (
    BURST_MIN_ADDS,
    BURST_WINDOW,
    Burst,
    bursts,
    off_hours,
)
from services.scorer.domain.validity import ContactFacts, ContactVerdict, Removal, classify

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, tzinfo=UTC)
RETENTION = timedelta(days=7)


def add(i: int, at: datetime, state: str | None = "qr-1", **kw: object) -> ContactVerdict:
    facts = ContactFacts(
        "e1",
        f"wm{i}",
        at,
        state=state,
        profile_found=True,
        **kw,  # type: ignore[arg-type]
    )
    return classify(facts, ScoringRules(), NOW)


def local(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 10, 12, hour, minute, second, tzinfo=TZ).astimezone(UTC)


def test_an_add_is_counted_in_its_local_ten_minutes_channel_and_campaign() -> None:
    a = add(1, local(10, 3), campaign="fair")
    b = add(2, local(10, 9, 59), campaign="fair")
    c = add(3, local(10, 10), state=None, add_way=1)
    features = features_of([a, b, c], TZ, RETENTION)
    assert set(features.buckets) == {
        Bucket(local(10, 0), "qr-1", "fair"),
        Bucket(local(10, 10), "add_way:1", None),
    }
    assert span_of(local(10, 9, 59), TZ) == local(10, 0)
    assert features.total("adds") == 3
    assert features.by_campaign() == {"fair": 2}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60 * 24 * 30),
            st.booleans(),
            st.integers(0, 3),
            st.sampled_from([None, "qr-1", "qr-2"]),
            st.sampled_from([None, timedelta(days=2), timedelta(days=8), timedelta(days=40)]),
        ),
        max_size=40,
    )
)
def test_the_features_are_the_adds_signs_summed(
    adds: list[tuple[int, bool, int, str | None, timedelta | None]],
) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    verdicts = []
    for i, (minute, customer, msgs, state, removed) in enumerate(adds):
        at = start + timedelta(minutes=minute)
        verdicts.append(
            add(
                i,
                at,
                state=state,
                is_customer=customer,
                customer_msgs=msgs,
                first_customer_msg_at=at + timedelta(days=1) if msgs else None,
                removals=() if removed is None else (Removal(at + removed, "employee"),),
            )
        )
    features = features_of(verdicts, TZ, RETENTION)
    for name in FIELDS:
        i = FIELDS.index(name)
        assert features.total(name) == sum(signs_of(v, RETENTION)[i] for v in verdicts)
    assert sum(counts[0] for counts in features.buckets.values()) == len(verdicts)


def test_a_burst_across_the_hour_is_one_burst() -> None:
    # ten adds from 10:52 to 11:10: no clock hour holds eight of them
    adds = [add(i, local(10, 52) + timedelta(minutes=2 * i)) for i in range(10)]
    found = bursts(features_of(adds, TZ, RETENTION))
    assert [(b.adds, b.start, b.end) for b in found] == [(10, local(10, 50), local(11, 20))]


def test_a_burst_runs_to_the_ten_minutes_two_hours_on() -> None:
    first = [add(i, local(9, 3) + timedelta(minutes=i)) for i in range(7)]
    inside = add(7, local(11, 9, 59))  # in the ten minutes two hours after 9:00
    outside = add(7, local(11, 10))
    assert [b.adds for b in bursts(features_of([*first, inside], TZ, RETENTION))] == [8]
    assert bursts(features_of([*first, outside], TZ, RETENTION)) == []


def test_adds_spread_over_more_than_the_window_are_no_burst() -> None:
    adds = [add(i, local(9) + timedelta(minutes=20 * i)) for i in range(12)]  # 3 an hour
    assert bursts(features_of(adds, TZ, RETENTION)) == []


def test_a_burst_is_counted_per_channel() -> None:
    adds = [
        add(i, local(14) + timedelta(minutes=i), state="qr-1" if i % 2 else "qr-2")
        for i in range(12)
    ]
    assert bursts(features_of(adds, TZ, RETENTION)) == []


def test_working_hours_are_told_by_the_local_hour() -> None:
    assert not off_hours(span_of(local(19, 59), TZ), TZ)
    assert off_hours(span_of(local(20, 0), TZ), TZ)
    assert off_hours(span_of(local(7, 59), TZ), TZ)


def test_a_clock_turned_back_keeps_its_two_local_half_hours_apart() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    summer = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    winter = summer + timedelta(hours=1)  # 02:30 CET, the same local time
    assert summer.astimezone(berlin).replace(tzinfo=None) == winter.astimezone(berlin).replace(
        tzinfo=None
    )
    features = features_of([add(1, summer), add(2, winter)], berlin, RETENTION)
    assert sorted(b.start for b in features.buckets) == [summer, winter]


def test_engagement_is_decided_once_the_buckets_last_add_had_its_window() -> None:
    at = local(10, 3)
    features = features_of([add(1, at, is_customer=False)], TZ, RETENTION)
    assert features.decided("hollow", at + ENGAGEMENT_WINDOW + timedelta(minutes=1)) == 0
    assert features.decided("hollow", local(10, 10) + ENGAGEMENT_WINDOW) == 1


def _bursts_by_scan(features: Features) -> list[Burst]:
    """`bursts` the plain way: from each start of a channel in turn, the window's adds summed
    anew; a run found, the next start after it."""
    out: list[Burst] = []
    for channel in sorted({b.channel for b in features.buckets}):
        mine = [b for b in features.buckets if b.channel == channel]
        if sum(features.buckets[b][0] for b in mine) < BURST_MIN_ADDS:
            continue
        starts = sorted({b.start for b in mine})
        first = 0
        while first < len(starts):
            inside = [b for b in mine if starts[first] <= b.start <= starts[first] + BURST_WINDOW]
            adds = sum(features.buckets[b][0] for b in inside)
            if adds < BURST_MIN_ADDS:
                first += 1
                continue
            keys = tuple(sorted(inside, key=lambda b: (b.start, b.campaign or "")))
            out.append(Burst.of(features, channel, keys))
            first = bisect_right(starts, starts[first] + BURST_WINDOW)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.tuples(
            st.integers(0, 16),  # ten minutes from the start (a window spans 14)
            st.sampled_from(["qr:a", "qr:b"]),
            st.sampled_from([None, "spring"]),
        ),
        st.tuples(st.integers(-2, 6), st.integers(0, 3)),  # adds (a drifted count < 0), hollow
        max_size=30,
    )
)
def test_bursts_in_one_pass_are_the_runs_a_scan_from_each_start_finds(
    counts: dict[tuple[int, str, str | None], tuple[int, int]],
) -> None:
    origin = datetime(2026, 10, 12, 1, tzinfo=UTC)
    features = Features(
        {
            Bucket(origin + SPAN * at, channel, campaign): [adds, hollow] + [0] * (len(FIELDS) - 2)
            for (at, channel, campaign), (adds, hollow) in counts.items()
        }
    )
    assert bursts(features) == _bursts_by_scan(features)

"""The quota counters' deltas (domain/tally.py): pure, no I/O."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.tally import Standing, deltas, next_change, standing_of, totals
from services.scorer.domain.validity import ContactFacts, ContactStatus, classify
from shared.calendar import BUSINESS_TZ

RULES = ScoringRules(retention_days=7, profile_wait_hours=72)
ADDED = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, the last day of Q3


def facts(**kw: object) -> ContactFacts:
    base: dict[str, object] = {
        "employee_id": "e1",
        "external_userid": "wm-1",
        "first_added_at": ADDED,
        "profile_found": True,
    }
    return ContactFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_a_relation_counts_in_its_day_week_month_and_quarter() -> None:
    pending = Standing(ADDED, ContactStatus.PENDING)
    changes = deltas("e1", None, pending, BUSINESS_TZ)
    assert sorted(k for _, k in changes) == ["2026-09", "2026-09-30", "2026-Q3", "2026-W40"]
    assert all(d == Counter(first_adds=1, pending_adds=1) for d in changes.values())


def test_a_change_of_standing_moves_only_what_changed() -> None:
    pending = Standing(ADDED, ContactStatus.PENDING, profile_unknown=True)
    valid = Standing(ADDED, ContactStatus.VALID)
    changes = deltas("e1", pending, valid, BUSINESS_TZ)
    moved = Counter(valid_adds=1, pending_adds=-1, profile_unknown_adds=-1)
    assert len(changes) == 4
    assert all(d == moved for d in changes.values())
    assert deltas("e1", valid, valid, BUSINESS_TZ) == {}


def test_a_late_earlier_add_moves_the_relation_to_other_periods() -> None:
    late = Standing(ADDED, ContactStatus.VALID)
    earlier = Standing(ADDED - timedelta(days=40), ContactStatus.VALID)
    changes = deltas("e1", late, earlier, BUSINESS_TZ)
    assert changes[("e1", "2026-09")] == Counter(first_adds=-1, valid_adds=-1)
    assert changes[("e1", "2026-08")] == Counter(first_adds=1, valid_adds=1)
    assert ("e1", "2026-Q3") not in changes  # both in the same quarter: nothing moves there


def test_deltas_add_up_to_the_recount() -> None:
    steps = [
        None,
        Standing(ADDED, ContactStatus.PENDING, profile_unknown=True),
        Standing(ADDED, ContactStatus.PENDING),
        Standing(ADDED, ContactStatus.INVALID, removed=True),
    ]
    kept: Counter[tuple[tuple[str, str], str]] = Counter()
    for before, after in pairwise(steps):
        for key, delta in deltas("e1", before, after, BUSINESS_TZ).items():
            for name, value in delta.items():
                kept[(key, name)] += value
    final = steps[-1]
    assert final is not None
    recount = totals([("e1", final)], BUSINESS_TZ)
    assert {k: v for k, v in kept.items() if v} == {
        (key, name): v for key, d in recount.items() for name, v in d.items() if v
    }


def test_timers_fall_when_the_profile_wait_or_the_retention_window_ends() -> None:
    waiting = classify(facts(profile_found=None), RULES, ADDED)
    assert next_change(waiting, RULES, ADDED) == ADDED + timedelta(hours=72)
    known = classify(facts(), RULES, ADDED)
    assert next_change(known, RULES, ADDED) == ADDED + timedelta(days=7)
    after = ADDED + timedelta(days=8)
    decided = classify(facts(), RULES, after)
    assert decided.status is ContactStatus.VALID
    # valid now; the customer never wrote (engagement decided), kept so far: the long
    # retention window is what time still changes
    assert next_change(decided, RULES, after) == ADDED + timedelta(days=30)
    done = ADDED + timedelta(days=31)
    assert next_change(classify(facts(), RULES, done), RULES, done) is None
    assert standing_of(decided, RULES, after) == Standing(
        ADDED, ContactStatus.VALID, considered=True, engaged=False
    )


def test_quality_windows_are_timers_and_outcomes() -> None:
    wrote = classify(facts(first_customer_msg_at=ADDED + timedelta(hours=3)), RULES, ADDED)
    now = ADDED + timedelta(days=1)
    standing = standing_of(wrote, RULES, now)
    assert (standing.considered, standing.engaged, standing.retained) == (True, True, None)
    assert next_change(wrote, RULES, now) == ADDED + timedelta(days=7)  # the retention window
    silent = classify(facts(), RULES, now)
    assert standing_of(silent, RULES, now).engaged is None
    late = ADDED + timedelta(days=7)
    assert standing_of(classify(facts(), RULES, late), RULES, late).engaged is False


def test_quality_counts_leave_out_peers_and_staff_and_count_tiers() -> None:
    matched = classify(facts(is_customer=True, customer_tier="私行"), RULES, ADDED)
    peer = classify(facts(is_employee_account=True, is_customer=True), RULES, ADDED)
    in_favour = standing_of(matched, RULES, ADDED)
    assert in_favour.matched and in_favour.counted_tier == "私行"
    changes = deltas("e1", None, in_favour, BUSINESS_TZ)
    assert changes[("e1", "2026-09")]["tier:私行"] == 1
    assert changes[("e1", "2026-09")]["matched_adds"] == 1
    assert peer.has("PEER_INSTITUTION")
    left_out = standing_of(peer, RULES, ADDED)
    assert not left_out.considered and left_out.counted_tier is None
    assert deltas("e1", None, left_out, BUSINESS_TZ)[("e1", "2026-09")]["matched_adds"] == 0

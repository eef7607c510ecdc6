"""Quota evaluation: attainment, pace, projection and status."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.scorer.domain.quota import Status, evaluate, gross_add_increments
from shared.schemas import ContactEvent, parse_record
from tests import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_without_a_target_nobody_is_behind() -> None:
    figures = evaluate(None, valid_adds=5, pending_adds=0, elapsed_share=0.5, closed=False)
    assert figures.status is Status.ON_TRACK
    assert figures.attainment is None
    assert figures.projection == 10.0
    assert evaluate(None, 0, 0, 1.0, closed=True).status is Status.MET


def test_closed_below_target_is_missed_and_at_target_is_met() -> None:
    assert evaluate(10, 9, 0, 1.0, closed=True).status is Status.MISSED
    assert evaluate(10, 10, 0, 1.0, closed=True).status is Status.MET
    assert evaluate(10, 3, 0, 0.2, closed=True).status is Status.MISSED


def test_open_period_projects_the_run_rate() -> None:
    behind = evaluate(100, valid_adds=20, pending_adds=5, elapsed_share=0.5, closed=False)
    assert behind.status is Status.BEHIND
    assert behind.projection == 40.0
    assert behind.pace == 0.5
    on_track = evaluate(100, valid_adds=45, pending_adds=10, elapsed_share=0.5, closed=False)
    assert on_track.status is Status.ON_TRACK
    assert evaluate(100, 100, 0, 0.5, closed=False).status is Status.MET
    assert evaluate(100, 0, 0, 0.0, closed=False).status is Status.ON_TRACK


def test_adds_count_in_day_week_month_quarter_of_their_own_local_time() -> None:
    # 2026-09-30 23:30 in Shanghai is 15:30 UTC: September, Q3, even though UTC says so too;
    # 2026-10-01 00:30 Shanghai is 2026-09-30 16:30 UTC: it belongs to October and Q4.
    late = parse_record(f.add("e1", "wo1", f.at("2026-09-30", hour=23)))
    early = parse_record(
        {
            **f.add("e1", "wo2", f.at("2026-10-01", hour=8)),
            "CreateTime": int(f.at("2026-10-01", hour=8).timestamp()) - 7.5 * 3600,
        }
    )
    assert isinstance(late, ContactEvent)
    assert isinstance(early, ContactEvent)
    counts = gross_add_increments([late, early], SHANGHAI)
    assert counts[("e1", "2026-09")] == 1
    assert counts[("e1", "2026-Q3")] == 1
    assert counts[("e1", "2026-10-01")] == 1
    assert counts[("e1", "2026-Q4")] == 1


def test_only_adds_count_as_gross() -> None:
    removal = parse_record(
        {**f.add("e1", "wo1", f.at("2026-10-12")), "ChangeType": "del_external_contact"}
    )
    assert isinstance(removal, ContactEvent)
    assert not gross_add_increments([removal], SHANGHAI)

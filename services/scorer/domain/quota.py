"""Quota figures (docs/product.md, Quota): pure functions, no I/O.

Events are assigned to periods by their own time in the business time zone, never by arrival
time. A period's status compares valid adds with the target, and before the close projects the
current run rate over the period's working time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.calendar import local_date, period_keys_of
from shared.schemas import ContactEvent


class Status(StrEnum):
    ON_TRACK = "on_track"
    BEHIND = "behind"
    MET = "met"
    MISSED = "missed"


def period_keys(event: ContactEvent, tz: ZoneInfo) -> list[str]:
    """The day, ISO week, month and quarter keys the event counts in."""
    return list(period_keys_of(local_date(event.occurred_at, tz)))


def gross_add_increments(events: Iterable[ContactEvent], tz: ZoneInfo) -> Counter[tuple[str, str]]:
    """Add events per (employee, period key): what one batch adds to the gross counts."""
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.is_add:
            for key in period_keys(event, tz):
                counts[(event.employee_id, key)] += 1
    return counts


@dataclass(frozen=True)
class QuotaFigures:
    target: int | None
    valid_adds: int
    pending_adds: int
    attainment: float | None
    pace: float | None
    projection: float | None
    status: Status | None


def evaluate(
    target: int | None,
    valid_adds: int,
    pending_adds: int,
    elapsed_share: float,
    closed: bool,
) -> QuotaFigures:
    """Attainment = valid / target; pace = (valid + pending) against the share of working time
    elapsed; projection = valid extrapolated over the period's working time.

    Without a target there is nothing to miss: nobody is behind a target they were never
    given, so the status is on_track while the period runs and met once it is over."""
    share = min(max(elapsed_share, 0.0), 1.0)
    if target is None:
        done = closed or share >= 1.0
        projection = round(valid_adds / share, 2) if share > 0 else float(valid_adds)
        status = Status.MET if done else Status.ON_TRACK
        return QuotaFigures(None, valid_adds, pending_adds, None, None, projection, status)
    attainment = valid_adds / target if target else 1.0
    expected = target * share
    pace = (valid_adds + pending_adds) / expected if expected > 0 else None
    projection = valid_adds / share if share > 0 else float(valid_adds)
    if closed or share >= 1.0:
        status = Status.MET if valid_adds >= target else Status.MISSED
    elif valid_adds >= target:
        status = Status.MET
    elif share > 0 and (valid_adds + pending_adds) / share < target:
        status = Status.BEHIND
    else:
        status = Status.ON_TRACK
    return QuotaFigures(
        target,
        valid_adds,
        pending_adds,
        round(attainment, 4),
        None if pace is None else round(pace, 4),
        round(projection, 2),
        status,
    )

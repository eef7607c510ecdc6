"""Quota counters kept by deltas (pure, no I/O).

Each relation (employee, contact) stands in the quota as one `Standing`: when it was first
added, its status, and the facts counted apart (new to the bank, removed within the retention
window, profile unknown, unverified, inherited). A relation counts in every period containing
its first add (day, ISO week, month, quarter). When its standing changes — an event, a
profile, a staff account, a late earlier add, or a window ending — the counters of those
periods change by the difference of the two standings, never by a recount.

`next_change` says when time alone will change a relation's verdict (the profile wait or the
retention window ending): the due time of its timer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import (
    INHERITED,
    PROFILE_UNKNOWN,
    RETENTION_WINDOW_OPEN,
    UNVERIFIED,
    ContactStatus,
    ContactVerdict,
)
from shared.calendar import local_date, period_keys_of

COUNTERS = (
    "first_adds",
    "new_to_bank",
    "valid_adds",
    "pending_adds",
    "removed_adds",
    "profile_unknown_adds",
    "unverified_adds",
    "inherited_adds",
)
"""The quota counters of an (employee, period), in the order the store keeps them."""

Delta = Counter[str]
PeriodDeltas = dict[tuple[str, str], Delta]
"""(employee_id, period key) → counter → change."""


@dataclass(frozen=True)
class Standing:
    """What one relation contributes to the quota counters of its periods."""

    first_added_at: datetime
    status: ContactStatus
    new_to_bank: bool = False
    removed: bool = False
    profile_unknown: bool = False
    unverified: bool = False
    inherited: bool = False

    def vector(self) -> tuple[int, ...]:
        """What it counts, in the order of COUNTERS."""
        return (
            1,
            int(self.new_to_bank),
            int(self.status is ContactStatus.VALID),
            int(self.status is ContactStatus.PENDING),
            int(self.removed),
            int(self.profile_unknown),
            int(self.unverified),
            int(self.inherited),
        )

    def counts(self) -> Delta:
        return Counter(dict(zip(COUNTERS, self.vector(), strict=True)))


def standing_of(verdict: ContactVerdict) -> Standing:
    return Standing(
        first_added_at=verdict.facts.first_added_at,
        status=verdict.status,
        new_to_bank=verdict.facts.new_to_bank,
        removed=verdict.removed_in_window is not None,
        profile_unknown=verdict.has(PROFILE_UNKNOWN),
        unverified=verdict.has(UNVERIFIED),
        inherited=verdict.has(INHERITED),
    )


def next_change(verdict: ContactVerdict, rules: ScoringRules) -> datetime | None:
    """When the verdict changes with time alone: a pending add waiting for its profile is
    judged when the wait ends; one in its retention window, when the window ends."""
    if verdict.status is not ContactStatus.PENDING:
        return None
    facts = verdict.facts
    if verdict.has(PROFILE_UNKNOWN):
        return facts.profile_wait_from + rules.profile_wait
    if verdict.has(RETENTION_WINDOW_OPEN):
        return facts.first_added_at + rules.retention_window
    return None


Vectors = dict[tuple[str, str], list[int]]
"""(employee_id, period key) → changes in the order of COUNTERS, while they are summed."""


def accumulate(
    into: Vectors,
    employee_id: str,
    before: Standing | None,
    after: Standing | None,
    tz: ZoneInfo,
) -> None:
    """Add the changes of one relation going from `before` to `after` (None: it counts
    nowhere, e.g. not added yet) to `into`: plain integers, as a batch sums thousands."""
    for standing, sign in ((before, -1), (after, 1)):
        if standing is None:
            continue
        vector = standing.vector()
        for key in period_keys_of(local_date(standing.first_added_at, tz)):
            summed = into.get((employee_id, key))
            if summed is None:
                into[(employee_id, key)] = [sign * v for v in vector]
                continue
            for i, v in enumerate(vector):
                if v:
                    summed[i] += sign * v


def as_deltas(vectors: Vectors) -> PeriodDeltas:
    """The summed changes by name, zero changes (and keys that do not move) left out."""
    return {
        key: Counter({n: v for n, v in zip(COUNTERS, summed, strict=True) if v})
        for key, summed in vectors.items()
        if any(summed)
    }


def deltas(
    employee_id: str, before: Standing | None, after: Standing | None, tz: ZoneInfo
) -> PeriodDeltas:
    """The counter changes of one relation going from `before` to `after`. Zero changes are
    left out."""
    vectors: Vectors = {}
    accumulate(vectors, employee_id, before, after, tz)
    return as_deltas(vectors)


def totals(standings: Iterable[tuple[str, Standing]], tz: ZoneInfo) -> PeriodDeltas:
    """The counters recounted from scratch: what the deltas must always add up to."""
    vectors: Vectors = {}
    for employee_id, standing in standings:
        accumulate(vectors, employee_id, None, standing, tz)
    return as_deltas(vectors)

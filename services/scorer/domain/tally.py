"""Quota and quality counters kept by deltas (pure, no I/O).

Each relation (employee, contact) stands in the figures as one `Standing`: when it was first
added, its status, the facts counted apart (new to the bank, removed within the retention
window, profile unknown, unverified, inherited) and what the quality components count of it
(considered, a matched customer and its tier, engaged within the engagement window, kept
through the long retention window, each decided or still pending). A relation counts in every
period containing its first add (day, ISO week, month, quarter). When its standing changes —
an event, a message, a profile, a customer link, a staff account, a late earlier add, or a
window ending — the counters of those periods change by the difference of the two standings,
never by a recount.

`next_change` says when time alone will change a relation's standing (the profile wait, the
retention window, the engagement window or the long retention window ending): the due time of
its timer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import (
    INHERITED,
    PEER_INSTITUTION,
    PROFILE_UNKNOWN,
    RETENTION_WINDOW_OPEN,
    STAFF_ACCOUNT,
    UNVERIFIED,
    ContactStatus,
    ContactVerdict,
    churn_after,
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
QUALITY_COUNTERS = (
    "considered_adds",
    "matched_adds",
    "engaged_adds",
    "engagement_decided",
    "engagement_pending",
    "retained_adds",
    "retention_decided",
    "retention_pending",
)
"""What the quality components count of the period's first adds that are neither a peer
institution's staff nor an employee's own account (`considered`): domain/quality.py."""
TALLIED = (*COUNTERS, *QUALITY_COUNTERS)
"""Every counter a relation's standing moves, in the order of `Standing.vector`."""

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
    considered: bool = False
    matched: bool = False
    tier: str | None = None
    """The customer tier of a considered, matched contact (None otherwise)."""
    engaged: bool | None = None
    """Considered only: the customer wrote within the engagement window (True), did not and the
    window has ended (False), or not yet while it runs (None)."""
    retained: bool | None = None
    """Considered only: kept through the long retention window (True), removed within it
    (False), or not yet decided while it runs (None)."""

    def vector(self) -> tuple[int, ...]:
        """What it counts, in the order of TALLIED."""
        considered = self.considered
        return (
            1,
            int(self.new_to_bank),
            int(self.status is ContactStatus.VALID),
            int(self.status is ContactStatus.PENDING),
            int(self.removed),
            int(self.profile_unknown),
            int(self.unverified),
            int(self.inherited),
            int(considered),
            int(considered and self.matched),
            int(considered and self.engaged is True),
            int(considered and self.engaged is not None),
            int(considered and self.engaged is None),
            int(considered and self.retained is True),
            int(considered and self.retained is not None),
            int(considered and self.retained is None),
        )

    def counts(self) -> Delta:
        return Counter(dict(zip(TALLIED, self.vector(), strict=True)))

    @property
    def counted_tier(self) -> str | None:
        return self.tier if self.considered and self.matched else None


def is_considered(verdict: ContactVerdict) -> bool:
    """Counted in the quality components: neither a peer institution's staff nor an
    employee's own personal account."""
    return not verdict.has(PEER_INSTITUTION) and not verdict.has(STAFF_ACCOUNT)


def engaged(verdict: ContactVerdict, rules: ScoringRules, now: datetime) -> bool | None:
    """The customer wrote within `engagement_days` of the first add (True); did not, and the
    window has ended (False); not yet (None)."""
    f = verdict.facts
    window = timedelta(days=rules.engagement_days)
    wrote = f.first_customer_msg_at is not None and (
        f.first_added_at <= f.first_customer_msg_at < f.first_added_at + window
    )
    if wrote:
        return True
    return False if now >= f.first_added_at + window else None


def retained(verdict: ContactVerdict, rules: ScoringRules, now: datetime) -> bool | None:
    """Kept through `long_retention_days` (True); removed within them (False, a handover
    excepted); not decided yet (None)."""
    window = timedelta(days=rules.long_retention_days)
    if churn_after(verdict.facts, window) is not None:
        return False
    return True if now >= verdict.facts.first_added_at + window else None


def standing_of(verdict: ContactVerdict, rules: ScoringRules, now: datetime) -> Standing:
    facts = verdict.facts
    considered = is_considered(verdict)
    matched = considered and bool(facts.is_customer)
    return Standing(
        first_added_at=facts.first_added_at,
        status=verdict.status,
        new_to_bank=facts.new_to_bank,
        removed=verdict.removed_in_window is not None,
        profile_unknown=verdict.has(PROFILE_UNKNOWN),
        unverified=verdict.has(UNVERIFIED),
        inherited=verdict.has(INHERITED),
        considered=considered,
        matched=matched,
        tier=(facts.customer_tier or None) if matched else None,
        engaged=engaged(verdict, rules, now) if considered else None,
        retained=retained(verdict, rules, now) if considered else None,
    )


def next_change(verdict: ContactVerdict, rules: ScoringRules, now: datetime) -> datetime | None:
    """When the standing changes with time alone: a pending add waiting for its profile is
    judged when the wait ends, one in its retention window when the window ends; a considered
    add's engagement or long retention, when its window ends undecided."""
    facts = verdict.facts
    due: list[datetime] = []
    if verdict.status is ContactStatus.PENDING:
        if verdict.has(PROFILE_UNKNOWN):
            due.append(facts.profile_wait_from + rules.profile_wait)
        elif verdict.has(RETENTION_WINDOW_OPEN):
            due.append(facts.first_added_at + rules.retention_window)
    if is_considered(verdict):
        if engaged(verdict, rules, now) is None:
            due.append(facts.first_added_at + timedelta(days=rules.engagement_days))
        if retained(verdict, rules, now) is None:
            due.append(facts.first_added_at + timedelta(days=rules.long_retention_days))
    return min(due) if due else None


Vectors = dict[tuple[str, str], list[int]]
"""(employee_id, period key) → changes in the order of TALLIED, while they are summed."""
TIER_PREFIX = "tier:"
"""A delta's name for the matched, considered adds of one customer tier (`tier:<name>`)."""


def accumulate(
    into: Vectors,
    employee_id: str,
    before: Standing | None,
    after: Standing | None,
    tz: ZoneInfo,
    tiers: Counter[tuple[str, str, str]] | None = None,
) -> None:
    """Add the changes of one relation going from `before` to `after` (None: it counts
    nowhere, e.g. not added yet) to `into`: plain integers, as a batch sums thousands. Tier
    changes go to `tiers` ((employee, period key, tier) → change) when given."""
    for standing, sign in ((before, -1), (after, 1)):
        if standing is None:
            continue
        vector = standing.vector()
        tier = standing.counted_tier
        for key in period_keys_of(local_date(standing.first_added_at, tz)):
            if tier is not None and tiers is not None:
                tiers[(employee_id, key, tier)] += sign
            summed = into.get((employee_id, key))
            if summed is None:
                into[(employee_id, key)] = [sign * v for v in vector]
                continue
            for i, v in enumerate(vector):
                if v:
                    summed[i] += sign * v


def as_deltas(vectors: Vectors, tiers: Counter[tuple[str, str, str]] | None = None) -> PeriodDeltas:
    """The summed changes by name (tiers as `tier:<name>`), zero changes (and keys that do
    not move) left out."""
    out: PeriodDeltas = {}
    for key, summed in vectors.items():
        if any(summed):
            out[key] = delta_of((n, v) for n, v in zip(TALLIED, summed, strict=True) if v)
    for (employee_id, period, tier), n in (tiers or Counter()).items():
        if n:
            delta_at(out, (employee_id, period))[TIER_PREFIX + tier] += n
    return out


def delta_of(changes: Iterable[tuple[str, int]]) -> Delta:
    """A delta of these (name, change) pairs. Not `Counter(dict)`: that asks `collections.abc`
    whether its argument is a mapping, and a batch builds tens of thousands of deltas."""
    delta: Delta = Counter()
    dict.update(delta, changes)
    return delta


def delta_at(deltas: PeriodDeltas, key: tuple[str, str]) -> Delta:
    """The delta of `key`, an empty one added if it has none."""
    delta = deltas.get(key)
    if delta is None:
        delta = deltas[key] = Counter()
    return delta


def tier_changes(delta: Counter[str]) -> dict[str, int]:
    """The tier changes of one key's delta, by tier name."""
    return {n[len(TIER_PREFIX) :]: v for n, v in delta.items() if n.startswith(TIER_PREFIX) and v}


def deltas(
    employee_id: str, before: Standing | None, after: Standing | None, tz: ZoneInfo
) -> PeriodDeltas:
    """The counter changes of one relation going from `before` to `after`. Zero changes are
    left out."""
    vectors: Vectors = {}
    tiers: Counter[tuple[str, str, str]] = Counter()
    accumulate(vectors, employee_id, before, after, tz, tiers)
    return as_deltas(vectors, tiers)


def totals(standings: Iterable[tuple[str, Standing]], tz: ZoneInfo) -> PeriodDeltas:
    """The counters recounted from scratch: what the deltas must always add up to."""
    vectors: Vectors = {}
    tiers: Counter[tuple[str, str, str]] = Counter()
    for employee_id, standing in standings:
        accumulate(vectors, employee_id, None, standing, tz, tiers)
    return as_deltas(vectors, tiers)

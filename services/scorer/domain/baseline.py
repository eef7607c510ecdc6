"""The peers' baseline an employee's anomaly is judged against, and the period's tails (pure).

What the same period looks like over all employees, robustly (median / MAD, so that the gamers
among the peers do not move it), from each employee's tally of decided and hollow adds; and the
period's last working days, where a pile-up is looked for."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.scorer.domain.features import ENGAGEMENT_WINDOW, is_hollow
from services.scorer.domain.surprise import Spread, median
from services.scorer.domain.validity import ContactVerdict

PRIOR_HOLLOW_SHARE = Spread(0.3, 0.12)


@dataclass(frozen=True)
class PeerBaseline:
    """What the same period looks like over all employees, robustly (median / MAD, so the
    gamers among the peers do not move it). The defaults are a cautious prior for a bank whose
    peers are not known yet: hollow adds are common and vary a lot."""

    hollow_share: Spread = PRIOR_HOLLOW_SHARE
    """Share of an employee's decided adds that are hollow (see `is_hollow`)."""
    hollow_per_day: float = 1.0
    """Hollow adds per working day before the period's last working days."""
    tail_lift: float = 1.0
    """How much busier (adds per working day) the last working days are than the rest."""
    day_hollow_median: Mapping[date, float] = field(default_factory=dict)
    """Per local day, the median employee's hollow adds that day (days where it is above 0):
    on a bank-wide campaign day when most people's adds are hollow, one more is no surprise."""


@dataclass(frozen=True)
class EmployeeTally:
    """One employee's counts that the peer baseline is built from."""

    decided: int
    hollow: int
    early_adds: int
    early_hollow: int
    late_adds: int
    hollow_by_day: tuple[tuple[date, int], ...] = ()
    """Hollow adds per local day (days with none left out)."""


def tally(
    verdicts: Sequence[ContactVerdict], tail_start: datetime | None, now: datetime, tz: Any
) -> EmployeeTally:
    decided = [v for v in verdicts if is_decided(v, now)]
    early = [v for v in verdicts if tail_start is None or v.facts.first_added_at < tail_start]
    return EmployeeTally(
        decided=len(decided),
        hollow=sum(1 for v in decided if is_hollow(v)),
        early_adds=len(early),
        early_hollow=sum(1 for v in early if is_hollow(v)),
        late_adds=len(verdicts) - len(early),
        hollow_by_day=tuple(
            sorted(
                Counter(
                    v.facts.first_added_at.astimezone(tz).date() for v in verdicts if is_hollow(v)
                ).items()
            )
        ),
    )


HollowDays = Mapping[date, Mapping[int, int]]
"""Per local day, how many employees had how many hollow adds that day (none: left out)."""


def hollow_days(tallies: Sequence[EmployeeTally]) -> dict[date, Counter[int]]:
    """The employees' hollow adds per day, counted over the employees (`HollowDays`)."""
    out: dict[date, Counter[int]] = defaultdict(Counter)
    for t in tallies:
        for d, n in t.hollow_by_day:
            out[d][n] += 1
    return dict(out)


def day_hollow_medians(days: HollowDays, employees: int) -> dict[date, float]:
    """The median employee's hollow adds per day (the `employees` without any that day count
    as zeros), where above zero: a median over people, so one gamer's burst moves no day."""
    out: dict[date, float] = {}
    for d, counts in sorted(days.items()):
        m = _median_of_counts(counts, employees)
        if m > 0:
            out[d] = m
    return out


def _median_of_counts(counts: Mapping[int, int], size: int) -> float:
    """`statistics.median` of `size` values given as value → how many, zeros filling up."""
    zeros = size - sum(n for value, n in counts.items() if value)
    if zeros < 0:
        raise ValueError(f"{size - zeros} employees with hollow adds on a day, {size} in all")
    ordered = sorted({**counts, 0: zeros}.items())

    def at(i: int) -> int:
        for value, n in ordered:
            if i < n:
                return value
            i -= n
        raise IndexError(i)

    if size % 2:
        return float(at(size // 2))
    return (at(size // 2 - 1) + at(size // 2)) / 2


def peer_baseline(
    tallies: Sequence[EmployeeTally],
    early_days: int,
    tail_days: int,
    known: PeerBaseline,
    days: HollowDays | None = None,
) -> PeerBaseline:
    """The peer baseline from every employee's tally (those with enough adds to say something)
    and their hollow adds per day (`days`, or each tally's `hollow_by_day`)."""
    shares = [t.hollow / t.decided for t in tallies if t.decided >= 20]
    busy = [t for t in tallies if t.early_adds >= 10]
    if len(shares) < 5 or len(busy) < 5 or early_days <= 0:
        return known
    spread = Spread.of(shares)
    # the peers' spread holds each one's sampling noise too; what is left is how much people
    # really differ (method of moments), which is what one employee is judged against
    noise = median(
        [
            t.hollow / t.decided * (1 - t.hollow / t.decided) / t.decided
            for t in tallies
            if t.decided >= 20
        ]
    )
    between = max(spread.sd**2 - noise, 0.03**2) ** 0.5
    lifts = [(t.late_adds / max(tail_days, 1)) / (t.early_adds / early_days) for t in busy]
    return replace(
        known,
        hollow_share=Spread(spread.centre, between, spread.peers),
        hollow_per_day=median([t.early_hollow / early_days for t in busy]),
        tail_lift=median(lifts),
        day_hollow_median=day_hollow_medians(
            hollow_days(tallies) if days is None else days, len(tallies)
        ),
    )


def is_decided(v: ContactVerdict, now: datetime) -> bool:
    """Whether an add's engagement is known: it is real already, or its window has passed."""
    return not is_hollow(v) or now >= v.facts.first_added_at + ENGAGEMENT_WINDOW


@dataclass(frozen=True)
class PeriodTail:
    """The period's last working days, and the share of its working time they are."""

    start: datetime
    expected_share: float
    days: int = 3
    early_days: int = 0
    """Working days before `start` already worked (all of them once the tail has begun)."""
    elapsed_days: float | None = None
    """Working days of the period worked so far; None: all of them."""

    @property
    def worked_days(self) -> float:
        return self.early_days + self.days if self.elapsed_days is None else self.elapsed_days


def effective_tail(tail: PeriodTail | None, period_end: datetime, period_days: int) -> PeriodTail:
    """The tail `assess` judges: the one given, else the period's last three calendar days."""
    return tail or PeriodTail(
        period_end - timedelta(days=3), 3 / max(period_days, 1), 3, max(period_days - 3, 0)
    )

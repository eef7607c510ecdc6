"""Which adds of an excess to accuse (pure): silence alone accuses nobody.

A volume signal (`NO_ENGAGEMENT`) shows that an employee has far more hollow or silent adds than
honest work brings, but not which of them are the excess: a gamer's own customers go quiet too.
So it accuses the adds no other signal already accuses (a burst's adds are the burst's
evidence, a pile-up's the pile-up's), and all of them only when at least `EXCESS_TO_ACCUSE` of
those are above what the employee's honest work predicts. When the month as a whole does not
show that, a week may: honest work's hollow adds come with its real adds, week by week, so a
week whose own unexplained adds are four in five, and materially, above what that week's real
adds predict has them accused (`excess_in_parts`). Otherwise none, and the facts
(`NO_MESSAGE_YET`) say what is known of each. The honest work is measured by the employee's own
real adds, which gaming hardly makes (docs/scoring.md, "Which contacts a flag accuses")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

EXCESS_TO_ACCUSE = 0.8
"""Accuse when at least this share of the unexplained adds is above the honest prediction: four
in five accusations right at the least, in expectation."""

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def honest_count(real_adds: int, share: float) -> float:
    """How many hollow (or silent) adds honest work brings along with `real_adds` real ones,
    when `share` of honest work's adds are hollow: share / (1 - share) per real add."""
    share = min(max(share, 0.0), 0.9)
    return real_adds * share / (1 - share)


def excess_accused(
    candidates: Sequence[T], predicted: float, accused_already: Callable[[T], bool]
) -> tuple[list[T], list[T]]:
    """(the candidates no other signal accuses, those of them to accuse): all of them when at
    least `EXCESS_TO_ACCUSE` are above `predicted`, else none."""
    unexplained = [c for c in candidates if not accused_already(c)]
    if unexplained and len(unexplained) - predicted >= EXCESS_TO_ACCUSE * len(unexplained):
        return unexplained, unexplained
    return unexplained, []


@dataclass(frozen=True)
class Part(Generic[T]):
    """One part of the period (a week) judged on its own: its unexplained adds, its real adds
    and how many of the first those predict."""

    unexplained: list[T]
    real_adds: int
    predicted: float


def excess_in_parts(
    unexplained: Sequence[T],
    real: Sequence[T],
    part_of: Callable[[T], K],
    share: float,
    material: float,
) -> dict[K, Part[T]]:
    """The parts whose unexplained adds are above what their own real adds predict (at
    `share`) at least `EXCESS_TO_ACCUSE` of them, and by at least `material` adds: each of
    those parts' adds is then the excess four times in five, in expectation."""
    mine: dict[K, list[T]] = defaultdict(list)
    for u in unexplained:
        mine[part_of(u)].append(u)
    reals: dict[K, int] = defaultdict(int)
    for r in real:
        reals[part_of(r)] += 1
    out: dict[K, Part[T]] = {}
    for key, adds in mine.items():
        predicted = honest_count(reals[key], share)
        above = len(adds) - predicted
        if above >= material and above >= EXCESS_TO_ACCUSE * len(adds):
            out[key] = Part(adds, reals[key], predicted)
    return out

"""Which adds of an excess to accuse (pure): silence alone accuses nobody.

A volume signal (`NO_ENGAGEMENT`) shows that an employee has far more hollow or silent adds than
honest work brings, but not which of them are the excess: a gamer's own customers go quiet too.
So it accuses the adds no other signal already accuses (a burst's adds are the burst's
evidence, a pile-up's the pile-up's), and all of them only when at least `EXCESS_TO_ACCUSE` of
those are above what the employee's honest work predicts; otherwise none, and the facts
(`NO_MESSAGE_YET`) say what is known of each. The honest work is measured by the employee's own
real adds, which gaming hardly makes (docs/scoring.md, "Which contacts a flag accuses")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

EXCESS_TO_ACCUSE = 0.8
"""Accuse when at least this share of the unexplained adds is above the honest prediction: four
in five accusations right at the least, in expectation."""

T = TypeVar("T")


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

"""`DELETED_AFTER_WINDOW`: adds the employee removed just after the retention window ended
(pure). Each counted as valid, since it stayed through the window; removed as soon as it no
longer counts, it was kept only to be counted. An honest employee removes a contact for its own
reasons (a wrong person, a duplicate), at times that do not care where the window ends, so the
removals in the span just after it are judged against the employee's own removals elsewhere,
or a cautious prior rate when that is lower (binomial)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from services.scorer.domain.calibration import AFTER_WINDOW_DELETE_RATE
from services.scorer.domain.finding import Finding
from services.scorer.domain.surprise import binomial_surprise
from services.scorer.domain.validity import ContactVerdict, Removal

AFTER_WINDOW = timedelta(hours=48)
"""The span after the window's end that is judged."""
MIN_DELETES = 5
"""Fewer such removals than this is not a pattern worth a reviewer's time."""


def _employee_removals(v: ContactVerdict) -> list[Removal]:
    return [r for r in v.facts.removals if r.is_churn and r.removed_by == "employee"]


def removed_just_after(v: ContactVerdict, retention: timedelta) -> Removal | None:
    start = v.facts.first_added_at + retention
    return next(
        (r for r in _employee_removals(v) if start <= r.removed_at < start + AFTER_WINDOW), None
    )


def deleted_after_window(
    verdicts: Sequence[ContactVerdict], retention: timedelta
) -> Finding | None:
    removed = [v for v in verdicts if v.facts.removals]  # most adds never are
    hits = sorted(
        ((v, r) for v in removed if (r := removed_just_after(v, retention)) is not None),
        key=lambda vr: (vr[1].removed_at, vr[0].facts.external_userid),
    )
    if len(hits) < MIN_DELETES:
        return None
    elsewhere = sum(1 for v in removed if _employee_removals(v)) - len(hits)
    # the employee's own removal rate, spread over the time an add can be removed in the
    # period (about a month), per span as long as the one judged
    own = elsewhere / max(len(verdicts), 1) * (AFTER_WINDOW / timedelta(days=30))
    rate = max(own, AFTER_WINDOW_DELETE_RATE)
    surprise = binomial_surprise(len(hits), len(verdicts), rate)
    delays = sorted(
        (r.removed_at - v.facts.first_added_at - retention).total_seconds() / 3600 for v, r in hits
    )
    return Finding(
        surprise,
        {
            "removed_just_after_window": len(hits),
            "adds": len(verdicts),
            "retention_window_days": retention / timedelta(days=1),
            "hours_after_window_median": round(delays[len(delays) // 2], 1),
            "other_removals_by_employee": elsewhere,
            "expected": round(rate * len(verdicts), 2),
            "examples": [v.facts.external_userid for v, _ in hits[:5]],
            "surprise": round(surprise, 1),
        },
        [v.facts.external_userid for v, _ in hits],
    )

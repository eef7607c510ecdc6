"""`DELETED_AFTER_WINDOW`: adds the employee removed just after the retention window ended
(pure). Each counted as valid, since it stayed through the window; removed as soon as it no
longer counts, it was kept only to be counted. An honest employee removes a contact for its own
reasons (a wrong person, a duplicate), at times that do not care where the window ends, so the
removals in the span just after it are judged against the employee's own removals elsewhere,
or a cautious prior rate when that is lower (binomial: `signals.deleted_after_window`)."""

from __future__ import annotations

from datetime import timedelta

from services.scorer.domain.validity import ContactVerdict, Removal

AFTER_WINDOW = timedelta(hours=48)
"""The span after the window's end that is judged."""
MIN_DELETES = 5
"""Fewer such removals than this is not a pattern worth a reviewer's time."""


def employee_removals(v: ContactVerdict) -> list[Removal]:
    return [r for r in v.facts.removals if r.is_churn and r.removed_by == "employee"]


def removed_just_after(v: ContactVerdict, retention: timedelta) -> Removal | None:
    start = v.facts.first_added_at + retention
    return next(
        (r for r in employee_removals(v) if start <= r.removed_at < start + AFTER_WINDOW), None
    )

"""Quiet hours and the working calendar: a notice to a person outside the allowed time is
held until the next allowed instant, never dropped.

A missed target closed on Friday night reaches the supervisor on Monday morning (or after
Golden Week), not at 23:00 on a holiday."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from services.notifier.domain.config import QuietHours, Timing
from shared.calendar import BusinessCalendar


def in_quiet_hours(at: time, quiet: QuietHours) -> bool:
    """Whether local time `at` is inside the window, which may wrap midnight (21:00-08:00)."""
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= at < quiet.end
    return at >= quiet.start or at < quiet.end


def next_allowed(now: datetime, timing: Timing, calendar: BusinessCalendar) -> datetime:
    """`now` when a person may be notified now, else the earliest later allowed instant (UTC)."""
    local = now.astimezone(calendar.tz)
    for _ in range(400):  # a year of consecutive holidays would be a broken calendar
        if timing.working_days_only and not calendar.is_working_day(local.date()):
            next_day = datetime.combine(local.date() + timedelta(days=1), time(0), calendar.tz)
            local = next_day
            continue
        quiet = timing.quiet_hours
        if quiet is not None and in_quiet_hours(local.time(), quiet):
            day = local.date()
            if quiet.start > quiet.end and local.time() >= quiet.start:
                day += timedelta(days=1)
            local = datetime.combine(day, quiet.end, calendar.tz)
            continue
        return local.astimezone(UTC)
    raise ValueError("no allowed time within 400 days: check quiet hours and the calendar")

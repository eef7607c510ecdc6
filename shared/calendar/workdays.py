"""Working days and working time: the mainland China calendar (public holidays and make-up
working days, 调休) corrected by the bank's override file.

Pace compares adds with the share of the period's *working time* elapsed, daily targets apply to
working days only, and `DataStale` waits for N *working hours* without events: a quiet Golden
Week must not look like falling behind or like a broken callback.

Precedence for a date: the bank's overrides, then the `chinese_calendar` package, then (for
years the package has no data for) Monday to Friday. This module logs nothing; callers can ask
`known_year` and warn that a year is running on the fallback.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from shared.calendar.overrides import DEFAULT_WORKING_HOURS, CalendarOverrides, WorkingHours
from shared.calendar.periods import BUSINESS_TZ, Period, local_date

_SECONDS_PER_HOUR = 3600.0


class BusinessCalendar:
    """Which days are worked and how much working time lies between two instants.

    `working_hours`, when given, wins over the override file's, which wins over 09:00-18:00.
    """

    def __init__(
        self,
        overrides: CalendarOverrides | None = None,
        tz: ZoneInfo = BUSINESS_TZ,
        working_hours: WorkingHours | None = None,
    ) -> None:
        self.tz = tz
        self.overrides = overrides if overrides is not None else CalendarOverrides()
        self.working_hours = _choose_hours(working_hours, self.overrides)
        self._extra_holidays = self.overrides.holiday_dates
        self._extra_working_days = self.overrides.working_dates
        # Periods are few and immutable; scoring asks for the same ones for every employee.
        self._working_days: dict[Period, tuple[date, ...]] = {}

    def known_year(self, year: int) -> bool:
        """Whether the public calendar has data for `year` (else Monday-Friday is assumed)."""
        return public_calendar_knows_year(year)

    def is_working_day(self, day: date) -> bool:
        """Whether the bank works on `day`: overrides first, then the public calendar."""
        if day in self._extra_holidays:
            return False
        if day in self._extra_working_days:
            return True
        public = _public_calendar_says_working(day)
        return day.weekday() < 5 if public is None else public

    def working_days(self, period: Period) -> list[date]:
        """The working days of `period`, in order."""
        return list(self._working_days_of(period))

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day` (where held notices are released)."""
        candidate = day + timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += timedelta(days=1)
        return candidate

    def working_days_elapsed(self, period: Period, now: datetime) -> float:
        """Working days of `period` already worked at `now`: whole working days before today,
        plus the fraction of today's working hours gone if today is one of them."""
        _require_aware(now, "now")
        days = self._working_days_of(period)
        today = local_date(now, self.tz)
        whole = bisect_left(days, today)
        if whole < len(days) and days[whole] == today:
            return whole + self._fraction_of_day_worked(today, now)
        return float(whole)

    def elapsed_share(self, period: Period, now: datetime) -> float:
        """Share (0 to 1) of the period's working time gone at `now`; 0 for a period without
        working days, so nobody is "behind" during a holiday week."""
        total = len(self._working_days_of(period))
        if total == 0:
            return 0.0
        return min(max(self.working_days_elapsed(period, now) / total, 0.0), 1.0)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours from `start` to `end` (0 if `end` is not after `start`): the clock that
        `DataStale` runs on, so nights, weekends and holidays do not count."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return 0.0
        seconds = 0.0
        day = local_date(start, self.tz)
        last = local_date(end, self.tz)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self.working_window(day)
                overlap = (min(end, closes) - max(start, opens)).total_seconds()
                seconds += max(overlap, 0.0)
            day += timedelta(days=1)
        return seconds / _SECONDS_PER_HOUR

    def working_window(self, day: date) -> tuple[datetime, datetime]:
        """The instants (UTC) the working hours of `day` open and close.

        In UTC because subtracting two datetimes that share one `ZoneInfo` ignores offset
        changes (DST) and would miscount the hours of a day with a clock change.
        """
        opens = datetime.combine(day, self.working_hours.start, tzinfo=self.tz)
        closes = datetime.combine(day, self.working_hours.end, tzinfo=self.tz)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def _fraction_of_day_worked(self, day: date, now: datetime) -> float:
        opens, closes = self.working_window(day)
        length = (closes - opens).total_seconds()
        if length <= 0:
            return 1.0 if now >= closes else 0.0
        gone = (now.astimezone(UTC) - opens).total_seconds()
        return min(max(gone / length, 0.0), 1.0)

    def _working_days_of(self, period: Period) -> tuple[date, ...]:
        cached = self._working_days.get(period)
        if cached is None:
            cached = tuple(d for d in period.days() if self.is_working_day(d))
            self._working_days[period] = cached
        return cached


@lru_cache(maxsize=64)
def public_calendar_knows_year(year: int) -> bool:
    """Whether `chinese_calendar` has the State Council's schedule for `year`.

    The package is updated once a year when the schedule is published; a deployment running an
    old version would otherwise silently treat next year's Spring Festival as working days.
    """
    if not date.min.year <= year <= date.max.year:
        return False
    return _public_calendar_says_working(date(year, 1, 1)) is not None


@lru_cache(maxsize=8192)
def _public_calendar_says_working(day: date) -> bool | None:
    """The package's answer, or None for a year it has no data for. Cached: the package scans
    its whole holiday table on every call to check the year range."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def _choose_hours(explicit: WorkingHours | None, overrides: CalendarOverrides) -> WorkingHours:
    if explicit is not None:
        return explicit
    if overrides.working_hours is not None:
        return overrides.working_hours
    return DEFAULT_WORKING_HOURS


def _require_aware(ts: datetime, name: str) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{name} {ts.isoformat()} has no time zone; expected an aware datetime")

"""The month's rhythm: which days are worked (mainland calendar with make-up days, from
`shared.calendar`), and at which hours people add customers and chat.

Honest adds cluster in working hours of working days; holidays and weekends are quiet but not
empty; customers answer in their own time (evenings included); bought adds arrive at night."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum

from shared.calendar import BusinessCalendar, Period, local_date, parse_period
from tools.simulator.draws import weighted


class Hours(Enum):
    """Hour profiles: (from hour, to hour, weight) bands of one local day."""

    OFFICE_DAY = (
        (7.5, 9.0, 0.25),
        (9.0, 12.0, 3.0),
        (12.0, 13.5, 1.2),
        (13.5, 17.5, 3.0),
        (17.5, 18.0, 2.0),
        (18.0, 21.0, 0.6),
        (21.0, 23.0, 0.15),
    )
    LEISURE_DAY = ((9.0, 12.0, 1.0), (12.0, 18.0, 1.2), (18.0, 22.0, 0.8))
    CORE_OFFICE = ((9.5, 11.5, 1.0), (14.0, 17.0, 1.0))
    EVENING = ((18.5, 22.5, 1.0),)
    NIGHT = ((21.0, 24.0, 1.0), (0.0, 1.5, 0.5))
    CUSTOMER = (
        (8.0, 9.0, 0.5),
        (9.0, 12.0, 1.0),
        (12.0, 14.0, 1.3),
        (14.0, 18.0, 1.0),
        (18.0, 22.0, 1.6),
        (22.0, 23.0, 0.5),
    )


@dataclass(frozen=True)
class MonthClock:
    """The simulated month in the bank's calendar: its instants, days and working hours."""

    period: Period
    calendar: BusinessCalendar
    start: datetime
    end: datetime
    days: tuple[date, ...]

    @classmethod
    def of(cls, month: str, calendar: BusinessCalendar | None = None) -> MonthClock:
        period = parse_period(month)
        if period.kind.value != "month":
            raise ValueError(f"{month!r} is not a month key like 2026-10")
        cal = calendar if calendar is not None else BusinessCalendar()
        return cls(
            period=period,
            calendar=cal,
            start=period.start_at(cal.tz).astimezone(UTC),
            end=period.end_at(cal.tz).astimezone(UTC),
            days=tuple(period.days()),
        )

    @property
    def working_days(self) -> list[date]:
        return [d for d in self.days if self.calendar.is_working_day(d)]

    def is_working_day(self, day: date) -> bool:
        return self.calendar.is_working_day(day)

    def in_working_hours(self, at: datetime) -> bool:
        """Whether `at` falls inside the working hours of a working day."""
        day = local_date(at, self.calendar.tz)
        if not self.is_working_day(day):
            return False
        opens, closes = self.calendar.working_window(day)
        return opens <= at < closes

    def share_elapsed(self, day: date) -> float:
        """Where `day` sits in the month, 0 (first day) to just below 1 (last day)."""
        return (day - self.period.start).days / len(self.days)

    def last_days(self, n: int) -> list[date]:
        return list(self.days[-n:])

    def moment(self, rng: random.Random, day: date, hours: Hours | None = None) -> datetime:
        """An instant on local `day`, drawn from an hour profile (office or leisure by default)."""
        if hours is None:
            hours = Hours.OFFICE_DAY if self.is_working_day(day) else Hours.LEISURE_DAY
        low, high = weighted(rng, [((a, b), w) for a, b, w in hours.value])
        seconds = int(rng.uniform(low, high) * 3600)
        return self.local(day) + timedelta(seconds=min(seconds, 86_399))

    def local(self, day: date, hour: float = 0.0) -> datetime:
        """The UTC instant of `hour` o'clock on local `day`."""
        midnight = datetime.combine(day, time.min, tzinfo=self.calendar.tz)
        return (midnight + timedelta(seconds=int(hour * 3600))).astimezone(UTC)

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` itself inside working hours, else the next opening of a working day."""
        day = local_date(at, self.calendar.tz)
        while True:
            if self.is_working_day(day):
                opens, closes = self.calendar.working_window(day)
                if at < closes:
                    return max(at, opens)
            day += timedelta(days=1)

    def customer_time(self, at: datetime) -> datetime:
        """`at` moved out of the night (23:00-08:00) to the next morning: customers sleep."""
        local = at.astimezone(self.calendar.tz)
        if 8 <= local.hour < 23:
            return at
        day = local.date() + timedelta(days=1) if local.hour >= 23 else local.date()
        return self.local(day, 8.0) + (at - at.replace(minute=0, second=0, microsecond=0))

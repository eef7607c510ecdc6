"""Reporting periods: a day `2026-10-15`, an ISO week `2026-W42`, a month `2026-10` and a
quarter `2026-Q4` (docs/contract.md, Periods).

A period is a half-open range of business dates `[start, end)`. Which period an event counts in
is decided by its own time converted to the business time zone (`local_date`), never by the
arrival time, so a contact added at 00:30 in Shanghai counts on that Shanghai day even though it
is still the previous day in UTC. Weeks are ISO weeks (Monday start): their year is the ISO year,
which differs from the calendar year around New Year (2026-12-31 and 2027-01-01 are both in
2026-W53).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
"""The default business time zone (`BUSINESS_TIMEZONE` in docs/configuration.md)."""

_DAY_KEY = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_WEEK_KEY = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)
_MONTH_KEY = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER_KEY = re.compile(r"(\d{4})-Q(\d)", re.ASCII)

_KEY_FORMS = "a day 2026-10-15, an ISO week 2026-W42, a month 2026-10 or a quarter 2026-Q4"


class PeriodKind(StrEnum):
    """The four period lengths targets and scores are kept for."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, slots=True)
class Period:
    """One reporting period: the dates `start <= d < end` in the business time zone.

    `key` is the canonical text form used in the API, in Kafka and in the database; two periods
    are equal exactly when their keys are.
    """

    kind: PeriodKind
    key: str
    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        """`d in period`: whether the business date `d` lies in this period."""
        if not isinstance(day, date) or isinstance(day, datetime):
            return False
        return self.start <= day < self.end

    def days(self) -> list[date]:
        """Every date of the period, in order."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    def start_at(self, tz: ZoneInfo = BUSINESS_TZ) -> datetime:
        """The instant the period opens: midnight of its first day in `tz`.

        Use it (with `end_at`) for half-open time range queries `start_at <= t < end_at`.
        """
        return _midnight(self.start, tz)

    def end_at(self, tz: ZoneInfo = BUSINESS_TZ) -> datetime:
        """The instant the period closes (exclusive): midnight after its last day in `tz`."""
        return _midnight(self.end, tz)


def parse_period(key: str) -> Period:
    """The period a key names; `ValueError` saying what is wrong with any other text.

    Only the canonical forms are accepted (zero-padded, upper-case `W`/`Q`), so that one period
    has exactly one key and keys can be compared as strings downstream.
    """
    try:
        return _parse(key)
    except OverflowError as exc:
        raise ValueError(f"period {key!r} lies outside the supported date range") from exc


def period_of(kind: PeriodKind, day: date) -> Period:
    """The period of the given kind that contains the business date `day`."""
    try:
        return _PERIOD_OF[kind](day)
    except OverflowError as exc:
        raise ValueError(f"the {kind} containing {day} ends past the last supported date") from exc


def periods_containing(day: date) -> list[Period]:
    """The day, ISO week, month and quarter that `day` counts in, in that order."""
    return [period_of(kind, day) for kind in PeriodKind]


@lru_cache(maxsize=8192)
def period_keys_of(day: date) -> tuple[str, ...]:
    """The keys of `periods_containing(day)`; cached, as every event asks for them."""
    return tuple(p.key for p in periods_containing(day))


def local_date(ts: datetime, tz: ZoneInfo = BUSINESS_TZ) -> date:
    """The business date of an instant: its calendar date in `tz`.

    Naive timestamps are refused: guessing their zone would silently move events across day
    (and so period) boundaries.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone; expected an aware datetime")
    return ts.astimezone(tz).date()


def _parse(key: str) -> Period:
    if not isinstance(key, str):
        raise ValueError(f"a period key must be text, got {type(key).__name__}")
    if match := _DAY_KEY.fullmatch(key):
        year, month, day = (int(g) for g in match.groups())
        try:
            return day_period(date(year, month, day))
        except ValueError as exc:
            raise ValueError(f"period {key!r} is not a real date: {exc}") from exc
    if match := _WEEK_KEY.fullmatch(key):
        return _parse_week(key, int(match[1]), int(match[2]))
    if match := _MONTH_KEY.fullmatch(key):
        return _parse_month(key, int(match[1]), int(match[2]))
    if match := _QUARTER_KEY.fullmatch(key):
        return _parse_quarter(key, int(match[1]), int(match[2]))
    raise ValueError(f"period {key!r} is not a period key; expected {_KEY_FORMS}")


def _parse_week(key: str, year: int, week: int) -> Period:
    _check_year(key, year)
    weeks = iso_weeks_in_year(year)
    if not 1 <= week <= weeks:
        raise ValueError(f"period {key!r}: ISO year {year} has weeks 01 to {weeks:02d}")
    return week_period(date.fromisocalendar(year, week, 1))


def _parse_month(key: str, year: int, month: int) -> Period:
    _check_year(key, year)
    if not 1 <= month <= 12:
        raise ValueError(f"period {key!r}: month must be 01 to 12")
    return month_period(date(year, month, 1))


def _parse_quarter(key: str, year: int, quarter: int) -> Period:
    _check_year(key, year)
    if not 1 <= quarter <= 4:
        raise ValueError(f"period {key!r}: quarter must be Q1 to Q4")
    return quarter_period(date(year, 3 * quarter - 2, 1))


def _check_year(key: str, year: int) -> None:
    if year < 1:
        raise ValueError(f"period {key!r}: year must be 0001 or later")


def iso_weeks_in_year(iso_year: int) -> int:
    """52 or 53: the number of ISO weeks of an ISO year (28 December is always in the last)."""
    return date(iso_year, 12, 28).isocalendar().week


def day_period(day: date) -> Period:
    """The one-day period of `day`."""
    return Period(PeriodKind.DAY, day.isoformat(), day, day + timedelta(days=1))


def week_period(day: date) -> Period:
    """The ISO week (Monday to Sunday) containing `day`, keyed by its ISO year."""
    iso = day.isocalendar()
    monday = day - timedelta(days=iso.weekday - 1)
    return Period(
        PeriodKind.WEEK, f"{iso.year:04d}-W{iso.week:02d}", monday, monday + timedelta(days=7)
    )


def month_period(day: date) -> Period:
    """The calendar month containing `day`."""
    first = day.replace(day=1)
    return Period(PeriodKind.MONTH, f"{day.year:04d}-{day.month:02d}", first, _add_months(first, 1))


def quarter_period(day: date) -> Period:
    """The calendar quarter (Q1 = January to March) containing `day`."""
    quarter = (day.month - 1) // 3 + 1
    first = date(day.year, 3 * quarter - 2, 1)
    return Period(PeriodKind.QUARTER, f"{day.year:04d}-Q{quarter}", first, _add_months(first, 3))


def _add_months(first_of_month: date, months: int) -> date:
    """The first day `months` months after a first-of-month (`OverflowError` past year 9999)."""
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    year, month0 = divmod(index, 12)
    if year > date.max.year:
        raise OverflowError(f"year {year} is out of range")
    return date(year, month0 + 1, 1)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


_PERIOD_OF = {
    PeriodKind.DAY: day_period,
    PeriodKind.WEEK: week_period,
    PeriodKind.MONTH: month_period,
    PeriodKind.QUARTER: quarter_period,
}

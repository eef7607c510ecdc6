"""Periods, the mainland China working calendar (holidays, 调休) and the bank's overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.calendar import (
    BusinessCalendar,
    CalendarOverrideError,
    CalendarOverrides,
    Period,
    PeriodKind,
    WorkingHours,
    local_date,
    parse_period,
    period_of,
    periods_containing,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NATIONAL_DAY = date(2026, 10, 1)
# A make-up working day (调休) of 2026 taken from chinese_calendar's own data: a Saturday worked
# in exchange for the National Day / Mid-autumn holiday.
MAKE_UP_SATURDAY = date(2026, 10, 10)

business_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- periods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind", "start", "end"),
    [
        ("2026-10-15", PeriodKind.DAY, date(2026, 10, 15), date(2026, 10, 16)),
        ("2026-W42", PeriodKind.WEEK, date(2026, 10, 12), date(2026, 10, 19)),
        ("2026-10", PeriodKind.MONTH, date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", PeriodKind.MONTH, date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q4", PeriodKind.QUARTER, date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-Q1", PeriodKind.QUARTER, date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-W53", PeriodKind.WEEK, date(2026, 12, 28), date(2027, 1, 4)),
        ("2028-02-29", PeriodKind.DAY, date(2028, 2, 29), date(2028, 3, 1)),
    ],
)
def test_parse_period_each_kind(key: str, kind: PeriodKind, start: date, end: date) -> None:
    assert parse_period(key) == Period(kind, key, start, end)


@pytest.mark.parametrize(
    ("day", "week_key"),
    [
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 1), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        (date(2024, 12, 30), "2025-W01"),
    ],
)
def test_iso_week_year_differs_from_calendar_year(day: date, week_key: str) -> None:
    week = period_of(PeriodKind.WEEK, day)
    assert week.key == week_key
    assert week.start.weekday() == 0
    assert day in week


def test_new_years_day_2027_counts_in_2026_w53_but_2027_month_and_quarter() -> None:
    keys = [p.key for p in periods_containing(date(2027, 1, 1))]
    assert keys == ["2027-01-01", "2026-W53", "2027-01", "2027-Q1"]


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("2026-13", "month must be 01 to 12"),
        ("2026-00", "month must be 01 to 12"),
        ("2026-W54", "weeks 01 to 53"),
        ("2025-W53", "ISO year 2025 has weeks 01 to 52"),
        ("2026-W00", "weeks 01 to 53"),
        ("2026-Q5", "quarter must be Q1 to Q4"),
        ("2026-Q0", "quarter must be Q1 to Q4"),
        ("2026-02-30", "not a real date"),
        ("garbage", "not a period key"),
        ("", "not a period key"),
        ("2026-w42", "not a period key"),
        ("2026-10-15T00:00", "not a period key"),
        ("20261015", "not a period key"),
        (" 2026-10", "not a period key"),
        ("2026-１０", "not a period key"),
        ("9999-Q4", "outside the supported date range"),
    ],
)
def test_parse_period_rejects_bad_keys(key: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_period(key)


def test_period_boundaries_are_local_midnights() -> None:
    october = parse_period("2026-10")
    assert october.start_at(SHANGHAI) == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert october.end_at(SHANGHAI) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert october.start_at() == october.start_at(SHANGHAI)


def test_local_date_crosses_midnight_in_shanghai() -> None:
    assert local_date(datetime(2026, 10, 14, 16, 30, tzinfo=UTC)) == date(2026, 10, 15)
    assert local_date(datetime(2026, 10, 14, 15, 59, tzinfo=UTC), SHANGHAI) == date(2026, 10, 14)


def test_local_date_refuses_naive_timestamps() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        local_date(datetime(2026, 10, 14, 16, 30))


@given(business_dates)
def test_every_date_is_in_exactly_one_period_of_each_kind(day: date) -> None:
    periods = periods_containing(day)
    assert [p.kind for p in periods] == list(PeriodKind)
    for period in periods:
        assert period.start <= day < period.end
        assert day in period
        neighbours = [period_of(period.kind, period.start - timedelta(days=1))]
        neighbours.append(period_of(period.kind, period.end))
        assert all(day not in other and other != period for other in neighbours)


@given(business_dates, st.sampled_from(list(PeriodKind)))
def test_keys_round_trip(day: date, kind: PeriodKind) -> None:
    period = period_of(kind, day)
    assert parse_period(period.key) == period


@given(business_dates, st.sampled_from(list(PeriodKind)))
def test_periods_tile_the_timeline(day: date, kind: PeriodKind) -> None:
    """The next period starts exactly where this one ends: no date is lost or counted twice."""
    period = period_of(kind, day)
    assert period_of(kind, period.end).start == period.end
    assert len(period.days()) == (period.end - period.start).days


# --- working days --------------------------------------------------------------------------


def test_national_day_is_not_a_working_day() -> None:
    calendar = BusinessCalendar()
    assert NATIONAL_DAY.weekday() == 3  # a Thursday
    assert not calendar.is_working_day(NATIONAL_DAY)


def test_make_up_weekend_day_is_a_working_day() -> None:
    assert MAKE_UP_SATURDAY in chinese_calendar.constants.workdays
    assert MAKE_UP_SATURDAY.weekday() >= 5
    assert BusinessCalendar().is_working_day(MAKE_UP_SATURDAY)


def test_ordinary_weekend_and_weekday() -> None:
    calendar = BusinessCalendar()
    assert calendar.is_working_day(date(2026, 10, 15))
    assert not calendar.is_working_day(date(2026, 10, 17))


def test_october_2026_working_days_match_the_package() -> None:
    october = parse_period("2026-10")
    expected = [d for d in october.days() if chinese_calendar.is_workday(d)]
    days = BusinessCalendar().working_days(october)
    assert days == expected
    assert MAKE_UP_SATURDAY in days
    assert not any(date(2026, 10, 1) <= d <= date(2026, 10, 7) for d in days)


def test_unknown_year_falls_back_to_monday_to_friday() -> None:
    calendar = BusinessCalendar()
    assert calendar.known_year(2026)
    assert not calendar.known_year(2999)
    week = parse_period("2999-W10")
    assert calendar.working_days(week) == week.days()[:5]


def test_next_working_day_skips_golden_week() -> None:
    calendar = BusinessCalendar()
    assert calendar.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert calendar.next_working_day(date(2026, 10, 15)) == date(2026, 10, 16)


# --- elapsed working time ------------------------------------------------------------------


def test_elapsed_share_at_start_middle_and_end_of_a_week() -> None:
    calendar = BusinessCalendar()
    week = parse_period("2026-W42")  # Mon 12 Oct to Sun 18 Oct 2026, five working days
    assert len(calendar.working_days(week)) == 5
    assert calendar.elapsed_share(week, shanghai(2026, 10, 12, 0)) == 0.0
    assert calendar.elapsed_share(week, shanghai(2026, 10, 12, 9)) == 0.0
    # Wednesday 13:30: Monday and Tuesday done, half of Wednesday's 09:00-18:00.
    assert calendar.working_days_elapsed(week, shanghai(2026, 10, 14, 13, 30)) == 2.5
    assert calendar.elapsed_share(week, shanghai(2026, 10, 14, 13, 30)) == pytest.approx(0.5)
    assert calendar.elapsed_share(week, shanghai(2026, 10, 16, 18)) == 1.0
    assert calendar.elapsed_share(week, shanghai(2026, 10, 18, 23)) == 1.0


def test_elapsed_share_is_clamped_outside_the_period() -> None:
    calendar = BusinessCalendar()
    month = parse_period("2026-11")
    assert calendar.elapsed_share(month, shanghai(2026, 10, 31, 12)) == 0.0
    assert calendar.elapsed_share(month, shanghai(2027, 3, 1, 12)) == 1.0


def test_elapsed_share_stands_still_over_a_holiday() -> None:
    calendar = BusinessCalendar()
    october = parse_period("2026-10")
    before = calendar.elapsed_share(october, shanghai(2026, 10, 1, 10))
    after = calendar.elapsed_share(october, shanghai(2026, 10, 7, 23))
    assert before == after == 0.0


def test_a_period_without_working_days_has_no_elapsed_share() -> None:
    calendar = BusinessCalendar()
    holiday = parse_period("2026-10-03")
    assert calendar.working_days(holiday) == []
    assert calendar.elapsed_share(holiday, shanghai(2026, 10, 3, 12)) == 0.0


def test_configured_working_hours_change_the_fraction_of_today() -> None:
    calendar = BusinessCalendar(working_hours=WorkingHours(start=time(8, 30), end=time(17, 30)))
    day = parse_period("2026-10-15")
    assert calendar.elapsed_share(day, shanghai(2026, 10, 15, 13)) == pytest.approx(0.5)


def test_working_hours_between_skips_nights_weekends_and_holidays() -> None:
    calendar = BusinessCalendar()
    friday_evening = shanghai(2026, 10, 16, 17)
    monday_morning = shanghai(2026, 10, 19, 10)
    assert calendar.working_hours_between(friday_evening, monday_morning) == 2.0
    assert calendar.working_hours_between(monday_morning, friday_evening) == 0.0
    golden_week = calendar.working_hours_between(
        shanghai(2026, 9, 30, 18), shanghai(2026, 10, 8, 9)
    )
    assert golden_week == 0.0
    # UTC inputs are converted: 01:00Z..10:00Z is 09:00..18:00 in Shanghai.
    utc_day = calendar.working_hours_between(
        datetime(2026, 10, 15, 1, tzinfo=UTC), datetime(2026, 10, 15, 10, tzinfo=UTC)
    )
    assert utc_day == 9.0


def test_elapsed_time_needs_aware_timestamps() -> None:
    calendar = BusinessCalendar()
    with pytest.raises(ValueError, match="no time zone"):
        calendar.elapsed_share(parse_period("2026-10"), datetime(2026, 10, 15, 12))


# --- bank overrides ------------------------------------------------------------------------

OVERRIDE_FILE = """\
holidays:
  - date: 2026-10-15
    reason: bank anniversary
working_days:
  - 2026-10-17  # a Saturday
working_hours:
  start: "08:00"
  end: "17:00"
"""


def test_override_file_adds_a_holiday_and_a_working_day(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(OVERRIDE_FILE, encoding="utf-8")
    overrides = CalendarOverrides.from_yaml(path)
    calendar = BusinessCalendar(overrides)
    assert not calendar.is_working_day(date(2026, 10, 15))
    assert calendar.is_working_day(date(2026, 10, 17))
    assert overrides.holidays[0].reason == "bank anniversary"
    assert calendar.working_hours == WorkingHours(start=time(8), end=time(17))
    week = parse_period("2026-W42")
    assert calendar.working_days(week) == [date(2026, 10, d) for d in (12, 13, 14, 16, 17)]


def test_overrides_win_over_the_public_calendar() -> None:
    overrides = CalendarOverrides.from_dict(
        {"holidays": [MAKE_UP_SATURDAY.isoformat()], "working_days": ["2026-10-02"]}
    )
    calendar = BusinessCalendar(overrides, tz=SHANGHAI)
    assert not calendar.is_working_day(MAKE_UP_SATURDAY)
    assert calendar.is_working_day(date(2026, 10, 2))


def test_the_example_override_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "deploy" / "calendar" / "overrides.example.yaml"
    overrides = CalendarOverrides.from_yaml(example)
    assert overrides.holidays
    assert overrides.working_days


def test_empty_override_file_means_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert CalendarOverrides.from_yaml(path) == CalendarOverrides()


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"holidays": ["2026-02-30"]}, r"holidays\[0\]\.date: '2026-02-30' is not a date"),
        ({"working_days": ["ok", "2026/10/01"]}, r"working_days\[0\]\.date: 'ok'"),
        ({"holidays": [{"date": 20261001}]}, r"holidays\[0\]\.date: expected a date"),
        ({"holidays": [{"date": "2026-10-09", "reasn": "x"}]}, r"holidays\[0\]\.reasn"),
        ({"holiday": ["2026-10-09"]}, r"holiday: Extra inputs"),
        (
            {"holidays": ["2026-10-09"], "working_days": ["2026-10-09"]},
            "both as holidays and as working days: 2026-10-09",
        ),
        ({"working_hours": {"start": "18:00", "end": "09:00"}}, "start before they end"),
        ({"working_hours": {"start": "09:00", "end": 1080}}, "write times in quotes"),
    ],
)
def test_bad_overrides_name_the_entry(data: dict[str, object], complaint: str) -> None:
    with pytest.raises(CalendarOverrideError, match=complaint):
        CalendarOverrides.from_dict(data)


def test_bad_date_in_the_file_names_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("holidays:\n  - 2026-10-09\n  - 2026-02-30\n", encoding="utf-8")
    with pytest.raises(CalendarOverrideError, match=r"bad\.yaml[\s\S]*holidays\[1\]\.date"):
        CalendarOverrides.from_yaml(path)


def test_unquoted_time_in_the_file_gets_a_helpful_error(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text("working_hours:\n  start: '09:00'\n  end: 18:00\n", encoding="utf-8")
    with pytest.raises(CalendarOverrideError, match="write times in quotes"):
        CalendarOverrides.from_yaml(path)

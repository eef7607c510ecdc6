"""The business calendar: reporting periods (day, ISO week, month, quarter) in the bank's time
zone, and the mainland China working calendar with the bank's own overrides. Pure logic: the
only I/O is `CalendarOverrides.from_yaml` reading the override file."""

from shared.calendar.overrides import (
    DEFAULT_WORKING_HOURS,
    CalendarOverrideError,
    CalendarOverrides,
    OverrideDay,
    WorkingHours,
)
from shared.calendar.periods import (
    BUSINESS_TZ,
    Period,
    PeriodKind,
    iso_weeks_in_year,
    local_date,
    parse_period,
    period_keys_of,
    period_of,
    periods_containing,
)
from shared.calendar.workdays import BusinessCalendar, public_calendar_knows_year

__all__ = [
    "BUSINESS_TZ",
    "DEFAULT_WORKING_HOURS",
    "BusinessCalendar",
    "CalendarOverrideError",
    "CalendarOverrides",
    "OverrideDay",
    "Period",
    "PeriodKind",
    "WorkingHours",
    "iso_weeks_in_year",
    "local_date",
    "parse_period",
    "period_keys_of",
    "period_of",
    "periods_containing",
    "public_calendar_knows_year",
]

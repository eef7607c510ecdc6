"""The instants tests run "as of" (Asia/Shanghai), so no test depends on today's date: the
first and the middle of a month, the last half hour of a year, the first of the next year,
and the last day of a month."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


AS_OF = [
    pytest.param(shanghai(2026, 12, 1, 10), id="month-first"),
    pytest.param(shanghai(2026, 12, 15, 10), id="month-middle"),
    pytest.param(shanghai(2026, 12, 31, 23, 30), id="year-last"),
    pytest.param(shanghai(2027, 1, 1, 0, 30), id="year-first"),
    pytest.param(shanghai(2026, 11, 30, 10), id="month-last"),
]

"""The bank's own calendar corrections, read from a YAML file (see
`deploy/calendar/overrides.example.yaml`).

The public calendar (`chinese_calendar`) knows the State Council's holidays and make-up working
days; a bank also closes for its own reasons (a branch anniversary, a system migration weekend)
or opens on a weekend (a year-end push). Those dates win over the public calendar. A wrong entry
would silently shift every target and pace figure, so the file is validated strictly and every
error names the entry it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class CalendarOverrideError(ValueError):
    """The override file (or mapping) is unusable; the message names the offending entry."""


class WorkingHours(BaseModel):
    """The daily working window in the business time zone, `start` to `end` on the same day.

    Pace and "no events for N working hours" count only time inside this window.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted `18:00` as the base-60 number 1080: say so, not "bad time"."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"write times in quotes, like '18:00' (YAML read {value} as a number)")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError(f"working hours must start before they end ({self.start}-{self.end})")
        return self

    @property
    def length_hours(self) -> float:
        """Hours of work in one ordinary working day."""
        start = datetime.combine(date.min, self.start)
        return (datetime.combine(date.min, self.end) - start).total_seconds() / 3600


DEFAULT_WORKING_HOURS = WorkingHours()


class OverrideDay(BaseModel):
    """One date the bank treats differently from the public calendar, with an optional reason.

    In the file an entry is either a bare date (`2026-12-31`) or `{date: ..., reason: ...}`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    day: date = Field(alias="date")
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, value: object) -> object:
        if isinstance(value, Mapping | OverrideDay):
            return value
        return {"date": value}

    @field_validator("day", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> date:
        """Only `YYYY-MM-DD` (or a `date`): pydantic would otherwise read 20261001 as a Unix
        timestamp and quietly land in 1970."""
        if isinstance(value, datetime):
            raise ValueError(f"expected a date, got the timestamp {value.isoformat()}")
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a date like 2026-10-01, got {value!r}")
        try:
            return _strict_iso_date(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date like 2026-10-01 ({exc})") from None


class CalendarOverrides(BaseModel):
    """Extra holidays and extra working days (and optionally working hours) of the bank."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: tuple[OverrideDay, ...] = ()
    working_days: tuple[OverrideDay, ...] = ()
    working_hours: WorkingHours | None = None

    @field_validator("holidays", "working_days", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        """`holidays:` with nothing under it is YAML null; read it as "none"."""
        return () if value is None else value

    @model_validator(mode="after")
    def _not_both(self) -> CalendarOverrides:
        both = sorted(self.holiday_dates & self.working_dates)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates listed both as holidays and as working days: {listed}")
        return self

    @property
    def holiday_dates(self) -> frozenset[date]:
        """Dates the bank does not work, whatever the public calendar says."""
        return frozenset(entry.day for entry in self.holidays)

    @property
    def working_dates(self) -> frozenset[date]:
        """Dates the bank works, whatever the public calendar says."""
        return frozenset(entry.day for entry in self.working_days)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "overrides") -> Self:
        """Validate a mapping shaped like the file; `CalendarOverrideError` names bad entries."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise CalendarOverrideError(
                f"{source}: expected a mapping with holidays / working_days / working_hours, "
                f"got {type(data).__name__}"
            )
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise CalendarOverrideError(_describe(source, exc)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        """Read and validate the override file (a missing file is an `OSError`, not "no
        overrides": a mistyped path must not silently drop the bank's holidays)."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = yaml.load(text, Loader=_DatesAsTextLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as exc:
            raise CalendarOverrideError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data, source=str(path))


class _DatesAsTextLoader(yaml.SafeLoader):
    """A safe loader that leaves dates as text, so that an impossible date like 2026-02-30 gets
    our error naming the entry instead of a bare traceback from inside PyYAML."""


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _strict_iso_date(text: str) -> date:
    """`date.fromisoformat` also takes `20261001` and `2026-W40-4`; entries must be readable."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError("expected YYYY-MM-DD")
    return date.fromisoformat(text)


def _describe(source: str, exc: ValidationError) -> str:
    """One line per problem, `holidays[2]: '2026-02-30' is not a date ...`."""
    lines = [f"{source}: invalid calendar overrides"]
    for error in exc.errors(include_url=False):
        where = _location(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


def _location(loc: tuple[int | str, ...]) -> str:
    """`('holidays', 2, 'date')` -> `holidays[2].date`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text

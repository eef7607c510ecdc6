"""The one place the services read the time of day from.

Everything that decides by the calendar (which period is open, whether a deadline has passed,
whether it is working time, when a digest is due, how old a record is) asks a `Clock` handed
to it at the wiring point, never `datetime.now()` itself: tests and demos can then run the
services as of any day (the 1st of a month, the last day of a year) without waiting for it.

Durations measured on one machine (timeouts, backoff, latency) may use `time.monotonic()`:
they do not depend on the date."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current instant, time-zone aware, in UTC."""

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    """The machine's clock: what every service uses in production."""
    return datetime.now(UTC)  # the one wall-clock read of the services


def shifted_clock(offset_seconds: float) -> Clock:
    """The machine's clock moved by a fixed offset, for running the whole stack as of another
    day: every process given the same offset agrees on the time, and time still passes."""
    if offset_seconds == 0:
        return system_clock
    offset = timedelta(seconds=offset_seconds)
    log.warning("the clock is shifted by %s: for tests and demos only", offset)

    def now() -> datetime:
        return system_clock() + offset

    return now


def offset_to(instant: datetime) -> float:
    """The offset that makes a shifted clock read `instant` now (CLOCK_OFFSET_SECONDS)."""
    if instant.tzinfo is None:
        raise ValueError("the instant must be time-zone aware")
    return (instant - system_clock()).total_seconds()


class ManualClock:
    """A clock that stands still until moved: for tests of logic that reads the time."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the instant must be time-zone aware")
        self._at = at.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at


def clock_from_env(environ: Mapping[str, str]) -> Clock:
    """For the command-line tools, which read the environment rather than a Settings class:
    the same CLOCK_OFFSET_SECONDS the services read."""
    raw = environ.get("CLOCK_OFFSET_SECONDS", "0") or "0"
    try:
        return shifted_clock(float(raw))
    except ValueError as exc:
        raise ValueError(f"CLOCK_OFFSET_SECONDS {raw!r} is not a number of seconds") from exc

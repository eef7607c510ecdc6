"""When an unacknowledged alert moves up the chain: after N *working* hours since its current
level was notified, so a Friday-evening notice is not escalated over the weekend."""

from __future__ import annotations

from datetime import datetime

from shared.calendar import BusinessCalendar


def escalation_due(
    notified_at: datetime,
    now: datetime,
    after_working_hours: float,
    calendar: BusinessCalendar,
) -> bool:
    return calendar.working_hours_between(notified_at, now) >= after_working_hours


def next_in_chain(chain: list[str], level: int) -> str | None:
    """`chain[0]` is the employee's supervisor (level 0); level k goes to `chain[k]`."""
    return chain[level] if 0 <= level < len(chain) else None

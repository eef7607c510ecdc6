"""The case page's timeline: an employee's adds and removals per day of the period, drawn as an
inline SVG on the server (no JavaScript). Pure but for the one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.calendar import Period
from shared.db import Connection

DAILY_SQL = """
SELECT (occurred_at AT TIME ZONE $4)::date AS day,
       count(*) FILTER (WHERE change_type IN ('add_external_contact', 'add_half_external_contact'))
         AS adds,
       count(*) FILTER (WHERE change_type IN ('del_external_contact', 'del_follow_user'))
         AS removals
  FROM contact_event
 WHERE employee_id = $1 AND occurred_at >= $2 AND occurred_at < $3
 GROUP BY 1 ORDER BY 1"""
WIDTH, HEIGHT, PAD = 720, 220, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    count: int


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    axis_y: float
    adds: list[Bar]
    removals: list[Bar]
    ticks: list[tuple[float, str]]
    top: int
    total_adds: int
    total_removals: int


async def daily(
    conn: Connection, employee_id: str, period: Period, tz: Any
) -> dict[date, tuple[int, int]]:
    rows = await conn.fetch(
        DAILY_SQL, employee_id, period.start_at(tz), period.end_at(tz), str(tz.key)
    )
    return {r["day"]: (r["adds"], r["removals"]) for r in rows}


def timeline(period: Period, counts: dict[date, tuple[int, int]]) -> Timeline:
    """Adds as bars above the axis, removals below it, one slot per day of the period."""
    days = period.days()
    top = max([max(a, r) for a, r in counts.values()] or [0]) or 1
    slot = (WIDTH - 2 * PAD) / max(len(days), 1)
    half = (HEIGHT - 2 * PAD) / 2
    axis = PAD + half
    adds: list[Bar] = []
    removals: list[Bar] = []
    ticks: list[tuple[float, str]] = []
    step = max(1, len(days) // 8)
    for i, day in enumerate(days):
        x = PAD + i * slot + slot * 0.15
        a, r = counts.get(day, (0, 0))
        if a:
            h = half * a / top
            adds.append(
                Bar(
                    round(x, 1),
                    round(axis - h, 1),
                    round(slot * 0.7, 1),
                    round(h, 1),
                    day.isoformat(),
                    a,
                )
            )
        if r:
            h = half * r / top
            removals.append(
                Bar(round(x, 1), axis, round(slot * 0.7, 1), round(h, 1), day.isoformat(), r)
            )
        if i % step == 0:
            ticks.append((round(PAD + i * slot, 1), day.strftime("%m-%d")))
    return Timeline(
        WIDTH,
        HEIGHT,
        axis,
        adds,
        removals,
        ticks,
        top,
        sum(a for a, _ in counts.values()),
        sum(r for _, r in counts.values()),
    )

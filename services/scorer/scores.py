"""Assembling an employee's period figures from stored aggregates (the one place that turns
rows into the CONTRACT.md score shape, used by the API and by closing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.scorer.domain.quota import evaluate
from shared.calendar import BusinessCalendar, Period, PeriodKind


def period_target(row: asyncpg.Record, period: Period, calendar: BusinessCalendar) -> int | None:
    """Daily targets apply to working days only."""
    target: int | None = row["target"]
    if period.kind is PeriodKind.DAY and not calendar.is_working_day(period.start):
        return None
    return target


def score_row(
    row: asyncpg.Record,
    period: Period,
    calendar: BusinessCalendar,
    now: datetime,
    closed: bool,
) -> dict[str, Any]:
    valid = row["gross_adds"]  # validity rules (first add, peers, retention) arrive with issue 5
    figures = evaluate(
        period_target(row, period, calendar),
        valid_adds=valid,
        pending_adds=0,
        elapsed_share=calendar.elapsed_share(period, now),
        closed=closed,
    )
    return {
        "employee_id": row["employee_id"],
        "branch_id": row["branch_id"],
        "team_id": row["team_id"],
        "supervisor_id": row["supervisor_id"],
        "target": figures.target,
        "gross_adds": row["gross_adds"],
        "valid_adds": figures.valid_adds,
        "pending_adds": figures.pending_adds,
        "removed_adds": 0,
        "attainment": figures.attainment,
        "pace": figures.pace,
        "projection": figures.projection,
        "status": figures.status.value if figures.status else None,
        "quality_score": None,
        "quality": {},
        "anomaly_score": 0.0,
        "flagged": False,
        "reasons": [],
    }

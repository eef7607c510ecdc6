"""Reading one period and branch from the dashboards' views (any role that may read them; the
read-only `wq_reader` is the one meant for this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from shared.clock import Clock
from tools.report.figures import ReportData, Row

TEAMS = """SELECT * FROM v_team_period_summary
 WHERE period = $1 AND ($2::text IS NULL OR branch_id = $2) ORDER BY branch_id, team_id"""
EMPLOYEES = """SELECT * FROM v_employee_period_scores
 WHERE period = $1 AND ($2::text IS NULL OR branch_id = $2) ORDER BY team_id, employee_id"""
ALERT_LOG = """SELECT * FROM v_alert_log
 WHERE period = $1 AND ($2::text IS NULL OR branch_id = $2) ORDER BY alert_id"""


def _local(row: asyncpg.Record, tz: ZoneInfo) -> Row:
    """A row as a dict: JSON decoded, times in the business time zone, numerics as floats."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.astimezone(tz)
        elif key == "reasons" and isinstance(value, str):
            value = orjson.loads(value)
        elif hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
            value = float(value)  # Decimal from sum()/avg()
        out[key] = value
    return out


async def load(dsn: str, period: str, branch: str | None, tz: ZoneInfo, clock: Clock) -> ReportData:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):
            teams = await conn.fetch(TEAMS, period, branch)
            employees = await conn.fetch(EMPLOYEES, period, branch)
            alert_log = await conn.fetch(ALERT_LOG, period, branch)
    finally:
        await conn.close()
    return ReportData(
        period=period,
        branch=branch,
        generated_at=clock().astimezone(tz),
        teams=[_local(r, tz) for r in teams],
        employees=[_local(r, tz) for r in employees],
        alert_log=[_local(r, tz) for r in alert_log],
    )

"""PostgreSQL adapter of the scorer: bulk statements (arrays + unnest), one round trip per
table per batch, never one per event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import Connection
from shared.schemas import ContactEvent, EmployeeRecord, TargetRecord


async def insert_new_events(conn: Connection, events: Sequence[ContactEvent]) -> list[ContactEvent]:
    """Store events by event_id; return only those not seen before (duplicates change nothing)."""
    if not events:
        return []
    rows = await conn.fetch(
        """INSERT INTO contact_event
               (event_id, employee_id, external_userid, change_type, occurred_at, state, source)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                $5::timestamptz[], $6::text[], $7::text[])
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id""",
        [e.event_id for e in events],
        [e.employee_id for e in events],
        [e.external_userid for e in events],
        [e.change_type.value for e in events],
        [e.occurred_at for e in events],
        [e.state for e in events],
        [e.source for e in events],
    )
    fresh = {r["event_id"] for r in rows}
    return [e for e in events if e.event_id in fresh]


async def add_gross(conn: Connection, increments: Counter[tuple[str, str]]) -> None:
    if not increments:
        return
    keys = sorted(increments)
    await conn.execute(
        """INSERT INTO employee_period_stats (employee_id, period, gross_adds)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
           ON CONFLICT (employee_id, period) DO UPDATE
              SET gross_adds = employee_period_stats.gross_adds + EXCLUDED.gross_adds,
                  updated_at = now()""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [increments[k] for k in keys],
    )


def _latest_by(records: Sequence[Any], key: Any) -> list[Any]:
    """Within a batch only the latest record of an entity matters (by event time)."""
    latest: dict[Any, Any] = {}
    for r in records:
        k = key(r)
        if k not in latest or r.occurred_at >= latest[k].occurred_at:
            latest[k] = r
    return list(latest.values())


async def upsert_employees(conn: Connection, records: Sequence[EmployeeRecord]) -> None:
    rows = _latest_by(records, lambda r: r.employee_id)
    if not rows:
        return
    await conn.execute(
        """INSERT INTO employee (employee_id, name, branch_id, team_id, supervisor_id, role,
                                 active, robot_webhook, email, as_of, event_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::bool[], $8::text[], $9::text[],
                                $10::timestamptz[], $11::text[])
           ON CONFLICT (employee_id) DO UPDATE SET
               name = EXCLUDED.name, branch_id = EXCLUDED.branch_id, team_id = EXCLUDED.team_id,
               supervisor_id = EXCLUDED.supervisor_id, role = EXCLUDED.role,
               active = EXCLUDED.active, robot_webhook = EXCLUDED.robot_webhook,
               email = EXCLUDED.email, as_of = EXCLUDED.as_of, event_id = EXCLUDED.event_id
           WHERE EXCLUDED.as_of >= employee.as_of""",
        [r.employee_id for r in rows],
        [r.name for r in rows],
        [r.branch_id for r in rows],
        [r.team_id for r in rows],
        [r.supervisor_id for r in rows],
        [r.role for r in rows],
        [r.active for r in rows],
        [r.robot_webhook for r in rows],
        [r.email for r in rows],
        [r.occurred_at for r in rows],
        [r.event_id for r in rows],
    )


async def upsert_targets(conn: Connection, records: Sequence[TargetRecord]) -> None:
    rows = _latest_by(records, lambda r: (r.scope, r.scope_id, r.period, r.metric))
    if not rows:
        return
    await conn.execute(
        """INSERT INTO target (scope, scope_id, period, metric, value, as_of)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                                $6::timestamptz[])
           ON CONFLICT (scope, scope_id, period, metric) DO UPDATE
              SET value = EXCLUDED.value, as_of = EXCLUDED.as_of
           WHERE EXCLUDED.as_of >= target.as_of""",
        [r.scope for r in rows],
        [r.scope_id for r in rows],
        [r.period for r in rows],
        [r.metric for r in rows],
        [r.value for r in rows],
        [r.occurred_at for r in rows],
    )


SCORES_SQL = """
SELECT e.employee_id, e.branch_id, e.team_id, e.supervisor_id,
       COALESCE(s.gross_adds, 0) AS gross_adds,
       COALESCE(te.value, tt.value, tb.value, tr.value) AS target
  FROM employee e
  LEFT JOIN employee_period_stats s ON s.employee_id = e.employee_id AND s.period = $1
  LEFT JOIN target te ON te.scope = 'employee' AND te.scope_id = e.employee_id
                     AND te.period = $1 AND te.metric = 'valid_adds'
  LEFT JOIN target tt ON tt.scope = 'team' AND tt.scope_id = e.team_id
                     AND tt.period = $1 AND tt.metric = 'valid_adds'
  LEFT JOIN target tb ON tb.scope = 'branch' AND tb.scope_id = e.branch_id
                     AND tb.period = $1 AND tb.metric = 'valid_adds'
  LEFT JOIN target tr ON tr.scope = 'role' AND tr.scope_id = e.role
                     AND tr.period = $1 AND tr.metric = 'valid_adds'
 WHERE ($2::text IS NULL OR e.branch_id = $2)
   AND ($3::text IS NULL OR e.team_id = $3)
   AND ($4::text IS NULL OR e.employee_id > $4)
 ORDER BY e.employee_id
 LIMIT $5
"""


async def fetch_period_rows(
    pool: asyncpg.Pool,
    period: str,
    branch_id: str | None = None,
    team_id: str | None = None,
    after: str | None = None,
    limit: int = 100_000,
) -> list[asyncpg.Record]:
    return list(await pool.fetch(SCORES_SQL, period, branch_id, team_id, after, limit))


async def is_closed(pool: asyncpg.Pool, period: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM period_close WHERE period = $1", period))


async def record_close(pool: asyncpg.Pool, period: str, closed_by: str) -> None:
    await pool.execute(
        "INSERT INTO period_close (period, closed_by) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        period,
        closed_by,
    )

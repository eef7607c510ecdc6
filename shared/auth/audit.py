"""The audit log (`audit_log`, migration 0011): one row per state-changing call, appended in
the transaction of the change where there is one. The application role may only INSERT and
SELECT it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shared.auth.roles import Identity


@dataclass(frozen=True)
class Entry:
    action: str  # period.close, period.close_forced, alert.ack, silence.create, ...
    target: str
    before: Any = None
    after: Any = None
    request_id: str | None = None


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


async def record(conn: Any, who: Identity, entry: Entry, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO audit_log (at, actor, role, employee_id, action, target, before, after, "
        "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9)",
        at,
        who.name,
        who.role.value,
        who.employee_id,
        entry.action,
        entry.target,
        _json(entry.before),
        _json(entry.after),
        entry.request_id,
    )


async def read(
    conn: Any, after_id: int | None = None, action: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT audit_id, at, actor, role, employee_id, action, target, before::text AS before, "
        "after::text AS after, request_id FROM audit_log "
        "WHERE ($1::bigint IS NULL OR audit_id < $1) AND ($2::text IS NULL OR action = $2) "
        "ORDER BY audit_id DESC LIMIT $3",
        after_id,
        action,
        limit,
    )
    return [
        {
            **dict(r),
            "at": r["at"].isoformat(),
            "before": None if r["before"] is None else orjson.loads(r["before"]),
            "after": None if r["after"] is None else orjson.loads(r["after"]),
        }
        for r in rows
    ]

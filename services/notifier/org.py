"""The org chart as the notifier needs it: who is above whom, who holds a role, a person's
e-mail. Read from the `employee` table the bank's HR stream maintains (a team's group robot:
services/notifier/robots.py)."""

from __future__ import annotations

from shared.db import Connection

CHAIN_SQL = """
WITH RECURSIVE up(employee_id, depth, path) AS (
    SELECT $1::text, 0, ARRAY[$1::text]
    UNION ALL
    SELECT e.supervisor_id, up.depth + 1, up.path || e.supervisor_id
      FROM up JOIN employee e ON e.employee_id = up.employee_id
     WHERE e.supervisor_id IS NOT NULL AND NOT e.supervisor_id = ANY(up.path) AND up.depth < 12
)
SELECT employee_id FROM up WHERE depth > 0 ORDER BY depth
"""


async def supervisor_chain(conn: Connection, first: str) -> list[str]:
    """`first` (the employee's supervisor) and everyone above, nearest first; cycles in bad
    HR data stop the walk instead of looping."""
    rows = await conn.fetch(CHAIN_SQL, first)
    return [first, *(r["employee_id"] for r in rows)]


async def role_members(conn: Connection, roles: list[str], branch_id: str | None) -> list[str]:
    """Active employees of the branch holding one of `roles` (risk/compliance officers)."""
    if not roles or not branch_id:
        return []
    rows = await conn.fetch(
        """SELECT employee_id FROM employee
            WHERE active AND role = ANY($1::text[]) AND branch_id = $2
            ORDER BY employee_id""",
        roles,
        branch_id,
    )
    return [r["employee_id"] for r in rows]


async def email_of(conn: Connection, employee_id: str) -> str | None:
    email: str | None = await conn.fetchval(
        "SELECT email FROM employee WHERE employee_id = $1 AND email IS NOT NULL", employee_id
    )
    return email

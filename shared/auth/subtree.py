"""A supervisor's scope: the employees of their org subtree as the org stood in a period (the
supervisor_id each employee had in that period, as `employee_period_score` holds it), walked
down from the supervisor; the supervisor's own row included."""

from __future__ import annotations

from typing import Any

SUBTREE_CTE = """
WITH RECURSIVE subtree(employee_id) AS (
    SELECT $2::text
    UNION
    SELECT s.employee_id
      FROM employee_period_score s JOIN subtree t ON s.supervisor_id = t.employee_id
     WHERE s.period = $1
)"""


IN_SUBTREE_SQL = SUBTREE_CTE + "\nSELECT EXISTS (SELECT 1 FROM subtree WHERE employee_id = $3)"  # noqa: S608
SCORES_SQL = """
SELECT {fields} FROM employee_period_score
 WHERE period = $1 AND employee_id IN (SELECT employee_id FROM subtree)
   AND ($3::text IS NULL OR branch_id = $3) AND ($4::text IS NULL OR team_id = $4)
   AND ($5::text IS NULL OR employee_id > $5)
 ORDER BY employee_id LIMIT $6"""


async def in_subtree(conn: Any, period: str, supervisor_id: str, employee_id: str) -> bool:
    return bool(await conn.fetchval(IN_SUBTREE_SQL, period, supervisor_id, employee_id))


def scores_in_subtree_sql(fields: str) -> str:
    """Scores of the subtree, with the same filters and key-set pagination as /v1/scores:
    $1 period, $2 supervisor, $3 branch, $4 team, $5 after, $6 limit. `fields` is the code's
    own column list."""
    return SUBTREE_CTE + SCORES_SQL.replace("{fields}", fields)

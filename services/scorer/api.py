"""The scorer's read API (docs/contract.md): scores, an employee's contacts, closing a period.
Every route is guarded (SECURITY.md): a supervisor sees their org subtree only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.scorer import inputs, repository, tally
from services.scorer.domain.contact_flags import split
from services.scorer.review.overrides import verdicts_of
from services.scorer.scoring import COLUMNS, Scorer, ensure_scores
from shared.auth import Action, Identity
from shared.auth.http import Authenticator, identity_of, out_of_scope, request_id
from shared.auth.subtree import in_subtree, scores_in_subtree_sql
from shared.calendar import Period, parse_period
from shared.db import Connection
from shared.http import JSONResponse, error

MAX_PAGE = 100_000
Closer = Callable[[Period, Identity, bool, str | None], Awaitable[dict[str, Any]]]
"""Close a period as this caller (force, request id): it writes the audit row itself."""
SUBTREE_SCORES_SQL = scores_in_subtree_sql(repository.COUNTED_FIELDS)
# Team and branch totals of a period (a viewer's view): never a per-employee row.
# In an open period ($2) the counts are the counters' as they stand (`current`).
AGGREGATES_SQL = """
SELECT s.branch_id, s.team_id, count(*) AS employees, sum(s.target) AS target,
       sum(COALESCE(q.gross_adds, s.gross_adds)) AS gross_adds,
       sum(COALESCE(q.first_adds, s.first_adds)) AS first_adds,
       sum(COALESCE(q.new_to_bank, s.new_to_bank)) AS new_to_bank,
       sum(COALESCE(q.valid_adds, s.valid_adds)) AS valid_adds,
       count(*) FILTER (WHERE s.flagged) AS flagged
  FROM employee_period_score s
  LEFT JOIN quota_counter q ON $2 AND q.employee_id = s.employee_id AND q.period = s.period
 WHERE s.period = $1
 GROUP BY GROUPING SETS ((s.branch_id, s.team_id), (s.branch_id))
 ORDER BY s.branch_id, s.team_id NULLS FIRST"""
PUBLIC_FIELDS = tuple(
    c for c in COLUMNS if c not in ("period", "role", "computed_at", "quota_version")
)


async def current(
    conn: Connection, scorer: Scorer, period: Period, rows: list[Any], closed: bool
) -> list[dict[str, Any]]:
    """The rows with an open period's quota and quality figures computed from the counters as
    they stand: an event's effect shows as soon as its batch commits (the rows' own copies
    are written by the refresh once the row has settled). A closed period's rows are its
    figures."""
    out = [dict(r) for r in rows]
    if closed or not out:
        return out
    keys = [(r["employee_id"], period.key) for r in out]
    counted = {k: _counters(r.get("counters")) for k, r in zip(keys, out, strict=True)}
    targets = {k: r["target"] for k, r in zip(keys, out, strict=True)}
    fields = await tally.quota_fields_of(conn, scorer, targets, scorer.clock(), False, counted)
    for k, r in zip(keys, out, strict=True):
        r.update(fields[k])
    return out


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A score row as the API answers it; its JSON columns read as text go out as they are
    (`repository.PASSED_THROUGH`)."""
    out = {k: row[k] for k in PUBLIC_FIELDS}
    for k in repository.PASSED_THROUGH:
        if isinstance(out[k], str):
            out[k] = orjson.Fragment(out[k])
    return out


def _counters(value: Any) -> dict[str, Any]:
    """A row's counter row as `repository.COUNTED_FIELDS` reads it (JSON, decoded by the pool's
    codec or not); nothing counted yet: zeros."""
    if value is None:
        return {
            **dict.fromkeys(tally.ADDED, 0),
            "tiers": {},
            "median_reply_seconds": None,
            "version": 0,
        }
    return dict(orjson.loads(value) if isinstance(value, str) else value)


def _period(value: str | None) -> Period | Response:
    if not value:
        return error(
            400, "period is required, e.g. ?period=2026-10 (or 2026-10-15, 2026-W42, 2026-Q4)"
        )
    try:
        return parse_period(value)
    except ValueError as exc:
        return error(400, str(exc))


def _limit(raw: str | None) -> int | Response:
    try:
        limit = MAX_PAGE if raw is None else int(raw)
    except ValueError:
        return error(400, "limit must be an integer")
    return limit if 1 <= limit <= MAX_PAGE else error(400, f"limit must be 1..{MAX_PAGE}")


def score_routes(
    pool: Callable[[], asyncpg.Pool], scorer: Scorer, close: Closer, authn: Authenticator
) -> list[Route]:
    async def scores(request: Request) -> Response:
        caller = identity_of(request)
        q = request.query_params
        period = _period(q.get("period"))
        if isinstance(period, Response):
            return period
        limit = _limit(q.get("limit"))
        if isinstance(limit, Response):
            return limit
        filters = (q.get("branch_id"), q.get("team_id"), q.get("after"))
        async with pool().acquire() as conn:
            # a supervisor's subtree is walked over the whole period's rows, whatever the filter
            where = (None, None) if caller.scoped else filters[:2]
            closed = await ensure_scores(conn, scorer, period, *where)
            if caller.scoped:  # a supervisor: their subtree only, through filters and pages
                found = list(
                    await conn.fetch(
                        SUBTREE_SCORES_SQL, period.key, caller.employee_id, *filters, limit
                    )
                )
            else:
                found = await repository.read_scores(conn, period.key, *filters, limit)
            rows = await current(conn, scorer, period, found, closed)
        as_of = max((r["computed_at"] for r in rows), default=scorer.clock())
        body: dict[str, Any] = {
            "period": period.key,
            "as_of": as_of.isoformat(),
            "closed": closed,
            "employees": [_public(r) for r in rows],
        }
        if len(rows) == limit:
            body["next_after"] = rows[-1]["employee_id"]
        return JSONResponse(body)

    async def aggregates(request: Request) -> Response:
        period = _period(request.query_params.get("period"))
        if isinstance(period, Response):
            return period
        async with pool().acquire() as conn:
            closed = await ensure_scores(conn, scorer, period, None, None)
            rows = await conn.fetch(AGGREGATES_SQL, period.key, not closed)
        totals = [
            {k: v for k, v in r.items() if k != "team_id"} for r in rows if r["team_id"] is None
        ]
        teams = [dict(r) for r in rows if r["team_id"] is not None]
        return JSONResponse(
            {"period": period.key, "closed": closed, "branches": totals, "teams": teams}
        )

    async def contacts(request: Request) -> Response:
        period = _period(request.query_params.get("period"))
        if isinstance(period, Response):
            return period
        employee_id = request.path_params["employee_id"]
        caller = identity_of(request)
        now = scorer.clock()
        async with pool().acquire() as conn:
            if caller.scoped:
                await ensure_scores(conn, scorer, period, None, None)
                assert caller.employee_id is not None
                if not await in_subtree(conn, period.key, caller.employee_id, employee_id):
                    return out_of_scope(f"employee {employee_id} in {period.key}")
            facts = await inputs.relations(conn, period, [employee_id], scorer.calendar.tz)
            verdicts = sorted(scorer.verdicts(facts, now), key=lambda v: v.facts.first_added_at)
            baseline = await scorer.baseline(conn, period, now)
            anomaly = await scorer.anomaly(conn, period, employee_id, verdicts, baseline, now)
            reviewed = await verdicts_of(conn, employee_id)
        flagged = anomaly.score >= scorer.alert_threshold
        listed = []
        for v in verdicts:
            contact = v.facts.external_userid
            # accusations, and apart from them the facts (domain/contact_flags.py)
            accused, facts_of = split(v, anomaly.contact_flags.get(contact, []), flagged)
            removal = v.removed_in_window
            listed.append(
                {
                    "external_userid": contact,
                    "added_at": v.facts.first_added_at.isoformat(),
                    "status": v.status.value,
                    "flags": accused,
                    "facts": facts_of,
                    "removed_by": removal.removed_by if removal is not None else None,
                    "reasons": list(v.reasons),
                    "is_customer": v.facts.is_customer,
                    "new_to_bank": v.facts.new_to_bank,
                    "state": v.facts.state,
                    "add_way": v.facts.add_way,
                    "campaign": v.facts.campaign,
                    # a reviewer's override, marked as one: who and why
                    "verdict": reviewed.get(contact),
                }
            )
        return JSONResponse(listed)

    async def close_period(request: Request) -> Response:
        period = _period(request.path_params["period"])
        if isinstance(period, Response):
            return period
        force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
        caller = identity_of(request)
        result = await close(period, caller, force, request_id(request))  # audited in it
        return JSONResponse(result, status_code=200 if result["closed"] else 409)

    return [
        Route("/v1/scores", authn.guard(Action.READ_SCORES, scores), methods=["GET"]),
        Route("/v1/aggregates", authn.guard(Action.READ_AGGREGATES, aggregates), methods=["GET"]),
        Route(
            "/v1/employees/{employee_id}/contacts",
            authn.guard(Action.READ_CONTACTS, contacts),
            methods=["GET"],
        ),
        Route(
            "/v1/periods/{period}/close",
            authn.guard(Action.CLOSE_PERIOD, close_period),
            methods=["POST"],
        ),
    ]

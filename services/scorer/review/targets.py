"""Targets in the review console and API (docs/console.md): the stored targets, each employee's
effective target with where it comes from, and new targets sent the way the ingestor's
`/v1/events` sends a `target` record (same topic, key and schema, `submitted_by` the caller),
so both paths agree and the newest record wins when the scorer applies it."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.scorer import inputs
from shared.auth import Identity
from shared.calendar import Period, parse_period
from shared.db import Connection
from shared.schemas import Submitter, TargetRecord, parse_record

SCOPES = ("employee", "team", "branch", "role")
"""Most specific first: the order in which the scorer picks a target (services/scorer/inputs.py)."""
CSV_COLUMNS = ("period", "scope", "scope_id", "metric", "value")
MAX_RECORDS = 10_000
Send = Callable[[Sequence[TargetRecord]], Awaitable[None]]

STORED_SQL = """
SELECT scope, scope_id, period, metric, value, as_of FROM target
 WHERE ($1::text IS NULL OR period = $1) AND ($2::text IS NULL OR scope = $2)
 ORDER BY period, scope, scope_id, metric"""
EMPLOYEES_SQL = "SELECT DISTINCT employee_id FROM employee_org ORDER BY 1"


class TargetError(ValueError):
    """Records that cannot be taken: `errors` names each bad line or item."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid target record(s)")
        self.errors = errors


async def stored(conn: Connection, period: str | None, scope: str | None) -> list[dict[str, Any]]:
    return [
        {**dict(r), "as_of": r["as_of"].isoformat()}
        for r in await conn.fetch(STORED_SQL, period, scope)
    ]


async def effective(conn: Connection, period: Period, tz: Any) -> list[dict[str, Any]]:
    """Per employee, the target the scorer uses in `period` (its own resolution, read through
    `inputs.org_rows`) and the stored target it comes from."""
    ids = [r["employee_id"] for r in await conn.fetch(EMPLOYEES_SQL)]
    orgs = await inputs.org_rows(conn, period, ids, tz)
    values = {
        (t["scope"], t["scope_id"]): t["value"]
        for t in await stored(conn, period.key, None)
        if t["metric"] == "valid_adds"
    }
    out = []
    for org in orgs:
        ids_by_scope = {
            "employee": org.employee_id,
            "team": org.team_id,
            "branch": org.branch_id,
            "role": org.role,
        }
        source = next(
            (
                {"scope": s, "scope_id": ids_by_scope[s]}
                for s in SCOPES
                if (s, ids_by_scope[s]) in values
            ),
            None,
        )
        out.append(
            {
                "employee_id": org.employee_id,
                "branch_id": org.branch_id,
                "team_id": org.team_id,
                "role": org.role,
                "target": org.target,
                "from": source,
            }
        )
    return out


def records_from_items(
    items: Sequence[Any],
    who: Identity,
    now: datetime,
    where: str = "index",
    numbers: Sequence[int] | None = None,
) -> list[TargetRecord]:
    """Validate every item as a `/v1/events` target record; all or nothing (`TargetError` lists
    every bad one: `{where: numbers[i]}`, the item's index by default). Each is dated `now`
    unless it says otherwise and names the caller in `submitted_by`, as the ingestor does."""
    errors: list[dict[str, Any]] = []
    records: list[TargetRecord] = []
    if len(items) > MAX_RECORDS:
        raise TargetError([{where: None, "error": f"more than {MAX_RECORDS} records"}])
    for index, item in enumerate(items):
        at = numbers[index] if numbers is not None else index
        if not isinstance(item, dict):
            errors.append({where: at, "error": "each target must be a JSON object"})
            continue
        if item.get("type", "target") != "target" or "submitted_by" in item:
            errors.append({where: at, "error": "only type target; submitted_by is set here"})
            continue
        try:
            record = parse_record({**item, "type": "target"})
        except (ValidationError, ValueError) as exc:
            errors.append({where: at, "error": _describe(exc)})
            continue
        assert isinstance(record, TargetRecord)
        try:  # stricter than the schema's shape: a period that exists (not 2026-13)
            parse_period(record.period)
        except ValueError as exc:
            errors.append({where: at, "error": f"period: {exc}"})
            continue
        records.append(_submitted(record, who, now))
    if errors:
        raise TargetError(errors)
    if not records:
        raise TargetError([{where: None, "error": "no target records"}])
    return records


def parse_csv(text: str, who: Identity, now: datetime) -> list[TargetRecord]:
    """A CSV with the header `period,scope,scope_id,metric,value` (metric may be left empty:
    valid_adds). Lines are numbered as a text editor shows them (the header is line 1)."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise TargetError([{"line": 1, "error": "empty file: header " + ",".join(CSV_COLUMNS)}])
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header and c != "metric"]
    if missing:
        raise TargetError(
            [{"line": 1, "error": f"header lacks {', '.join(missing)}: {','.join(CSV_COLUMNS)}"}]
        )
    items: list[Any] = []
    lines: list[int] = []
    errors: list[dict[str, Any]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append({"line": number, "error": f"{len(row)} fields, {len(header)} expected"})
            continue
        item: dict[str, Any] = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
        if not item.get("metric"):
            item.pop("metric", None)
        value = item.get("value", "")
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            errors.append(
                {"line": number, "error": f"value: {value[:40]!r} is not a whole number < 10^18"}
            )
            continue
        item["value"] = int(value)
        items.append(item)
        lines.append(number)
    try:
        records = records_from_items(items, who, now, "line", lines)
    except TargetError as exc:
        errors += exc.errors
        records = []
    if errors:
        raise TargetError(sorted(errors, key=lambda e: int(e["line"] or 0)))
    return records


def _submitted(record: TargetRecord, who: Identity, now: datetime) -> TargetRecord:
    """As the ingestor's `submitted` and `with_acceptance_time` do for `/v1/events`."""
    update: dict[str, Any] = {
        "submitted_by": Submitter(name=who.name, role=who.role.value, employee_id=who.employee_id)
    }
    if "occurred_at" not in record.model_fields_set:
        update["occurred_at"] = now
    return record.model_copy(update=update)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:] or e['loc'])}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False, include_input=False)
        )
    return str(exc)

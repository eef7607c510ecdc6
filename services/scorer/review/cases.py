"""Review cases (docs/console.md): every anomaly flag is a prompt for a person, never a penalty.

A flagged score row of an employee and period opens a case holding a snapshot of its evidence
(the anomaly score, the reasons with their evidence, the figures as the row stood). A reviewer
confirms or dismisses it with a reason; a dismissal resolves the alert (a resolved
`AnomalyFlagged` breach, which stops the notifier's escalation), and the same period opens a new
case only once its score rose by the reopen margin. Everything here runs in the caller's
transaction: the refresh's (opening) or the decision's (deciding, audited in it)."""

from __future__ import annotations

import builtins
import csv
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from prometheus_client import Counter

from services.scorer import tally
from services.scorer.closing import ANOMALY_PERIOD_KINDS
from shared.auth import Identity, audit
from shared.auth.subtree import SUBTREE_CTE, in_subtree
from shared.calendar import Period, PeriodKind, parse_period
from shared.calendar.periods import period_of
from shared.db import Connection
from shared.schemas import AlertName, BreachEvent

log = logging.getLogger(__name__)
Publish = Callable[[Sequence[BreachEvent]], Awaitable[None]]
CASES = Counter("review_cases_total", "Review cases opened and decided", ["event"])
for _event in ("opened", "reopened", "linked", "confirm", "dismiss"):
    CASES.labels(_event)
CASE_FAILURES = Counter(
    "review_case_failures_total",
    "Refresh batches whose review cases could not be opened (logged; the scores went on)",
)
DECISIONS = ("confirm", "dismiss")
STATUSES = ("open", "confirmed", "dismissed")
FIGURES: tuple[str, ...] = ("target", "valid_adds", "gross_adds", "first_adds")
FIGURES += ("pending_adds", "removed_adds", "quality_score", "status")
MAX_REASON = 2000
CASE_LOCKS = tally.QUOTA_LOCKS + 1
"""The advisory lock space that serialises opening and joining an employee's cases: the
refresh stores each period in a transaction of its own, side by side, and a week stored
beside its month must see the month's case (or the month must see the week's flag)."""

LATEST_CASES_SQL = """
SELECT DISTINCT ON (c.employee_id, c.period) c.case_id, c.employee_id, c.period, c.status,
       c.anomaly_score
  FROM review_case c
  JOIN unnest($1::text[], $2::text[]) AS x(e, p) ON c.employee_id = x.e AND c.period = x.p
 ORDER BY c.employee_id, c.period, c.case_id DESC"""
OPEN_CASE_SQL = """
INSERT INTO review_case (employee_id, period, branch_id, team_id, supervisor_id, anomaly_score,
                         reasons, figures, opened_at, reopened_from)
VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $10)
ON CONFLICT (employee_id, period) WHERE status = 'open' DO NOTHING
RETURNING case_id"""
MONTH_CASE_SQL = """
SELECT case_id FROM review_case
 WHERE employee_id = $1 AND period = ANY($2::text[]) AND status = 'open'
 ORDER BY case_id DESC LIMIT 1"""
"""Only an open case takes another period's flag: a decided one cannot be decided again, and
the flag would be left with no case to resolve it."""
LINK_SQL = """
INSERT INTO review_case_link (employee_id, period, case_id, anomaly_score, reasons, linked_at)
VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)
ON CONFLICT (employee_id, period) DO UPDATE
   SET anomaly_score = EXCLUDED.anomaly_score, reasons = EXCLUDED.reasons
RETURNING (xmax = 0) AS inserted"""
FLAGGED_ROWS_SQL = """
SELECT employee_id, period, branch_id, team_id, supervisor_id, anomaly_score,
       reasons::text AS reasons, target, valid_adds, gross_adds, first_adds, pending_adds,
       removed_adds, quality_score, status
  FROM employee_period_score
 WHERE employee_id = $1 AND period = ANY($2::text[]) AND flagged
 ORDER BY period"""
MONTH_CASES_SQL = """
SELECT DISTINCT ON (x.i) x.i, c.case_id
  FROM unnest($1::int[], $2::text[], $3::text[]) AS x(i, e, m)
  JOIN review_case c ON c.employee_id = x.e AND c.period = x.m AND c.status = 'open'
 ORDER BY x.i, c.case_id DESC"""
"""MONTH_CASE_SQL for many flags at once: (i, the i-th flag's open month case), one row per
flag (i) that has one; each flag's months as rows (i, employee, month)."""
LINK_ALL_SQL = """
INSERT INTO review_case_link AS l (employee_id, period, case_id, anomaly_score, reasons,
       linked_at)
SELECT x.e, x.p, x.c, x.s, x.r::jsonb, $6
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::text[]) AS x(e, p, c, s, r)
 ORDER BY x.e, x.p
ON CONFLICT (employee_id, period) DO UPDATE
   SET anomaly_score = EXCLUDED.anomaly_score, reasons = EXCLUDED.reasons
 WHERE (l.anomaly_score, l.reasons) IS DISTINCT FROM (EXCLUDED.anomaly_score, EXCLUDED.reasons)
RETURNING (xmax = 0) AS inserted"""
"""LINK_SQL for many flags at once, in key order; a link that already says the same is left
as it is."""
DIRTY_SQL = """
SELECT EXISTS (SELECT 1 FROM score_dirty WHERE employee_id = $1 AND period = ANY($2::text[]))"""
UNCASED_FLAGS_SQL = """
SELECT s.employee_id, s.period, s.branch_id, s.team_id, s.supervisor_id, s.anomaly_score,
       s.reasons::text AS reasons
  FROM employee_period_score s
 WHERE s.employee_id = $1 AND s.period = ANY($2::text[]) AND s.flagged
   AND NOT EXISTS (SELECT 1 FROM review_case c
                    WHERE c.employee_id = s.employee_id AND c.period = s.period)
   AND NOT EXISTS (SELECT 1 FROM review_case_link l
                    WHERE l.employee_id = s.employee_id AND l.period = s.period)"""
CASE_FIELDS = """c.case_id, c.employee_id, c.period, c.branch_id, c.team_id, c.supervisor_id,
       c.anomaly_score, c.reasons::text AS reasons, c.figures::text AS figures, c.status,
       c.opened_at, c.decided_at, c.decided_by, c.decision_reason, c.reopened_from"""
LIST_SQL = (
    "SELECT "  # noqa: S608 - constants only
    + CASE_FIELDS
    + """
  FROM review_case c
 WHERE ($1::text IS NULL OR c.branch_id = $1) AND ($2::text IS NULL OR c.team_id = $2)
   AND ($3::text IS NULL OR c.reasons @> jsonb_build_array(jsonb_build_object('code', $3::text)))
   AND ($4::text IS NULL OR c.status = $4) AND ($5::text IS NULL OR c.period = $5)
   AND ($6::text IS NULL OR c.employee_id = $6) AND ($7::bigint IS NULL OR c.case_id < $7)
 ORDER BY c.case_id DESC LIMIT $8"""
)
ONE_SQL = "SELECT " + CASE_FIELDS + " FROM review_case c WHERE c.case_id = $1"  # noqa: S608
LOCK_SQL = ONE_SQL + " FOR UPDATE"
DECISIONS_SQL = """
SELECT d.decision_id, d.case_id, d.decision, d.reason, d.actor, d.role, d.employee_id,
       d.decided_at, c.period
  FROM review_decision d JOIN review_case c USING (case_id)
 WHERE c.employee_id = $1 AND ($2::text[] IS NULL OR c.period = ANY($2::text[]))
 ORDER BY d.decision_id DESC LIMIT 50"""
LINKS_SQL = """
SELECT period, anomaly_score, reasons::text AS reasons, linked_at FROM review_case_link
 WHERE case_id = $1 ORDER BY period"""
SUBTREE_MEMBERS_SQL = SUBTREE_CTE + "\nSELECT employee_id FROM subtree"
EXPORT_SQL = (
    "SELECT "  # noqa: S608 - constants only
    + CASE_FIELDS
    + """
  FROM review_case c WHERE c.status = 'confirmed' AND ($1::text IS NULL OR c.period = $1)
 ORDER BY c.period, c.employee_id, c.case_id"""
)


@dataclass(frozen=True)
class ReviewRules:
    case_kinds: frozenset[PeriodKind] = frozenset({PeriodKind.MONTH})
    link_to_month: bool = True
    reopen_margin: float = 10.0
    supervisors_decide: bool = False


class CaseError(Exception):
    """A decision that cannot be taken: `status` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def case_view(row: Any) -> dict[str, Any]:
    """A case as the API answers it."""
    return {
        **{k: row[k] for k in ("case_id", "employee_id", "period", "branch_id", "team_id")},
        "supervisor_id": row["supervisor_id"],
        "anomaly_score": row["anomaly_score"],
        "signals": [r.get("code") for r in orjson.loads(row["reasons"])],
        "reasons": orjson.loads(row["reasons"]),
        "figures": orjson.loads(row["figures"]),
        "status": row["status"],
        "opened_at": row["opened_at"].isoformat(),
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "decided_by": row["decided_by"],
        "decision_reason": row["decision_reason"],
        "reopened_from": row["reopened_from"],
    }


def months_of(period: Period) -> list[str]:
    """The month keys a period overlaps (a week may straddle two, a quarter spans three)."""
    keys: list[str] = []
    day: date = period.start
    while day < period.end:
        month = period_of(PeriodKind.MONTH, day)
        keys.append(month.key)
        day = month.end
    return keys


def breach_for(case: Any, status: str, at: datetime, period: str | None = None) -> BreachEvent:
    """The `AnomalyFlagged` breach of a case: `resolved` when it is dismissed, `firing` when a
    reopened case asks again. Its id names the case, so the notifier takes each as news (the
    first flag of a period keeps closing.py's id); `period` a linked period's key."""
    key = period or case["period"]
    verb = "dismissed by review" if status == "resolved" else "flagged again (score rose)"
    return BreachEvent(
        event_id=BreachEvent.make_id(
            AlertName.ANOMALY_FLAGGED, case["employee_id"], f"{key}#case{case['case_id']}", status
        ),
        occurred_at=at,
        alertname=AlertName.ANOMALY_FLAGGED,
        status=status,
        employee_id=case["employee_id"],
        period=key,
        supervisor_id=case["supervisor_id"],
        team_id=case["team_id"],
        branch_id=case["branch_id"],
        summary=f"{case['employee_id']}'s anomaly flag for {key}: {verb} (case {case['case_id']})",
        values={
            "anomaly_score": case["anomaly_score"],
            "case_id": case["case_id"],
            "reasons": [] if status == "resolved" else case["reasons"],
        },
    )


class Cases:
    def __init__(self, rules: ReviewRules, publish: Publish, clock: Callable[[], datetime]):
        self.rules = rules
        self._publish = publish
        self.clock = clock

    # --- opening, in the refresh's transaction (closing.py's flag_anomalies calls it)

    async def on_scores(self, conn: Connection, scores: Sequence[dict[str, Any]]) -> None:
        """Open or join the cases of the flagged rows, in a savepoint of the refresh's
        transaction: a failure here is logged and counted, and never holds the scores back
        (the rows' cases open at their next recomputation)."""
        flagged = [s for s in scores if s.get("flagged")]
        if not flagged:
            return
        try:
            async with conn.transaction():
                await self._on_flagged(conn, flagged)
        except Exception:
            CASE_FAILURES.inc()
            log.exception("review cases not opened for this refresh batch")

    async def _on_flagged(self, conn: Connection, flagged: Sequence[dict[str, Any]]) -> None:
        # until this transaction commits, no other opens or joins these employees' cases:
        # whoever comes second reads what the first committed
        await tally.hold(conn, [s["employee_id"] for s in flagged], CASE_LOCKS)
        now = self.clock()
        kinds = {id(s): parse_period(s["period"]).kind for s in flagged}
        own = [s for s in flagged if self._own_case(kinds[id(s)])]
        # a day's flag is neither a case nor a link unless days are case kinds
        linked = [s for s in flagged if s not in own and kinds[id(s)] is not PeriodKind.DAY]
        if own:
            await self._open(conn, own, now)
        cased = await self._month_cases(conn, linked)
        await self._link_all(conn, [(s, cased[i]) for i, s in enumerate(linked) if i in cased], now)
        for s in (s for i, s in enumerate(linked) if i not in cased):
            months = months_of(parse_period(s["period"]))
            case_id = await conn.fetchval(MONTH_CASE_SQL, s["employee_id"], months)
            if case_id is None:
                # a flagged month not refreshed in this batch: its case opens now, from its row
                rows = await conn.fetch(FLAGGED_ROWS_SQL, s["employee_id"], months)
                await self._open(conn, [_score(r) for r in rows], now)
                case_id = await conn.fetchval(MONTH_CASE_SQL, s["employee_id"], months)
            if case_id is not None:
                await self._link(conn, s, case_id, now)
            elif not await conn.fetchval(DIRTY_SQL, s["employee_id"], months):
                # no month of it is flagged, and none is waiting for its recomputation: the
                # flag is a case of its own (a month flagged later picks it up instead)
                await self._open(conn, [s], now)

    async def _month_cases(
        self, conn: Connection, flags: Sequence[dict[str, Any]]
    ) -> dict[int, int]:
        """The open month case of each flag that has one, by the flag's index, in one read."""
        spots = [
            (i, s["employee_id"], m)
            for i, s in enumerate(flags)
            for m in months_of(parse_period(s["period"]))
        ]
        if not spots:
            return {}
        rows = await conn.fetch(
            MONTH_CASES_SQL, [x[0] for x in spots], [x[1] for x in spots], [x[2] for x in spots]
        )
        return {r["i"]: r["case_id"] for r in rows}

    async def _link_all(
        self, conn: Connection, links: Sequence[tuple[dict[str, Any], int]], now: datetime
    ) -> None:
        """`_link` for many flags, in one statement (a refresh round links thousands when a
        pile-up flags many employees)."""
        if not links:
            return
        rows = await conn.fetch(
            LINK_ALL_SQL,
            [s["employee_id"] for s, _ in links],
            [s["period"] for s, _ in links],
            [case_id for _, case_id in links],
            [s["anomaly_score"] for s, _ in links],
            [_json(s["reasons"]) for s, _ in links],
            now,
        )
        inserted = sum(1 for r in rows if r["inserted"])
        if inserted:
            CASES.labels("linked").inc(inserted)

    async def _link(self, conn: Connection, s: dict[str, Any], case_id: int, now: datetime) -> None:
        inserted = await conn.fetchval(
            LINK_SQL,
            s["employee_id"],
            s["period"],
            case_id,
            s["anomaly_score"],
            _json(s["reasons"]),
            now,
        )
        if inserted:
            CASES.labels("linked").inc()

    async def _pull_in(self, conn: Connection, month: dict[str, Any], case_id: int) -> None:
        """A month's new case takes the flags of the weeks and the quarter overlapping it that
        have no case of their own yet (flagged before the month was)."""
        period = parse_period(month["period"])
        keys = sorted(
            {period_of(PeriodKind.WEEK, d).key for d in period.days()}
            | {period_of(PeriodKind.QUARTER, period.start).key}
        )
        for row in await conn.fetch(UNCASED_FLAGS_SQL, month["employee_id"], keys):
            if not self._own_case(parse_period(row["period"]).kind):
                await self._link(conn, _score(row), case_id, self.clock())

    def _own_case(self, kind: PeriodKind) -> bool:
        return kind in self.rules.case_kinds or not self.rules.link_to_month

    async def _open(
        self, conn: Connection, scores: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        if not scores:
            return
        latest = {
            (r["employee_id"], r["period"]): r
            for r in await conn.fetch(
                LATEST_CASES_SQL,
                [s["employee_id"] for s in scores],
                [s["period"] for s in scores],
            )
        }
        again: list[BreachEvent] = []
        for s in scores:
            last = latest.get((s["employee_id"], s["period"]))
            if last is not None and (
                last["status"] != "dismissed"
                or s["anomaly_score"] < last["anomaly_score"] + self.rules.reopen_margin
            ):
                continue  # open, confirmed, or dismissed and not risen enough
            reopened_from = last["case_id"] if last is not None else None
            case_id = await conn.fetchval(
                OPEN_CASE_SQL,
                s["employee_id"],
                s["period"],
                s.get("branch_id"),
                s.get("team_id"),
                s.get("supervisor_id"),
                s["anomaly_score"],
                _json(s["reasons"]),
                _json({k: s.get(k) for k in FIGURES}),
                now,
                reopened_from,
            )
            if case_id is None:
                continue
            CASES.labels("reopened" if reopened_from else "opened").inc()
            kind = parse_period(s["period"]).kind
            if kind is PeriodKind.MONTH and self.rules.link_to_month:
                await self._pull_in(conn, s, case_id)
            if reopened_from is not None and _alerted(s["period"]):
                case = {**s, "case_id": case_id}
                again.append(breach_for(case, "firing", now))
        if again:
            await self._publish(again)

    # --- reading

    async def list(
        self,
        conn: Connection,
        who: Identity,
        filters: dict[str, str | None],
        before: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Newest first, `limit` at most; a supervisor's are the cases of their subtree as it
        stood in each case's period, pages read on until `limit` of theirs are found."""
        members: dict[str, set[str]] = {}
        out: list[Any] = []
        cursor = before
        while len(out) < limit:
            rows = await conn.fetch(
                LIST_SQL,
                filters.get("branch_id"),
                filters.get("team_id"),
                filters.get("signal"),
                filters.get("status"),
                filters.get("period"),
                filters.get("employee_id"),
                cursor,
                limit,
            )
            if not who.scoped:
                return [case_view(r) for r in rows]
            for period in {r["period"] for r in rows} - members.keys():
                found = await conn.fetch(SUBTREE_MEMBERS_SQL, period, who.employee_id)
                members[period] = {m["employee_id"] for m in found}
            out += [
                r
                for r in rows
                if r["employee_id"] in members[r["period"]] and r["employee_id"] != who.employee_id
            ]
            if len(rows) < limit:
                break
            cursor = rows[-1]["case_id"]
        return [case_view(r) for r in out[:limit]]

    async def get(self, conn: Connection, who: Identity, case_id: int) -> dict[str, Any]:
        row = await conn.fetchrow(ONE_SQL, case_id)
        if row is None:
            raise CaseError(404, f"no case {case_id}")
        await self._in_scope(conn, who, row)
        case = case_view(row)
        case["linked"] = [
            {
                "period": r["period"],
                "anomaly_score": r["anomaly_score"],
                "reasons": orjson.loads(r["reasons"]),
                "linked_at": r["linked_at"].isoformat(),
            }
            for r in await conn.fetch(LINKS_SQL, case_id)
        ]
        case["decisions"] = [
            {
                **{k: d[k] for k in ("decision_id", "case_id", "period", "decision", "reason")},
                **{k: d[k] for k in ("actor", "role", "employee_id")},
                "decided_at": d["decided_at"].isoformat(),
            }
            for d in await conn.fetch(
                DECISIONS_SQL, row["employee_id"], await self._periods_in_scope(conn, who, row)
            )
        ]
        return case

    async def _periods_in_scope(
        self, conn: Connection, who: Identity, row: Any
    ) -> builtins.list[str] | None:
        """The periods of the employee's cases a scoped caller may see (None: all): a
        supervisor who took the employee over does not read the earlier supervisor's cases."""
        if not who.scoped:
            return None
        assert who.employee_id is not None
        periods = [
            r["period"]
            for r in await conn.fetch(
                "SELECT DISTINCT period FROM review_case WHERE employee_id = $1",
                row["employee_id"],
            )
        ]
        return [
            p for p in periods if await in_subtree(conn, p, who.employee_id, row["employee_id"])
        ]

    async def _in_scope(self, conn: Connection, who: Identity, row: Any) -> None:
        if not who.scoped:
            return
        assert who.employee_id is not None
        if row["employee_id"] == who.employee_id:  # nobody reads the review of themselves
            raise CaseError(403, "a supervisor reads no case about themselves")
        if not await in_subtree(conn, row["period"], who.employee_id, row["employee_id"]):
            raise CaseError(403, f"case {row['case_id']} is outside the caller's scope")

    async def export_csv(self, conn: Connection, period: str | None) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            [
                "case_id",
                "employee_id",
                "period",
                "branch_id",
                "team_id",
                "supervisor_id",
                "anomaly_score",
                "signals",
                "opened_at",
                "decided_at",
                "decided_by",
                "decision_reason",
            ]
        )
        for r in await conn.fetch(EXPORT_SQL, period):
            signals = ";".join(str(x.get("code")) for x in orjson.loads(r["reasons"]))
            row = [
                r["case_id"],
                r["employee_id"],
                r["period"],
                r["branch_id"],
                r["team_id"],
                r["supervisor_id"],
                r["anomaly_score"],
                signals,
                r["opened_at"].isoformat(),
                r["decided_at"].isoformat() if r["decided_at"] else "",
                r["decided_by"],
                r["decision_reason"],
            ]
            writer.writerow([_cell(v) for v in row])
        return out.getvalue()

    # --- deciding

    async def decide(
        self,
        conn: Connection,
        who: Identity,
        case_id: int,
        decision: str,
        reason: str,
        request_id: str | None,
    ) -> dict[str, Any]:
        """Confirm or dismiss an open case, in the caller's transaction: the decision row, the
        audit row and, for a dismissal, the resolved breach (published before the commit; a
        failure undoes the decision)."""
        if decision not in DECISIONS:
            raise CaseError(400, "decision must be confirm or dismiss")
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise CaseError(400, f"a decision needs a reason (1-{MAX_REASON} characters)")
        row = await conn.fetchrow(LOCK_SQL, case_id)
        if row is None:
            raise CaseError(404, f"no case {case_id}")
        await self._in_scope(conn, who, row)
        if who.scoped and not self.rules.supervisors_decide:
            raise CaseError(
                403, "supervisors may read cases but not decide them (REVIEW_SUPERVISORS_DECIDE)"
            )
        if who.employee_id is not None and who.employee_id == row["employee_id"]:
            raise CaseError(403, "nobody decides a case about themselves")
        if row["status"] != "open":
            raise CaseError(409, f"case {case_id} is {row['status']} already")
        now = self.clock()
        status = "confirmed" if decision == "confirm" else "dismissed"
        await conn.execute(
            "UPDATE review_case SET status = $2, decided_at = $3, decided_by = $4, "
            "decision_reason = $5 WHERE case_id = $1",
            case_id,
            status,
            now,
            who.label,
            reason,
        )
        await conn.execute(
            "INSERT INTO review_decision (case_id, decision, reason, actor, role, employee_id, "
            "decided_at, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            case_id,
            decision,
            reason,
            who.name,
            who.role.value,
            who.employee_id,
            now,
            request_id,
        )
        after = {
            "status": status,
            "reason": reason,
            "employee_id": row["employee_id"],
            "period": row["period"],
            "anomaly_score": row["anomaly_score"],
        }
        entry = audit.Entry(
            f"case.{decision}", f"case:{case_id}", {"status": "open"}, after, request_id
        )
        await audit.record(conn, who, entry, now)
        CASES.labels(decision).inc()
        if decision == "dismiss":
            case = dict(row)
            case["reasons"] = orjson.loads(row["reasons"])
            linked = [r["period"] for r in await conn.fetch(LINKS_SQL, case_id)]
            await self._publish(
                [
                    *([breach_for(case, "resolved", now)] if _alerted(row["period"]) else []),
                    *(breach_for(case, "resolved", now, p) for p in linked if _alerted(p)),
                ]
            )
        return {"case_id": case_id, "status": status, "decided_at": now.isoformat()}


def _score(row: Any) -> dict[str, Any]:
    """A stored score row as the refresh hands them over."""
    return {**dict(row), "reasons": orjson.loads(row["reasons"]), "flagged": True}


def _alerted(period: str) -> bool:
    """Whether closing.py sends `AnomalyFlagged` for this kind of period (so that a resolved
    one has an alert to close, and a reopened case one to raise)."""
    return parse_period(period).kind in ANOMALY_PERIOD_KINDS


def _cell(value: Any) -> str:
    """A CSV cell HR's spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

"""`python -m bench.state`: the scale of a national bank's state in PostgreSQL.

Loads E employees (in 200 branches) and C relations (employee, contact) spread over twelve
months, each with its contact, 5 % removed, 2 % of contacts shared by a second employee of
another team, generated inside PostgreSQL in bulk (`INSERT ... SELECT generate_series`, with the
secondary indexes built after the load, as a bulk load would). Then, against one scorer
process:
- closing a month (`POST /v1/periods/{month}/close`: every employee's month recomputed and
  stored with the outcome), against a reference in the same run: one plain SQL read of the
  month's relations, the least the close must read;
- `GET /v1/scores?period=…&branch_id=…` p50/p99 for one branch (500 employees at full scale),
  against the same rows read by plain SQL;
- the scorer's resident memory, now and at its peak (VmHWM)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import orjson

from bench.common import (
    RESULTS,
    Run,
    default_stack,
    fresh_run,
    percentile,
    quick,
    service,
    top_frames,
    write_result,
)
from services.scorer.domain.features import CONVERSATION_MESSAGES, FIELDS, INDEX
from services.scorer.domain.rules import ScoringRules
from services.scorer.settings import ScorerSettings
from services.scorer.tally import rules_fingerprint
from services.scorer.verify import scorer_of
from shared.auth import Role
from shared.cli import issue
from tests.infra import provide_infra

MONTH = "2026-10"
BRANCHES = 200

EMPLOYEES_SQL = """
INSERT INTO employee (employee_id, name, branch_id, team_id, supervisor_id, role, active, as_of,
                      event_id)
SELECT 'm' || lpad(i::text, 6, '0'), 'Name ' || i, 'b' || lpad((i % $2)::text, 3, '0'),
       't' || lpad((i % ($2 * 10))::text, 4, '0'), 'lead' || (i % ($2 * 10)),
       'customer_manager', true, '2025-01-01', 'bench-' || i
  FROM generate_series(0, $1 - 1) AS i"""
ORG_SQL = """
INSERT INTO employee_org (employee_id, effective_at, branch_id, team_id, supervisor_id, role,
                          active)
SELECT employee_id, '2025-01-01', branch_id, team_id, supervisor_id, role, active FROM employee"""
# Relation n belongs to employee n % E and was added in month (n / E) % 12 from 2025-12, on a
# working hour; every 50th contact is also added an hour later by an employee of another team.
ADDED_AT = """
LATERAL (SELECT timestamptz '2025-12-01 01:00+00' + ((n / $1) % 12) * interval '1 month'
                + ((n * 7919) % 27) * interval '1 day' + ((n * 31) % 9) * interval '1 hour' AS t) x
"""
RELATIONS_SQL = f"""
INSERT INTO employee_contact (employee_id, external_userid, first_added_at, last_added_at,
                              add_count, add_way, state)
SELECT 'm' || lpad((n % $1)::text, 6, '0'), 'wm' || n, t, t, 1, 1, 's' || (n % 20)
  FROM generate_series(0, $2::bigint - 1) AS n, {ADDED_AT}"""
SHARED_SQL = f"""
INSERT INTO employee_contact (employee_id, external_userid, first_added_at, last_added_at,
                              add_count)
SELECT 'm' || lpad(((n + 7) % $1)::text, 6, '0'), 'wm' || n, t + interval '1 hour',
       t + interval '1 hour', 1
  FROM generate_series(0, $2::bigint - 1, 50) AS n, {ADDED_AT}"""
CONTACTS_SQL = """
INSERT INTO contact (external_userid, contact_type, first_added_at, first_employee_id,
                     is_customer)
SELECT DISTINCT ON (external_userid) external_userid, 1, first_added_at, employee_id,
       (hashtext(external_userid) % 3 = 0)
  FROM employee_contact
 ORDER BY external_userid, first_added_at, employee_id COLLATE "C"
"""
SHARED_CONTACTS_SQL = """
UPDATE contact c SET shared = true
  FROM (SELECT external_userid FROM employee_contact GROUP BY 1 HAVING count(*) >= 2) s
 WHERE s.external_userid = c.external_userid"""
REMOVALS_SQL = """
INSERT INTO contact_removal (employee_id, external_userid, removed_at, removed_by)
SELECT employee_id, external_userid, first_added_at + interval '2 days', 'customer'
  FROM employee_contact WHERE hashtext(external_userid) % 20 = 0"""
# What a running scorer's standings keep of each relation's looked-up facts, of what the
# peers' baseline counts and of what the anomaly features count (tally.settle,
# features.signs_of, under the default rules: every removal here is a customer's, nobody has
# written, no contact is a peer or reviewed), and the buckets those add up to: the close reads
# them there; and its first add (the retention purge and the baseline find them by it). Nothing
# else of a standing is loaded (see `_standings_as_judged`).
RETENTION = ScoringRules().retention_window
_REMOVED_IN_WINDOW = f"""EXISTS (SELECT 1 FROM contact_removal x
                WHERE x.employee_id = r.employee_id AND x.external_userid = r.external_userid
                  AND x.removed_at >= r.first_added_at
                  AND x.removed_at < r.first_added_at
                                     + interval '{RETENTION.total_seconds():.0f} seconds')"""
_NOT_CUSTOMER = "c.is_customer IS NOT TRUE"
_SIGNS = {
    "adds": "true",
    "hollow": f"{_NOT_CUSTOMER} AND r.customer_msgs < {CONVERSATION_MESSAGES}",
    "silent": "r.customer_msgs = 0",
    "customers": "c.is_customer IS TRUE",
    "quick": _REMOVED_IN_WINDOW,
    "re_added": "r.add_count > 1",
    "noncustomers": _NOT_CUSTOMER,
}
_BITS = " + ".join(
    f"(CASE WHEN {condition} THEN {1 << INDEX[name]} ELSE 0 END)"
    for name, condition in _SIGNS.items()
)
STANDINGS_SQL = f"""
INSERT INTO relation_standing (employee_id, external_userid, first_added_at, derived,
                               removed_since_add, customer, conversation, channel, feature_bits)
SELECT r.employee_id, r.external_userid, r.first_added_at, true,
       EXISTS (SELECT 1 FROM contact_removal x
                WHERE x.employee_id = r.employee_id AND x.external_userid = r.external_userid
                  AND x.removed_at >= r.first_added_at),
       c.is_customer IS TRUE, r.customer_msgs >= {CONVERSATION_MESSAGES},
       COALESCE(r.state, 'add_way:' || COALESCE(r.add_way::text, 'None')), {_BITS}
  FROM employee_contact r LEFT JOIN contact c USING (external_userid)"""
BUCKETS_SQL = f"""
INSERT INTO add_bucket (employee_id, span_start, channel, {", ".join(FIELDS)})
SELECT employee_id,
       date_bin('10 minutes', first_added_at AT TIME ZONE 'Asia/Shanghai',
                timestamp '2000-01-01') AT TIME ZONE 'Asia/Shanghai',
       channel, {", ".join(f"sum((feature_bits >> {i}) & 1)" for i in range(len(FIELDS)))}
  FROM relation_standing GROUP BY 1, 2, 3 ORDER BY 2"""
# in time order, as a running scorer inserts them (a bucket is new when its ten minutes' first
# add comes): a month's buckets lie together, each employee's spread over the month's pages
GROSS_SQL = """
INSERT INTO quota_counter (employee_id, period, gross_adds)
SELECT employee_id, to_char(first_added_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), count(*)
  FROM employee_contact GROUP BY 1, 2"""
LOAD_SQL: list[tuple[str, tuple[str, ...]]] = [
    (EMPLOYEES_SQL, ("employees", "branches")),
    (ORG_SQL, ()),
    (RELATIONS_SQL, ("employees", "relations")),
    (SHARED_SQL, ("employees", "relations")),
    (CONTACTS_SQL, ()),
    (SHARED_CONTACTS_SQL, ()),
    (REMOVALS_SQL, ()),
    (STANDINGS_SQL, ()),
    (BUCKETS_SQL, ()),
    (GROSS_SQL, ()),
]
REFERENCE_SQL = """
SELECT count(*) FROM (
  SELECT r.*, c.contact_type, c.is_customer,
         EXISTS (SELECT 1 FROM contact_removal x WHERE x.employee_id = r.employee_id
                   AND x.external_userid = r.external_userid) AS removed
    FROM employee_contact r LEFT JOIN contact c USING (external_userid)
   WHERE r.first_added_at >= $1 AND r.first_added_at < $2) q
"""


async def bulk_load(run: Run, employees: int, relations: int) -> dict[str, Any]:
    conn = await asyncpg.connect(run.owner_dsn)
    started = time.monotonic()
    try:
        indexes = await conn.fetch(
            """SELECT indexname, indexdef FROM pg_indexes
                WHERE tablename IN ('employee_contact', 'contact_removal', 'contact')
                  AND indexname NOT LIKE '%pkey'"""
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        await conn.execute("SET maintenance_work_mem = '256MB'")
        values = {"employees": employees, "relations": relations, "branches": BRANCHES}
        for sql, names in LOAD_SQL:
            await conn.execute(sql, *(values[n] for n in names))
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("ANALYZE")
        await _standings_as_judged(conn, run)
        # The scorer of this history was running: its sweep of the windows that end as time
        # passes is up to date. Without it the scorer's first sweep marks every relation whose
        # window ended in the last 40 days (about 2.8 million rows, 35 s of PostgreSQL's time)
        # while the close runs, which a running system's close never meets.
        await conn.execute(
            "INSERT INTO refresh_sweep (swept_at) VALUES (now()) "
            "ON CONFLICT (only_row) DO UPDATE SET swept_at = EXCLUDED.swept_at"
        )
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        counted = await conn.fetchval("SELECT count(*) FROM employee_contact")
    finally:
        await conn.close()
    return {"seconds": round(time.monotonic() - started, 1), "relations": counted, "size": size}


async def _standings_as_judged(conn: asyncpg.Connection, run: Run) -> None:
    """Mark the loaded relations as judged under the scorer's current rules. Without it the
    scorer would judge all of them again before it is ready (a start-up after a change of
    rules: hours for 10,000,000 relations, `tally.judge_all_if_rules_changed`). The bulk load
    writes of the standings only the looked-up facts they keep (STANDINGS_SQL): the month's
    quota columns count its gross adds only, and the close's cost is its anomaly
    recomputation, from the buckets, and the relations of those whose evidence names them."""
    settings = ScorerSettings(database_url=run.infra.app_dsn(run.database))
    await conn.execute(
        """INSERT INTO quota_rules (fingerprint, rebuilt_at) VALUES ($1, now())
           ON CONFLICT (id) DO UPDATE SET fingerprint = $1, rebuilt_at = now()""",
        rules_fingerprint(scorer_of(settings)),
    )


async def reopen(run: Run) -> dict[str, Any]:
    """The month of a kept database open again, as before its close: no close, outcomes or
    revisions of it."""
    conn = await asyncpg.connect(run.owner_dsn)
    try:
        async with conn.transaction():
            for table in ("period_revision", "period_outcome", "period_close"):
                await conn.execute(f"DELETE FROM {table} WHERE period = $1", MONTH)
        relations = await conn.fetchval("SELECT count(*) FROM employee_contact")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    return {"seconds": 0.0, "relations": relations, "size": size, "kept": run.database}


async def reference_read(run: Run) -> float:
    conn = await asyncpg.connect(run.owner_dsn)
    try:
        started = time.monotonic()
        await conn.fetchval(
            REFERENCE_SQL, _at("2026-09-30T16:00:00+00:00"), _at("2026-10-31T16:00:00+00:00")
        )
        return time.monotonic() - started
    finally:
        await conn.close()


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def read_branch(
    run: Run, url: str, branch: str, reads: int, headers: dict[str, str]
) -> dict[str, Any]:
    api: list[float] = []
    sql: list[float] = []
    conn = await asyncpg.connect(run.owner_dsn)
    try:
        async with httpx.AsyncClient(timeout=60, headers=headers) as client:
            params: dict[str, str | int] = {"period": MONTH, "branch_id": branch, "limit": 1000}
            first = await client.get(f"{url}/v1/scores", params=params)
            first.raise_for_status()
            rows = len(first.json()["employees"])
            for _ in range(reads):
                started = time.perf_counter()
                (await client.get(f"{url}/v1/scores", params=params)).raise_for_status()
                api.append(time.perf_counter() - started)
                started = time.perf_counter()
                await conn.fetch(
                    "SELECT * FROM employee_period_score WHERE period = $1 AND branch_id = $2 "
                    "ORDER BY employee_id LIMIT 1000",
                    MONTH,
                    branch,
                )
                sql.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return {
        "rows": rows,
        "reads": reads,
        "p50_ms": round(percentile(api, 0.5) * 1000, 1),
        "p99_ms": round(percentile(api, 0.99) * 1000, 1),
        "sql_p50_ms": round(percentile(sql, 0.5) * 1000, 1),
        "sql_p99_ms": round(percentile(sql, 0.99) * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with provide_infra() as infra:
        async with fresh_run(infra, "state", args.database) as state_run:
            if args.database:
                loaded = await reopen(state_run)
            else:
                loaded = await bulk_load(state_run, args.employees, args.relations)
            reference = await reference_read(state_run)
            log = RESULTS / "logs" / f"{state_run.suffix}-scorer.log"
            profile = RESULTS / "profile-state.txt" if args.profile else None
            with service("scorer", state_run.env(), log, profile) as scorer:
                # the migrations are applied: an admin token in the run's database
                token = await issue(state_run.env()["DATABASE_URL"], state_run.suffix, Role.ADMIN)
                headers = {"authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(timeout=3600, headers=headers) as client:
                    started = time.monotonic()
                    r = await client.post(f"{scorer.url}/v1/periods/{MONTH}/close?force=true")
                    close_seconds = time.monotonic() - started
                    r.raise_for_status()
                    closed = r.json()
                rss_after_close = scorer.rss_mb()
                peak = scorer.rss_peak_mb()
                reads = await read_branch(state_run, scorer.url, "b007", args.reads, headers)
    return {
        "employees": args.employees,
        "relations_loaded": loaded,
        "close": {
            "period": MONTH,
            "seconds": round(close_seconds, 1),
            "employees": closed.get("employees"),
            "reference_read_seconds": round(reference, 3),
            "ratio_to_reference": round(close_seconds / reference, 1) if reference else None,
        },
        "scores_one_branch": reads,
        "scorer_rss_mb": rss_after_close,
        "scorer_peak_rss_mb": peak,
        "profile_top": top_frames(profile) if profile else [],
        "targets": {"close_seconds": 15, "rss_mb": 500},
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--employees", type=int, default=10_000 if quick() else 100_000)
    p.add_argument("--relations", type=int, default=1_000_000 if quick() else 10_000_000)
    p.add_argument("--reads", type=int, default=50 if quick() else 200)
    p.add_argument("--profile", action="store_true", help="py-spy the scorer during the close")
    p.add_argument(
        "--database",
        help="a database an earlier run kept (BENCH_KEEP_DATABASE=1): its month is reopened "
        "and closed again, without the load",
    )
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = asyncio.run(run(args))
    write_result("state", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""Quota counters kept current by deltas, in the transaction that changes what they count.

A batch (or a due timer) names the relations whose facts it changed; `settle` judges just
those again and returns how the counters of their periods move (domain/tally.py); `count`
adds those deltas (and the batch's gross adds) to `quota_counter` in one statement that
moves each counter row's `version` and returns the keys that moved. `GET /v1/scores` computes an
open period's quota figures from the counters (`quota_fields`), so it shows an event's effect
as soon as its batch commits. The score rows' copies of those columns: the refresh writes
those of the rows a batch marked dirty, from the counters as they stand when it stores them
and never over a newer version (scoring.store_open); `sync_scores` the others (org and target
changes, timers, the sweep, erasures).

Serialisation: every writer of an employee's standings, counters or score rows holds that
employee's transaction-scoped advisory lock (`hold`: one of HOLD_BUCKETS by hash, taken in
bucket order) from before it reads them until it commits. Whoever takes it last reads
everything committed before, so the last writer of a row always wrote the latest figures:
batches of several partitions or instances and timers never lose each other's changes. The
refresh holds no employee: the counters' versions keep it from writing older figures."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from services.scorer import at_rest, chats, inputs, repository
from services.scorer import buckets as buckets_kept
from services.scorer.domain.anomaly import CONVERSATION_MESSAGES
from services.scorer.domain.chat_tally import CHAT_COUNTERS, sent_changes
from services.scorer.domain.features import bits, channel_of, signs_of
from services.scorer.domain.quality import ChatStats, quality_from
from services.scorer.domain.quota import evaluate
from services.scorer.domain.rules import QualityWeights, ScoringRules
from services.scorer.domain.tally import (
    COUNTERS,
    TALLIED,
    TIER_PREFIX,
    PeriodDeltas,
    Standing,
    Vectors,
    accumulate,
    as_deltas,
    delta_at,
    next_change,
    standing_of,
)
from services.scorer.domain.validity import ContactFacts, ContactStatus, ContactVerdict
from shared.calendar import Period, local_date, parse_period
from shared.db import Connection, columns, recordset
from shared.governance import hold_shared

if TYPE_CHECKING:  # scoring imports this module
    from services.scorer.scoring import Scorer

log = logging.getLogger(__name__)
TIMER_BATCH = 2_000

HOLD_BUCKETS = 512
"""Employees share this many advisory locks (by hash): a batch of thousands of employees takes
at most this many, well inside PostgreSQL's lock table (max_locks_per_transaction ×
max_connections), at the price of some employees waiting for others' writers."""
QUOTA_LOCKS = 1296390000
"""The advisory lock space of the quota writers (`hold`); the review cases use the next one."""
HOLD_SQL = f"""
SELECT count(pg_advisory_xact_lock($2::int, b))
  FROM (SELECT DISTINCT hashtext(e) & {HOLD_BUCKETS - 1} AS b FROM unnest($1::text[]) AS e
         ORDER BY 1) AS ordered
"""  # noqa: S608 - a constant

STANDINGS_SQL = """
SELECT s.* FROM relation_standing s
  JOIN unnest($1::text[], $2::text[]) AS x(e, u)
    ON s.employee_id = x.e AND s.external_userid = x.u
"""

_STANDING_FLAGS = (
    "new_to_bank",
    "removed",
    "profile_unknown",
    "unverified",
    "inherited",
    "considered",
    "matched",
)
_STANDING_COLUMNS = (
    ("employee_id", "text"),
    ("external_userid", "text"),
    ("first_added_at", "timestamptz"),
    ("status", "text"),
    *((flag, "bool") for flag in _STANDING_FLAGS),
    ("tier", "text"),
    ("engaged", "bool"),
    ("retained", "bool"),
    ("next_change_at", "timestamptz"),
    ("derived", "bool"),
    ("staff_account_of", "text"),
    ("handed_over", "bool"),
    ("review", "text"),
    ("removed_since_add", "bool"),
    ("customer", "bool"),
    ("conversation", "bool"),
    ("channel", "text"),
    ("feature_bits", "int"),
)
NOT_LOOKED_UP: dict[str, Any] = {
    "derived": False,
    "staff_account_of": None,
    "handed_over": False,
    "review": None,
    "removed_since_add": False,
    "customer": None,
    "conversation": None,
    "channel": None,
    "feature_bits": None,
}
"""The lookups a standing keeps of its relation's facts (migration 0026, `inputs.
_relation_facts_sql`), what the peers' baseline counts of it (migration 0028, `inputs.
TALLY_SQL`) and where and what it counts in the anomaly features (migrations 0029 and 0031:
its channel and `features.signs_of`), for a relation that has none (not added
yet)."""
_NOT_NULL = frozenset((*_STANDING_FLAGS, "derived", "handed_over", "removed_since_add"))
_STANDING_VALUES = ", ".join(
    f"COALESCE(x.{c}, false)" if c in _NOT_NULL else f"x.{c}" for c, _ in _STANDING_COLUMNS
)
WRITE_STANDINGS_SQL = f"""
INSERT INTO relation_standing AS s ({", ".join(c for c, _ in _STANDING_COLUMNS)})
SELECT {_STANDING_VALUES}
  FROM json_to_recordset($1::text::json) AS x{columns(_STANDING_COLUMNS)}
ON CONFLICT (employee_id, external_userid) DO UPDATE SET
    first_added_at = EXCLUDED.first_added_at, status = EXCLUDED.status,
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _STANDING_FLAGS)}, tier = EXCLUDED.tier,
    engaged = EXCLUDED.engaged, retained = EXCLUDED.retained,
    next_change_at = EXCLUDED.next_change_at,
    {", ".join(f"{c} = EXCLUDED.{c}" for c in NOT_LOOKED_UP)}
"""  # noqa: S608 - constant column names

ADDED = (*TALLIED, *CHAT_COUNTERS, "gross_adds")
"""The counts `quota_counter` keeps per (employee, period) and adds changes to: what the
relations' standings count (quota and quality), the chat figures, and the add events."""
HELD = (*ADDED, "tiers", "median_reply_seconds")
"""Everything a counter row holds: the counts, the matched adds by tier, the median first
reply (set from the chat-days, not added)."""
_COUNTER_COLUMNS = (
    ("employee_id", "text"),
    ("period", "text"),
    *((c, "int") for c in ADDED),
    ("tiers", "jsonb"),
)
ADD_COUNTERS_SQL = f"""
INSERT INTO quota_counter AS q (employee_id, period, {", ".join(ADDED)}, tiers)
SELECT x.employee_id, x.period, {", ".join(f"COALESCE(x.{c}, 0)" for c in ADDED)},
       COALESCE(x.tiers, '{{}}')
  FROM json_to_recordset($1::text::json)
       AS x{columns(_COUNTER_COLUMNS)}
 WHERE NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = x.period)
ON CONFLICT (employee_id, period) DO UPDATE SET
    {", ".join(f"{c} = q.{c} + EXCLUDED.{c}" for c in ADDED)},
    tiers = CASE WHEN EXCLUDED.tiers = '{{}}'::jsonb THEN q.tiers
                 ELSE wq_add_counts(q.tiers, EXCLUDED.tiers) END,
    version = q.version + 1
"""  # noqa: S608 - constant column names
"""A period whose contact data was purged keeps its counters as they stood (migration 0017)."""

_RECOUNTED = (*TALLIED, *CHAT_COUNTERS)
RESET_COUNTERS_SQL = f"""
UPDATE quota_counter SET {", ".join(f"{c} = 0" for c in _RECOUNTED)}, tiers = '{{}}',
       median_reply_seconds = NULL, version = version + 1
 WHERE NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = quota_counter.period)
"""  # noqa: S608 - constant column names
"""Every relation and chat-day counted again from nothing; the add events (gross adds) stay,
and so do the counters of periods whose contact data was purged (they cannot be counted
again)."""

CARRY_COUNTERS_SQL = f"""
INSERT INTO quota_counter AS q (employee_id, period, {", ".join(_RECOUNTED)}, tiers)
SELECT employee_id, period, {", ".join(_RECOUNTED)}, tiers FROM erasure_carry c
 WHERE NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = c.period)
ON CONFLICT (employee_id, period) DO UPDATE SET
    {", ".join(f"{c} = q.{c} + EXCLUDED.{c}" for c in _RECOUNTED)},
    tiers = wq_add_counts(q.tiers, EXCLUDED.tiers), version = q.version + 1
"""  # noqa: S608 - constant column names
"""After a reset: what erased contacts still count in closed periods (`wecom-quota erase`)."""

COUNTERS_SQL = f"""
SELECT x.e AS employee_id, x.p AS period,
       {", ".join(f"COALESCE(q.{c}, 0) AS {c}" for c in ADDED)},
       COALESCE(q.tiers, '{{}}') AS tiers, q.median_reply_seconds,
       COALESCE(q.version, 0) AS version
  FROM unnest($1::text[], $2::text[]) AS x(e, p)
  LEFT JOIN quota_counter q ON q.employee_id = x.e AND q.period = x.p
"""  # noqa: S608 - constant column names

QUOTA_COLUMNS = (
    "gross_adds",
    *COUNTERS,
    "target",
    "attainment",
    "pace",
    "projection",
    "status",
)
QUALITY_COLUMNS = ("quality_score", "quality")
"""The quality columns of a score row, written from the counters with the quota columns."""
_SYNCED = (
    *(
        (c, "text")
        for c in ("employee_id", "period", "branch_id", "team_id", "supervisor_id", "role")
    ),
    *((c, "int") for c in ("gross_adds", *COUNTERS, "target")),
    *((c, "float8") for c in ("attainment", "pace", "projection")),
    ("status", "text"),
    ("quality_score", "float8"),
    ("quality", "text"),
    ("quota_version", "int8"),
)
_NOW = f"${len(_SYNCED) + 1}"
SYNC_SQL = f"""
INSERT INTO employee_period_score AS s ({", ".join(c for c, _ in _SYNCED)}, computed_at,
       quota_at)
SELECT {", ".join("x.quality::jsonb" if c == "quality" else f"x.{c}" for c, _ in _SYNCED)},
       {_NOW}, {_NOW}
  FROM unnest({", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(_SYNCED))})
       AS x({", ".join(c for c, _ in _SYNCED)})
ON CONFLICT (period, employee_id) DO UPDATE SET
    branch_id = EXCLUDED.branch_id, team_id = EXCLUDED.team_id,
    supervisor_id = EXCLUDED.supervisor_id, role = EXCLUDED.role,
    {", ".join(f"{c} = EXCLUDED.{c}" for c in (*QUOTA_COLUMNS, *QUALITY_COLUMNS))},
    quota_version = EXCLUDED.quota_version, quota_at = EXCLUDED.quota_at
"""  # noqa: S608 - constant column names

Key = tuple[str, str]
"""(employee_id, period key)"""
Totals = dict[Key, dict[str, Any]]
"""What `quota_counter` holds for each key (HELD), as a batch left it (`count`)."""


async def hold(conn: Connection, employee_ids: Iterable[str], space: int = QUOTA_LOCKS) -> None:
    """This transaction is the only writer of these employees' quota figures (or, in another
    lock `space`, of whatever that space guards) until it ends."""
    ids = sorted(set(employee_ids))
    if ids:
        await conn.fetchval(HOLD_SQL, ids, space)


def _standing_row(standing: Standing) -> dict[str, Any]:
    """A standing's columns of `relation_standing` (`WRITE_STANDINGS_SQL`); a relation that
    counts nowhere leaves them out (NULL, and false for the flags)."""
    return {
        "first_added_at": standing.first_added_at,
        "status": standing.status.value,
        **{flag: bool(getattr(standing, flag)) for flag in _STANDING_FLAGS},
        "tier": standing.tier,
        "engaged": standing.engaged,
        "retained": standing.retained,
    }


def _stored(row: Any) -> Standing | None:
    if row["first_added_at"] is None or row["status"] is None:
        return None
    return Standing(
        first_added_at=row["first_added_at"],
        status=ContactStatus(row["status"]),
        **{flag: row[flag] for flag in _STANDING_FLAGS},
        tier=row["tier"],
        engaged=row["engaged"],
        retained=row["retained"],
    )


async def with_cap_groups(
    conn: Connection, scorer: Scorer, pairs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """With the per-channel-state daily cap, an add's verdict depends on the employee's other
    adds of that day: the whole day of each touched relation is judged again."""
    if scorer.rules.max_adds_per_state_per_day is None or not pairs:
        return pairs
    tz = scorer.calendar.tz
    rows = await conn.fetch(
        """SELECT c.employee_id, c.first_added_at FROM employee_contact c
             JOIN unnest($1::text[], $2::text[]) AS x(e, u)
               ON c.employee_id = x.e AND c.external_userid = x.u
            WHERE c.first_added_at IS NOT NULL""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    days = sorted({(r["employee_id"], local_date(r["first_added_at"], tz)) for r in rows})
    if not days:
        return pairs
    starts = [datetime.combine(d, datetime.min.time(), tz) for _, d in days]
    more = await conn.fetch(
        """SELECT c.employee_id, c.external_userid FROM employee_contact c
             JOIN unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS x(e, a, b)
               ON c.employee_id = x.e AND c.first_added_at >= x.a AND c.first_added_at < x.b""",
        [e for e, _ in days],
        starts,
        [s + timedelta(days=1) for s in starts],
    )
    return sorted(set(pairs) | {(r["employee_id"], r["external_userid"]) for r in more})


async def settle(
    conn: Connection,
    scorer: Scorer,
    pairs: Iterable[tuple[str, str]],
    now: datetime,
    held: Collection[str] = (),
) -> PeriodDeltas:
    """Judge these relations again and store their standings. Returns how the counters of
    their periods move (`count` adds it). `held`: employees the caller's transaction holds
    already (`hold`), not held again (a batch holds every employee it touches at once)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    wanted = await with_cap_groups(conn, scorer, wanted)
    await hold(conn, {e for e, _ in wanted}.difference(held))
    employees, contacts = [p[0] for p in wanted], [p[1] for p in wanted]
    before = {
        (r["employee_id"], r["external_userid"]): r
        for r in await conn.fetch(STANDINGS_SQL, employees, contacts)
    }
    by_employee: dict[str, list[ContactFacts]] = defaultdict(list)
    for facts in await inputs.relations_by_pair(conn, wanted):
        by_employee[facts.employee_id].append(facts)
    verdicts = {
        (v.facts.employee_id, v.facts.external_userid): v
        for e in sorted(by_employee)
        for v in scorer.verdicts(by_employee[e], now)
    }
    tz = scorer.calendar.tz
    rules = scorer.rules
    changes: Vectors = {}
    tiers: Counter[tuple[str, str, str]] = Counter()
    buckets: buckets_kept.Moves = {}
    written: list[dict[str, Any]] = []
    for pair in wanted:
        verdict = verdicts.get(pair)
        after = standing_of(verdict, rules, now) if verdict is not None else None
        due = next_change(verdict, rules, now) if verdict is not None else None
        looked_up = NOT_LOOKED_UP if verdict is None else lookups(verdict, rules)
        row = before.get(pair)
        old = _stored(row) if row is not None else None
        if (
            row is not None
            and old == after
            and row["next_change_at"] == due
            and all(row[c] == v for c, v in looked_up.items())
        ):
            continue
        if old != after:
            accumulate(changes, pair[0], old, after, tz, tiers)
        buckets_kept.move(buckets, pair[0], row, looked_up, after, tz)
        written.append(
            {
                "employee_id": pair[0],
                "external_userid": pair[1],
                "next_change_at": due,
                **looked_up,
                **({} if after is None else _standing_row(after)),
            }
        )
    if written:
        await conn.execute(WRITE_STANDINGS_SQL, recordset(written))
    await buckets_kept.add(conn, buckets)
    return as_deltas(changes, tiers)


def lookups(verdict: ContactVerdict, rules: ScoringRules) -> dict[str, Any]:
    """What a standing keeps of its relation's looked-up facts, whether the contact is a
    matched customer and holds a conversation, and its signs for the anomaly features
    (NOT_LOOKED_UP)."""
    facts = verdict.facts
    return {
        "derived": True,
        "staff_account_of": facts.staff_account_of,
        "handed_over": facts.handed_over,
        "review": facts.review,
        "removed_since_add": bool(facts.removals),
        "customer": facts.is_customer is True,
        "conversation": facts.customer_msgs >= CONVERSATION_MESSAGES,
        "channel": channel_of(verdict),
        "feature_bits": bits(signs_of(verdict, rules.retention_window)),
    }


async def count(conn: Connection, changes: PeriodDeltas) -> set[Key]:
    """Add the changes to the counters; the keys that moved (not those of purged periods).
    Their new figures are not returned: a batch moves thousands of counter rows and the
    figures of only a few of them are written to score rows (`sync_scores` reads those)."""
    keys = sorted(k for k, d in changes.items() if any(d.values()))
    if not keys:
        return set()
    await conn.execute(ADD_COUNTERS_SQL, recordset(_counter_row(k, changes[k]) for k in keys))
    purged = {
        r[0]
        for r in await conn.fetch(
            "SELECT period FROM purged_period WHERE period = ANY($1::text[])",
            sorted({k[1] for k in keys}),
        )
    }
    return {k for k in keys if k[1] not in purged}


def _counter_row(key: Key, delta: Counter[str]) -> dict[str, Any]:
    """One key's changes as `ADD_COUNTERS_SQL` reads them: the counts by column, and the
    matched adds by tier under `tiers` (one pass: a batch writes thousands of rows)."""
    row: dict[str, Any] = {"employee_id": key[0], "period": key[1]}
    tiers: dict[str, int] = {}
    for name, n in delta.items():
        if name.startswith(TIER_PREFIX):
            if n:
                tiers[name[len(TIER_PREFIX) :]] = n
        else:
            row[name] = n
    row["tiers"] = tiers
    return row


def keys_of(rows: Iterable[Any]) -> set[Key]:
    """The (employee, period) keys of counter rows."""
    return {(r["employee_id"], r["period"]) for r in rows}


def totals_of(rows: Iterable[Any]) -> Totals:
    """Counter rows, as read, by key."""
    out: Totals = {}
    for r in rows:
        held = dict(r.items())  # HELD and the key columns, in C (a batch returns thousands)
        held["tiers"] = tiers_of(r)
        out[(r["employee_id"], r["period"])] = held
    return out


def tiers_of(row: Any) -> dict[str, int]:
    """A counter row's tiers: decoded by the pool's JSON codec, or not (a plain connection)."""
    tiers = row["tiers"]
    return dict(orjson.loads(tiers) if isinstance(tiers, str) else tiers or {})


def merged(changes: PeriodDeltas, more: Mapping[Key, Counter[str]]) -> PeriodDeltas:
    """`changes` with `more` added in."""
    for key, delta in more.items():
        delta_at(changes, key).update(delta)
    return changes


def with_gross(changes: PeriodDeltas, gross: Mapping[Key, int]) -> PeriodDeltas:
    """The changes with a batch's add events counted in (they count per event, not per
    relation: an add repeated is a gross add again)."""
    for key, n in gross.items():
        delta_at(changes, key)["gross_adds"] += n
    return changes


async def due_relations(conn: Connection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """Relations whose verdict time alone has changed by `now` (their timers), the longest
    due first. Not locked here: `settle` serialises by employee, and a timer taken by two
    instances at once is judged twice to the same standing (the second changes nothing)."""
    rows = await conn.fetch(
        """SELECT employee_id, external_userid FROM relation_standing
            WHERE next_change_at <= $1 ORDER BY next_change_at LIMIT $2""",
        now,
        limit,
    )
    return [(r["employee_id"], r["external_userid"]) for r in rows]


async def run_due(conn: Connection, scorer: Scorer, now: datetime, limit: int = TIMER_BATCH) -> int:
    """One batch of due timers, in one transaction with the counters and score rows they
    change. Returns how many were due."""
    async with conn.transaction():
        # after an erasure (or purge) or wholly before it: never a stale pair judged again
        await hold_shared(conn)
        pairs = await due_relations(conn, now, limit)
        if pairs:
            moved = await count(conn, await settle(conn, scorer, pairs, now))
            await sync_scores(conn, scorer, moved, now)
            await repository.mark_dirty(conn, moved)
            await at_rest.inputs_changed(conn)
    return len(pairs)


async def run_all_due(conn: Connection, scorer: Scorer, now: datetime) -> None:
    """Every timer due by `now`, a batch (and a transaction) at a time."""
    while await run_due(conn, scorer, now) >= TIMER_BATCH:
        pass


async def quota_fields(
    conn: Connection,
    scorer: Scorer,
    period_key: str,
    targets: dict[str, int | None],
    now: datetime,
    closed: bool,
) -> dict[str, dict[str, Any]]:
    """The quota columns of these employees' rows in the period, from the counters as they
    stand (the caller holds the employees, or reads in one snapshot)."""
    found = await quota_fields_of(
        conn, scorer, {(e, period_key): t for e, t in targets.items()}, now, closed
    )
    return {e: f for (e, _), f in found.items()}


async def quota_fields_of(
    conn: Connection,
    scorer: Scorer,
    targets: dict[tuple[str, str], int | None],
    now: datetime,
    closed: bool,
    totals: Mapping[Key, Mapping[str, int]] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """`quota_fields` for (employee, period key) pairs of any periods, from `totals` where
    given (counter rows the caller read: the read API's, in its own statement) and otherwise
    from one read of the counters."""
    given = totals or {}
    unread = sorted(k for k in targets if k not in given)
    read: Totals = {}
    if unread:
        read = totals_of(
            await conn.fetch(COUNTERS_SQL, [k[0] for k in unread], [k[1] for k in unread])
        )
    shares: dict[str, float] = {}
    weights = scorer.rules.quality_weights
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted(targets):
        r: Mapping[str, Any] = given[key] if key in given else read[key]
        if key[1] not in shares:
            shares[key[1]] = scorer.calendar.elapsed_share(parse_period(key[1]), now)
        figures = evaluate(
            targets[key],
            valid_adds=r["valid_adds"],
            pending_adds=r["pending_adds"],
            elapsed_share=shares[key[1]],
            closed=closed,
        )
        out[key] = {
            "gross_adds": r["gross_adds"],
            **{c: r[c] for c in COUNTERS},
            "target": figures.target,
            "attainment": figures.attainment,
            "pace": figures.pace,
            "projection": figures.projection,
            "status": figures.status.value if figures.status else None,
            **quality_fields(r, weights),
            "quota_version": r["version"],
        }
    return out


def chats_of(r: Mapping[str, Any]) -> ChatStats:
    median = r["median_reply_seconds"]
    return ChatStats(
        customer_chats=r["customer_chats"],
        answered_same_day=r["answered_same_day"],
        median_first_reply_seconds=round(median, 1) if median is not None else None,
        one_to_one_sent=r["one_to_one_sent"],
        mass_sent=r["mass_sent"],
    )


def quality_fields(r: Mapping[str, Any], weights: QualityWeights) -> dict[str, Any]:
    """The quality columns of a score row from its counter row."""
    score, details = quality_from(r, tiers_of(r), chats_of(r), weights)
    return {"quality_score": score, "quality": details}


async def sync_scores(
    conn: Connection,
    scorer: Scorer,
    keys: Iterable[tuple[str, str]],
    now: datetime,
) -> None:
    """Write the quota columns of these (employee, period) rows of still-open periods from
    their counters (a new row gets its org columns; quality and anomaly follow from the
    refresh). A closed period's rows are the refresh's:
    its revisions are recorded there. The caller holds the employees."""
    wanted = sorted(set(keys))
    periods = sorted({p for _, p in wanted})
    if not periods:
        return
    # a period being closed is waited for (PeriodCloser takes this lock exclusively), then
    # seen closed and left to the refresh, which records late corrections as revisions
    await conn.execute(
        """SELECT count(pg_advisory_xact_lock_shared(hashtext('close:' || p)))
             FROM (SELECT unnest($1::text[]) AS p ORDER BY 1) AS ordered""",
        periods,
    )
    # purged periods (migration 0017) are left as they stood, like closed ones
    closed = {
        r["period"]
        for r in await conn.fetch(
            """SELECT period FROM period_close WHERE period = ANY($1::text[])
               UNION SELECT period FROM purged_period WHERE period = ANY($1::text[])""",
            periods,
        )
    }
    parsed: dict[str, Period] = {}
    for key in periods:
        with contextlib.suppress(ValueError):
            parsed[key] = parse_period(key)
    open_keys = [(e, parsed[p]) for e, p in wanted if p in parsed and p not in closed]
    org = await inputs.org_rows_by_period(conn, open_keys, scorer.calendar.tz)
    targets = {(o.employee_id, p): scorer.target_of(o.target, parsed[p]) for p, o in org}
    fields = await quota_fields_of(conn, scorer, targets, now, closed=False)
    await _write_quota(conn, [(o, p, fields[(o.employee_id, p)]) for p, o in org], now)


STALE_SQL = """
SELECT employee_id, period FROM employee_period_score s
 WHERE (s.quota_at IS NULL OR s.quota_at < $1)
   AND ($3::text[] IS NULL OR EXISTS (
         SELECT 1 FROM unnest($3::text[], $4::timestamptz[]) AS r(period, ends)
          WHERE r.period = s.period AND (s.quota_at IS NULL OR s.quota_at < r.ends)))
   AND NOT EXISTS (SELECT 1 FROM period_close c WHERE c.period = s.period)
   AND NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = s.period)
   AND (s.period, s.employee_id) > ($5::text, $6::text)
 ORDER BY s.period, s.employee_id LIMIT $2
"""
# Chunks follow one another along the primary key ($5, $6: the last key of the chunk before):
# the sweep reads the table once, however many of its rows are stale (each chunk scanning it
# from its start took 0.3 s a chunk at 370,000 rows, 740 chunks when all were stale).
RESYNC_CHUNK = 500


async def resync_stale(
    conn: Connection,
    scorer: Scorer,
    before: datetime,
    now: datetime,
    chunk: int = RESYNC_CHUNK,
    running: Sequence[Period] | None = None,
) -> int:
    """Write again the quota columns of open periods' rows last written before `before`:
    pace, projection and status move with working time (and a row whose employee no batch
    touched would keep its morning's pace), `chunk` rows per short transaction. `running`:
    only these periods' rows, and only those written before their period ended (after it,
    time no longer moves them). Returns how many rows it wrote."""
    tz = scorer.calendar.tz
    only = None if running is None else [p.key for p in running]
    ends = None if running is None else [p.end_at(tz) for p in running]
    written = 0
    after = ("", "")
    while True:
        async with conn.transaction():
            rows = await conn.fetch(STALE_SQL, before, chunk, only, ends, *after)
            keys = [(r["employee_id"], r["period"]) for r in rows]
            if keys:
                await hold(conn, (e for e, _ in keys))
                await sync_scores(conn, scorer, keys, now)
        written += len(keys)
        if len(rows) < chunk:
            return written
        after = (rows[-1]["period"], rows[-1]["employee_id"])


async def _write_quota(
    conn: Connection, rows: Sequence[tuple[inputs.OrgRow, str, dict[str, Any]]], now: datetime
) -> None:
    if not rows:
        return
    # rows locked in key order, as every writer of score rows does (scoring.store_scores): a
    # refresh storing the same rows in another order would deadlock with this batch
    rows = sorted(rows, key=lambda r: (r[0].employee_id, r[1]))
    await conn.execute(
        SYNC_SQL,
        [o.employee_id for o, _, _ in rows],
        [k for _, k, _ in rows],
        [o.branch_id for o, _, _ in rows],
        [o.team_id for o, _, _ in rows],
        [o.supervisor_id for o, _, _ in rows],
        [o.role for o, _, _ in rows],
        *([f[c] for _, _, f in rows] for c in (*QUOTA_COLUMNS, "quality_score")),
        [orjson.dumps(f["quality"]).decode() for _, _, f in rows],
        [f["quota_version"] for _, _, f in rows],
        now,
    )


async def timers_forever(
    pool: Callable[[], asyncpg.Pool], scorer: Scorer, every: float = 0.25
) -> None:
    """Run due timers as they fall due, a batch at a time, for as long as the scorer runs."""
    while True:
        try:
            async with pool().acquire() as conn:
                await run_all_due(conn, scorer, scorer.clock())
        except Exception:
            log.exception("running the quota timers failed; retrying")
        await asyncio.sleep(every)


STANDING_VERSION = "3: quality counters, chat-days, anomaly features"
"""What a standing holds: a new version has every standing judged again at start-up."""


def rules_fingerprint(scorer: Scorer) -> str:
    rules = scorer.rules.model_dump_json() + "|" + scorer.calendar.tz.key + "|" + STANDING_VERSION
    return hashlib.sha256(rules.encode()).hexdigest()


SPOTS_SQL = """
SELECT DISTINCT employee_id, external_userid, (sent_at AT TIME ZONE $2)::date AS day
  FROM message WHERE employee_id = ANY($1::text[]) AND kind = 'one_to_one'
"""
SENT_SQL = """
SELECT employee_id, sent_at, direction, kind FROM message
 WHERE employee_id = ANY($1::text[]) AND direction = 'to_customer'
"""


async def recount_chats(conn: Connection, scorer: Scorer, employees: Sequence[str]) -> None:
    """Count these employees' stored messages into the chat counters from nothing (after a
    reset): their chat-days, the messages they sent, the medians."""
    tz = scorer.calendar.tz
    spots = [(r[0], r[1], r[2]) for r in await conn.fetch(SPOTS_SQL, list(employees), tz.key)]
    deltas: dict[Key, Counter[str]] = {}
    replies = await chats.recount_days(conn, sorted(spots), tz, deltas)
    for r in await conn.fetch(SENT_SQL, list(employees)):
        sent_changes(deltas, r["employee_id"], r["sent_at"], r["direction"], r["kind"], tz)
    await count(conn, deltas)
    await chats.medians(conn, replies)


async def judge_all_if_rules_changed(
    pool: Callable[[], asyncpg.Pool], scorer: Scorer, chunk: int = 500
) -> bool:
    """At start-up: standings judged under other rules (or none yet, after an upgrade) are
    judged again from the stored relations, `chunk` employees per transaction. Another
    instance starting meanwhile waits for this one. True when it rebuilt."""
    fingerprint = rules_fingerprint(scorer)
    async with pool().acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended('quota:rebuild', 0))")
        try:
            if await conn.fetchval("SELECT fingerprint FROM quota_rules") == fingerprint:
                return False
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("DELETE FROM relation_standing")
                await conn.execute("DELETE FROM add_bucket")
                await conn.execute("DELETE FROM chat_day")
                # the add events counted stay: they do not depend on the rules
                await conn.execute(RESET_COUNTERS_SQL)
                await conn.execute(CARRY_COUNTERS_SQL)
            employees = [
                r["employee_id"]
                for r in await conn.fetch(
                    """SELECT employee_id FROM employee_contact
                       UNION SELECT employee_id FROM message ORDER BY employee_id"""
                )
            ]
            now = scorer.clock()
            for at in range(0, len(employees), chunk):
                async with conn.transaction():
                    rows = await conn.fetch(
                        """SELECT employee_id, external_userid FROM employee_contact
                            WHERE employee_id = ANY($1::text[])""",
                        employees[at : at + chunk],
                    )
                    pairs = [(r["employee_id"], r["external_userid"]) for r in rows]
                    await count(conn, await settle(conn, scorer, pairs, now))
                    await recount_chats(conn, scorer, employees[at : at + chunk])
            await resync_stale(conn, scorer, now, now)
            await at_rest.inputs_changed(conn)
            await conn.execute(
                """INSERT INTO quota_rules (fingerprint, rebuilt_at) VALUES ($1, $2)
                   ON CONFLICT (id) DO UPDATE SET fingerprint = $1, rebuilt_at = $2""",
                fingerprint,
                now,
            )
            log.info(
                "quota standings judged under the current rules",
                extra={"employees": len(employees), "seconds": time.perf_counter() - started},
            )
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended('quota:rebuild', 0))")

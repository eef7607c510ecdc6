"""Contact-level data in the scorer's tables: the retention purge and the erasure of one
contact (PIPL; SECURITY.md, "Personal data"; migration 0017). Neither changes the figures of a
closed period: its score rows, outcomes and revisions stay as they were, and so do its counters.

**Purge** (`purge_due`, run by the schedule): contact events, messages, removals, relations and
their standings, and contacts nobody follows any more, about a time before the cutoff
(CONTACT_DATA_RETENTION_MONTHS before the current month's start) are deleted. First the horizon
moves (records about that time are then dropped when consumed again, counted `expired`) and
every period starting before it is recorded in `purged_period`: such a period is frozen (its
counters no longer move, its rows are not recomputed, it is not closed now, the verifier skips
it), since its figures could not be recomputed from what is left. Its score rows lose the
contact ids quoted as examples in their anomaly evidence; the dense-block cache of those periods
goes. Then the rows go, `PURGE_CHUNK` at a time, each chunk holding the governance lock.

**Erasure** (`erase`, by `wecom-quota erase`): every row about the contact goes, in one
transaction holding the governance lock (consumer batches and stored recomputations wait). In
open periods it stops counting (its relations' standings leave the counters, its add events the
gross adds; with the daily cap rule, the same day's other adds are judged again) and the rows
are recomputed; in closed periods the counters stay and what the contact still counts there is
kept in `erasure_carry` (the verifier adds it to its recount). HR's staff-account rows naming it
or its unionid go with it: the other contacts they made staff accounts (the same person's) are
judged again without them, in open periods counted again, in closed ones carried like its own.
Its id quoted in anomaly evidence becomes `(erased)`."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import Counter as Metric

from services.scorer import chats, repository, tally
from services.scorer.domain.tally import tier_changes
from services.scorer.scoring import Scorer
from services.scorer.state import period_keys
from shared.calendar import parse_period
from shared.db import Connection
from shared.governance import ERASED, blank_examples, hold_exclusive
from shared.governance import retention_cutoff as cutoff_of
from shared.schemas import ADD_CHANGES

log = logging.getLogger(__name__)
PURGED_ROWS = Metric(
    "scorer_contact_rows_purged_total",
    "Rows of contact-level data deleted by the retention purge, by table",
    ["table"],
)
PURGE_CHUNK = 5_000

# --- the retention purge ------------------------------------------------------------------

PERIOD_KEYS_SQL = """
SELECT period FROM quota_counter UNION SELECT period FROM employee_period_score
UNION SELECT period FROM target UNION SELECT period FROM score_dirty
EXCEPT SELECT period FROM purged_period
"""
MOVE_HORIZON_SQL = """
UPDATE contact_governance
   SET purged_before = GREATEST(purged_before, $1), generation = generation + 1
"""
FREEZE_SQL = """
INSERT INTO purged_period (period, purged_before, purged_at)
SELECT unnest($1::text[]), $2, $3
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class Chunked:
    """A table's purge, a chunk at a time: `picked` finds at most $2 rows about a time before
    $1; `delete` deletes what it picked. `probe` asks, without the hold, whether there is
    anything to delete at all: once the horizon has moved, nothing about a time before it is
    stored again, so a probe that finds nothing is final, and a table with nothing to purge
    (a new database, a month with nothing old left) never stops the consumer."""

    table: str
    picked: str
    delete: str

    @property
    def statement(self) -> str:
        return self.delete.format(picked=self.picked)

    @property
    def probe(self) -> str:
        return f"SELECT EXISTS ({self.picked})"


# In dependency order.
PURGES: tuple[Chunked, ...] = (
    Chunked(
        "contact_event",
        "SELECT event_id, occurred_at FROM contact_event WHERE occurred_at < $1 LIMIT $2",
        "DELETE FROM contact_event WHERE (event_id, occurred_at) IN ({picked})",
    ),
    Chunked(
        "message",
        "SELECT message_id, sent_at FROM message WHERE sent_at < $1 LIMIT $2",
        "DELETE FROM message WHERE (message_id, sent_at) IN ({picked})",
    ),
    Chunked(
        "chat_day",
        "SELECT ctid FROM chat_day WHERE asked < $1 LIMIT $2",
        "DELETE FROM chat_day WHERE ctid = ANY(ARRAY({picked}))",
    ),
    Chunked(
        "contact_removal",
        "SELECT ctid FROM contact_removal WHERE removed_at < $1 LIMIT $2",
        "DELETE FROM contact_removal WHERE ctid = ANY(ARRAY({picked}))",
    ),
    # added before the cutoff; or never added, with no sign of life since (a message, the
    # contact's profile or customer link)
    Chunked(
        "employee_contact",
        """SELECT c.ctid FROM employee_contact c LEFT JOIN contact k USING (external_userid)
            WHERE c.first_added_at < $1
               OR (c.first_added_at IS NULL
                   AND coalesce(c.first_customer_msg_at, '-infinity') < $1
                   AND coalesce(GREATEST(k.profile_at, k.link_at), '-infinity') < $1
                   AND NOT EXISTS (SELECT 1 FROM message m
                                    WHERE m.employee_id = c.employee_id
                                      AND m.external_userid = c.external_userid
                                      AND m.sent_at >= $1))
            LIMIT $2""",
        "DELETE FROM employee_contact WHERE ctid = ANY(ARRAY({picked}))",
    ),
    Chunked(
        "contact_verdict",
        """SELECT v.ctid FROM contact_verdict v
            WHERE $1::timestamptz IS NOT NULL  -- the relation purged (whenever judged)
              AND NOT EXISTS (SELECT 1 FROM employee_contact c
                               WHERE c.employee_id = v.employee_id
                                 AND c.external_userid = v.external_userid)
            LIMIT $2""",
        "DELETE FROM contact_verdict WHERE ctid = ANY(ARRAY({picked}))",
    ),
    # by the index on first_added_at (migration 0026): those of relations added before the
    # cutoff, and those of relations never added that were purged (a standing that only held
    # the lock). Looking for standings without a relation among all of them read every
    # standing of the bank for each chunk, under the exclusive hold.
    Chunked(
        "relation_standing",
        """SELECT s.ctid FROM relation_standing s
            WHERE s.first_added_at < $1
               OR (s.first_added_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM employee_contact c
                                    WHERE c.employee_id = s.employee_id
                                      AND c.external_userid = s.external_userid))
            LIMIT $2""",
        "DELETE FROM relation_standing WHERE ctid = ANY(ARRAY({picked}))",
    ),
    # the anomaly features of the adds before the cutoff (their periods are frozen)
    Chunked(
        "add_bucket",
        "SELECT ctid FROM add_bucket WHERE span_start < $1 LIMIT $2",
        "DELETE FROM add_bucket WHERE ctid = ANY(ARRAY({picked}))",
    ),
)

# Contacts followed by nobody any more, with nothing about them since the cutoff, after the
# tables above (their relations gone first). Chunk after chunk in the order of the index on
# their latest fact (migration 0027), each from where the last one stopped ($3, $4): the old
# contacts still followed (re-added since by someone else) are passed over once, not read
# again by every chunk (asyncpg gives '-infinity' as datetime.min, and sends it back so).
# Returns how many it picked and deleted, and the last key it picked.
# A contact nobody follows any more whose latest fact is from before the cutoff ($1).
UNFOLLOWED_OLD = """
coalesce(GREATEST(k.first_added_at, k.profile_at, k.link_at), '-infinity') < $1
AND NOT EXISTS (SELECT 1 FROM employee_contact c WHERE c.external_userid = k.external_userid)"""
CONTACTS_PURGE_SQL = f"""
WITH picked AS (
  SELECT k.ctid, coalesce(GREATEST(k.first_added_at, k.profile_at, k.link_at), '-infinity') AS at,
         k.external_userid
    FROM contact k
   WHERE (coalesce(GREATEST(k.first_added_at, k.profile_at, k.link_at), '-infinity'),
          k.external_userid) > (coalesce($3::timestamptz, '-infinity'), coalesce($4::text, ''))
     AND {UNFOLLOWED_OLD}
   ORDER BY 2, 3 LIMIT $2),
gone AS (DELETE FROM contact WHERE ctid = ANY(ARRAY(SELECT ctid FROM picked)) RETURNING 1)
SELECT (SELECT count(*) FROM picked) AS picked, (SELECT count(*) FROM gone) AS deleted,
       last.at, last.external_userid
  FROM (SELECT at, external_userid FROM picked ORDER BY at DESC, external_userid DESC LIMIT 1)
       AS last
"""  # noqa: S608 - constants only
CONTACTS_PROBE_SQL = f"SELECT EXISTS (SELECT 1 FROM contact k WHERE {UNFOLLOWED_OLD})"  # noqa: S608 - constants
# The dense-block cache of the frozen periods lists contact ids (services/scorer/bankwide.py).
DROP_AGGREGATES_SQL = """
DELETE FROM period_aggregate a USING purged_period p WHERE p.period = a.period
"""
AGGREGATES_PROBE_SQL = """
SELECT EXISTS (SELECT 1 FROM period_aggregate a JOIN purged_period p USING (period))
"""
EXAMPLES_SQL = """
SELECT s.period, s.employee_id, s.reasons::text AS reasons
  FROM employee_period_score s JOIN purged_period p USING (period)
 WHERE s.reasons @? '$.**.examples[*]' AND (s.period, s.employee_id) > ($1, $2)
 ORDER BY s.period, s.employee_id LIMIT $3
"""
WRITE_REASONS_SQL = """
UPDATE employee_period_score s SET reasons = x.r::jsonb
  FROM unnest($1::text[], $2::text[], $3::text[]) AS x(p, e, r)
 WHERE s.period = x.p AND s.employee_id = x.e
"""
DONE_SQL = "UPDATE contact_governance SET purge_done_before = $1"


@dataclass
class Purged:
    cutoff: datetime
    periods: list[str]
    rows: Counter[str] = field(default_factory=Counter)


async def purge_due(conn: Connection, scorer: Scorer, months: int, now: datetime) -> Purged | None:
    """Purge what is older than `months` months (whole months), unless done already for this
    cutoff; None when there was nothing to do. Safe to run again after a crash halfway."""
    cutoff = cutoff_of(now, months, scorer.calendar.tz)
    done = await conn.fetchval("SELECT purge_done_before FROM contact_governance")
    if done is not None and done >= cutoff:
        return None
    tz = scorer.calendar.tz
    async with conn.transaction():
        await hold_exclusive(conn)
        await conn.execute(MOVE_HORIZON_SQL, cutoff)
        keys = []
        for r in await conn.fetch(PERIOD_KEYS_SQL):
            try:
                if parse_period(r["period"]).start_at(tz) < cutoff:
                    keys.append(r["period"])
            except ValueError:
                continue
        await conn.execute(FREEZE_SQL, sorted(keys), cutoff, now)
        await conn.execute("DELETE FROM score_dirty WHERE period = ANY($1::text[])", keys)
    result = Purged(cutoff, sorted(keys))
    # each step asks first, without the hold, whether it has anything to do (`Chunked`)
    for purge in PURGES:
        while await conn.fetchval(purge.probe, cutoff, 1):
            async with conn.transaction():
                await hold_exclusive(conn)
                status = await conn.execute(purge.statement, cutoff, PURGE_CHUNK)
            deleted = int(status.split()[-1])
            result.rows[purge.table] += deleted
            PURGED_ROWS.labels(purge.table).inc(deleted)
            if deleted < PURGE_CHUNK:
                break
    after: tuple[datetime | None, str | None] = (None, None)  # from the first key on
    # asked once: each chunk goes on from where the last one stopped, past the followed ones
    more = bool(await conn.fetchval(CONTACTS_PROBE_SQL, cutoff))
    while more:
        async with conn.transaction():
            await hold_exclusive(conn)
            chunk = await conn.fetchrow(CONTACTS_PURGE_SQL, cutoff, PURGE_CHUNK, *after)
        deleted = 0 if chunk is None else int(chunk["deleted"])
        result.rows["contact"] += deleted
        PURGED_ROWS.labels("contact").inc(deleted)
        more = chunk is not None and chunk["picked"] >= PURGE_CHUNK
        if chunk is not None:
            after = (chunk["at"], chunk["external_userid"])
    if await conn.fetchval(AGGREGATES_PROBE_SQL):
        async with conn.transaction():
            await hold_exclusive(conn)
            aggregates = await conn.execute(DROP_AGGREGATES_SQL)
            result.rows["period_aggregate"] += int(aggregates.split()[-1])
    result.rows["employee_period_score (examples)"] += await _blank_examples(conn)
    result.rows["review_case (examples)"] += await _blank_case_examples(conn)
    await conn.execute(DONE_SQL, cutoff)
    log.info(
        "contact data purged",
        extra={
            "cutoff": cutoff.isoformat(),
            "periods_frozen": len(keys),
            "rows": dict(result.rows),
        },
    )
    return result


async def _blank_case_examples(conn: Connection) -> int:
    """The review cases of frozen periods keep their evidence but not the contact ids it quotes
    (a handful of rows: one per flagged employee and month)."""
    if not await conn.fetchval(
        f"SELECT EXISTS ({CASE_EXAMPLES_SQL}) OR EXISTS ({LINK_EXAMPLES_SQL})"
    ):
        return 0
    async with conn.transaction():
        await hold_exclusive(conn)
        rows = await conn.fetch(CASE_EXAMPLES_SQL)
        for r in rows:
            blanked = orjson.dumps(blank_examples(orjson.loads(r["reasons"]))).decode()
            await conn.execute(WRITE_CASE_REASONS_SQL, r["case_id"], blanked)
        links = await conn.fetch(LINK_EXAMPLES_SQL)  # a week's or quarter's flag's evidence
        for r in links:
            blanked = orjson.dumps(blank_examples(orjson.loads(r["reasons"]))).decode()
            await conn.execute(WRITE_LINK_REASONS_SQL, r["employee_id"], r["period"], blanked)
    return len(rows) + len(links)


async def _blank_examples(conn: Connection) -> int:
    """Frozen periods' score rows keep their anomaly evidence but not the contact ids it quotes
    as examples (the counts beside them stay)."""
    written = 0
    after = ("", "")
    if not await conn.fetch(EXAMPLES_SQL, *after, 1):
        return 0
    while True:
        async with conn.transaction():
            await hold_exclusive(conn)
            rows = await conn.fetch(EXAMPLES_SQL, *after, PURGE_CHUNK)
            changed = [
                (r["period"], r["employee_id"], blank_examples(orjson.loads(r["reasons"])))
                for r in rows
            ]
            if changed:
                await conn.execute(
                    WRITE_REASONS_SQL,
                    [c[0] for c in changed],
                    [c[1] for c in changed],
                    [orjson.dumps(c[2]).decode() for c in changed],
                )
        written += len(changed)
        if len(rows) < PURGE_CHUNK:
            return written
        after = (rows[-1]["period"], rows[-1]["employee_id"])


# --- the erasure of one contact -------------------------------------------------------------

RULES_SQL = "SELECT fingerprint FROM quota_rules"
EMPLOYEES_SQL = """
SELECT employee_id FROM employee_contact WHERE external_userid = $1
UNION SELECT employee_id FROM relation_standing WHERE external_userid = $1
UNION SELECT employee_id FROM contact_event WHERE external_userid = $1
UNION SELECT employee_id FROM message WHERE external_userid = $1
UNION SELECT employee_id FROM contact_removal WHERE external_userid = $1
"""
PAIRS_SQL = """
SELECT employee_id, external_userid FROM employee_contact WHERE external_userid = $1
UNION SELECT employee_id, external_userid FROM relation_standing WHERE external_userid = $1
"""
# The times the contact's facts are about, per employee: the periods whose rows they fed.
TIMES_SQL = """
SELECT employee_id, first_added_at AS at FROM employee_contact
 WHERE external_userid = $1 AND first_added_at IS NOT NULL
UNION ALL SELECT employee_id, occurred_at FROM contact_event WHERE external_userid = $1
UNION ALL SELECT employee_id, sent_at FROM message WHERE external_userid = $1
"""
ADDS_SQL = """
SELECT employee_id, occurred_at FROM contact_event
 WHERE external_userid = $1 AND change_type = ANY($2::text[])
"""
UNIONID_SQL = "SELECT unionid FROM contact WHERE external_userid = $1"
# The relations of the other contacts whose staff account goes with the erased one's
# (ERASE_STAFF_SQL: HR's rows naming it, or its unionid): a contact such a row names, and one
# whose profile carries such a row's unionid. Judged again without it.
SAME_PERSON_SQL = """
WITH gone AS (
  SELECT unionid, external_userid FROM staff_account
   WHERE external_userid = $1 OR ($2::text IS NOT NULL AND unionid = $2))
SELECT r.employee_id, r.external_userid, r.first_added_at AS at FROM employee_contact r
 WHERE r.external_userid <> $1
   AND (r.external_userid IN (SELECT external_userid FROM gone)
        OR r.external_userid IN (SELECT c.external_userid FROM contact c
                                   JOIN gone g ON c.unionid = g.unionid))
"""
# Facts about the contact, each DELETE counted by table (relation_standing after `settle`).
ERASE_FACTS: tuple[tuple[str, str], ...] = (
    ("contact_event", "DELETE FROM contact_event WHERE external_userid = $1"),
    ("message", "DELETE FROM message WHERE external_userid = $1"),
    ("contact_removal", "DELETE FROM contact_removal WHERE external_userid = $1"),
    ("contact_verdict", "DELETE FROM contact_verdict WHERE external_userid = $1"),
    ("employee_contact", "DELETE FROM employee_contact WHERE external_userid = $1"),
    ("contact", "DELETE FROM contact WHERE external_userid = $1"),
)
# HR's record of an employee's own WeChat that is this contact (by its id or its unionid).
ERASE_STAFF_SQL = """
DELETE FROM staff_account WHERE external_userid = $1 OR ($2::text IS NOT NULL AND unionid = $2)
"""
ERASE_STANDINGS_SQL = "DELETE FROM relation_standing WHERE external_userid = $1"
CLOSED_OR_PURGED_SQL = """
SELECT period, 'closed' AS why FROM period_close WHERE period = ANY($1::text[])
UNION SELECT period, 'purged' FROM purged_period WHERE period = ANY($1::text[])
"""
CARRY_SQL = f"""
INSERT INTO erasure_carry AS c (employee_id, period, {", ".join(tally.ADDED)}, tiers)
SELECT x.employee_id, x.period, {", ".join(f"x.{c}" for c in tally.ADDED)}, x.tiers::jsonb
  FROM unnest($1::text[], $2::text[], {
    ", ".join(f"${i + 3}::int[]" for i in range(len(tally.ADDED)))
}, ${len(tally.ADDED) + 3}::text[]) AS x(employee_id, period, {", ".join(tally.ADDED)}, tiers)
ON CONFLICT (employee_id, period) DO UPDATE SET
    {", ".join(f"{c} = c.{c} + EXCLUDED.{c}" for c in tally.ADDED)},
    tiers = wq_add_counts(c.tiers, EXCLUDED.tiers)
"""  # noqa: S608 - constant column names
MESSAGES_SQL = """
SELECT employee_id, external_userid, sent_at, direction, kind FROM message
 WHERE external_userid = $1
"""
# Where a score's explanation quotes the contact: its JSON string, exactly.
SCRUB_REASONS_SQL = """
UPDATE employee_period_score SET reasons = replace(reasons::text, $1, $2)::jsonb
 WHERE employee_id = ANY($3::text[]) AND strpos(reasons::text, $1) > 0
"""
DROP_CACHED_SQL = "DELETE FROM period_aggregate WHERE strpos(value::text, $1) > 0"
# The review cases' snapshots of that evidence (services/scorer/review, migration 0019).
SCRUB_CASES_SQL = (
    (
        "review_case",
        """UPDATE review_case SET reasons = replace(reasons::text, $1, $2)::jsonb
            WHERE employee_id = ANY($3::text[]) AND strpos(reasons::text, $1) > 0""",
    ),
    (
        "review_case_link",
        """UPDATE review_case_link SET reasons = replace(reasons::text, $1, $2)::jsonb
            WHERE employee_id = ANY($3::text[]) AND strpos(reasons::text, $1) > 0""",
    ),
)
CASE_EXAMPLES_SQL = """
SELECT c.case_id, c.reasons::text AS reasons
  FROM review_case c JOIN purged_period p USING (period)
 WHERE c.reasons @? '$.**.examples[*]'"""
WRITE_CASE_REASONS_SQL = "UPDATE review_case SET reasons = $2::text::jsonb WHERE case_id = $1"
LINK_EXAMPLES_SQL = """
SELECT l.employee_id, l.period, l.reasons::text AS reasons
  FROM review_case_link l JOIN purged_period p USING (period)
 WHERE l.reasons @? '$.**.examples[*]'"""
WRITE_LINK_REASONS_SQL = """
UPDATE review_case_link SET reasons = $3::text::jsonb WHERE employee_id = $1 AND period = $2"""
LIST_SQL = """
INSERT INTO erased_contact (contact_hmac, erased_at) VALUES ($1, $2)
ON CONFLICT (contact_hmac) DO NOTHING RETURNING erasure_id
"""
BUMP_SQL = "UPDATE contact_governance SET generation = generation + 1"


class RulesDifferError(RuntimeError):
    """The erasure would judge relations under other rules than the scorer's."""


@dataclass
class Erased:
    rows: Counter[str] = field(default_factory=Counter)
    open_periods: list[str] = field(default_factory=list)
    closed_periods: list[str] = field(default_factory=list)
    already_listed: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "rows": dict(sorted((t, n) for t, n in self.rows.items() if n)),
            "open_periods_recounted": self.open_periods,
            "closed_periods_kept": self.closed_periods,
            "already_listed": self.already_listed,
        }


async def erase(
    conn: Connection,
    scorer: Scorer,
    external_userid: str,
    hash_of: Callable[[str], str],
    now: datetime,
) -> Erased:
    """Erase `external_userid` from the scorer's tables and list it (and its WeChat unionid,
    when a profile gave one) by `hash_of` (shared.governance.contact_hmac), in the caller's
    transaction. Refuses (RulesDifferError) when `scorer`'s rules are not the ones the scorer
    judged the standings under (the command runs with the scorer's settings)."""
    await hold_exclusive(conn)
    stored = await conn.fetchval(RULES_SQL)
    if stored is not None and stored != tally.rules_fingerprint(scorer):
        raise RulesDifferError(
            "the scoring settings here (RETENTION_DAYS, PROFILE_WAIT_HOURS, COUNT_*, "
            "BUSINESS_TIMEZONE, …) differ from those the scorer judges under: run the command "
            "with the scorer's environment"
        )
    tz = scorer.calendar.tz
    out = Erased()
    unionid = await conn.fetchval(UNIONID_SQL, external_userid)
    # other contacts lose the staff account erased with this one (the same person's)
    same_person = await conn.fetch(SAME_PERSON_SQL, external_userid, unionid)
    employees = sorted(r["employee_id"] for r in await conn.fetch(EMPLOYEES_SQL, external_userid))
    await tally.hold(conn, [*employees, *(r["employee_id"] for r in same_person)])
    pairs = [(r[0], r[1]) for r in await conn.fetch(PAIRS_SQL, external_userid)]
    pairs += [(r[0], r[1]) for r in same_person]
    judged = await tally.with_cap_groups(conn, scorer, pairs)  # the day's others, under a cap
    touched: set[tuple[str, str]] = set()
    for r in [*await conn.fetch(TIMES_SQL, external_userid), *same_person]:
        if r["at"] is not None:
            touched.update((r["employee_id"], k) for k in period_keys(r["at"], tz))
    gross: Counter[tuple[str, str]] = Counter()
    adds = sorted(c.value for c in ADD_CHANGES)
    for r in await conn.fetch(ADDS_SQL, external_userid, adds):
        for k in period_keys(r["occurred_at"], tz):
            gross[(r["employee_id"], k)] += 1
    messages = [
        (r[0], r[1], r[2], r[3], r[4]) for r in await conn.fetch(MESSAGES_SQL, external_userid)
    ]

    for table, statement in ERASE_FACTS:
        out.rows[table] += _count(await conn.execute(statement, external_userid))
    out.rows["staff_account"] += _count(
        await conn.execute(ERASE_STAFF_SQL, external_userid, unionid)
    )
    # the relations judged again without the contact's facts: its own count nowhere any more
    changes = await tally.settle(conn, scorer, judged, now)
    for key, n in gross.items():
        changes.setdefault(key, Counter())["gross_adds"] -= n
    # its chat-days counted again without its messages, which count no more
    chat_changes, replies = await chats.settle(conn, messages, tz, sign=-1)
    tally.merged(changes, chat_changes)
    out.rows["relation_standing"] += _count(
        await conn.execute(ERASE_STANDINGS_SQL, external_userid)
    )
    periods = sorted({k for _, k in (*changes, *touched)})
    kept: dict[str, str] = {}
    for r in await conn.fetch(CLOSED_OR_PURGED_SQL, periods):  # purged wins: frozen
        if kept.get(r["period"]) != "purged":
            kept[r["period"]] = r["why"]
    live = {k: d for k, d in changes.items() if k[1] not in kept}
    carried = {k: d for k, d in changes.items() if kept.get(k[1]) == "closed"}
    moved = await tally.count(conn, live)
    moved |= tally.keys_of(await chats.medians(conn, {k for k in replies if k[1] not in kept}))
    await tally.sync_scores(conn, scorer, moved, now)
    await repository.mark_dirty(conn, moved | {k for k in touched if k[1] not in kept})
    await _carry(conn, carried)
    out.open_periods = sorted({k for _, k in (*live, *touched) if k not in kept})
    out.closed_periods = sorted({k for k, why in kept.items() if why == "closed"})

    quoted = orjson.dumps(external_userid).decode()
    scrubbed = await conn.execute(
        SCRUB_REASONS_SQL, quoted, orjson.dumps(ERASED).decode(), employees
    )
    out.rows["employee_period_score (evidence)"] += _count(scrubbed)
    for table, statement in SCRUB_CASES_SQL:  # the review cases' evidence snapshots
        done = await conn.execute(statement, quoted, orjson.dumps(ERASED).decode(), employees)
        out.rows[f"{table} (evidence)"] += _count(done)
    out.rows["period_aggregate"] += _count(await conn.execute(DROP_CACHED_SQL, quoted))
    out.already_listed = await conn.fetchval(LIST_SQL, hash_of(external_userid), now) is None
    if unionid:  # the same person, by the id WeChat gives them across apps
        await conn.execute(LIST_SQL, hash_of(unionid), now)
    await conn.execute(BUMP_SQL)
    return out


async def _carry(conn: Connection, carried: dict[tuple[str, str], Counter[str]]) -> None:
    """What the erasure changed in closed periods (the erased relations and add events, and
    the relations judged again without the staff accounts that went with them): the negation
    of those changes (a recount after the erasure plus this is what the closed period kept)."""
    rows: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for key, delta in carried.items():
        rows[key].subtract(delta)
    keys = sorted(k for k, d in rows.items() if any(d.values()))
    if keys:
        await conn.execute(
            CARRY_SQL,
            [k[0] for k in keys],
            [k[1] for k in keys],
            *([rows[k][c] for k in keys] for c in tally.ADDED),
            [orjson.dumps(tier_changes(rows[k])).decode() for k in keys],
        )


def _count(status: str) -> int:
    """The row count of a command status (`DELETE 3`, `UPDATE 2`)."""
    return int(status.split()[-1])

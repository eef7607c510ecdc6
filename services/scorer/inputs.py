"""Reading what a period's scores are computed from: the org as it was, the targets, each
relation whose first add falls in the period (with its contact, removals and engagement),
gross counts and chat statistics. Bulk reads for a list of employees at once."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.scorer.domain import anomaly
from services.scorer.domain.anomaly import (
    CONVERSATION_MESSAGES,
    EmployeeTally,
    PeerBaseline,
    PeriodTail,
)
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.dense_block import Add
from services.scorer.domain.quality import ChatStats
from services.scorer.domain.validity import HANDOVER_MATCH, ContactFacts, Removal
from shared.calendar import Period
from shared.db import Connection


@dataclass(frozen=True)
class OrgRow:
    employee_id: str
    branch_id: str
    team_id: str
    supervisor_id: str | None
    role: str
    active: bool
    target: int | None


_ORG_FIELDS = tuple(f.name for f in fields(OrgRow))
ORG_BY_PERIOD_SQL = """
WITH ids AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
                        AS x(employee_id, period, ends)),
org AS (
  SELECT DISTINCT ON (ids.employee_id, ids.period) ids.period, o.*
    FROM employee_org o JOIN ids USING (employee_id)
   ORDER BY ids.employee_id, ids.period, (o.effective_at < ids.ends) DESC,
            CASE WHEN o.effective_at < ids.ends THEN o.effective_at END DESC NULLS LAST,
            o.effective_at ASC
)
SELECT org.period, org.employee_id, org.branch_id, org.team_id, org.supervisor_id, org.role,
       org.active, COALESCE(te.value, tt.value, tb.value, tr.value) AS target
  FROM org
  LEFT JOIN target te ON te.scope = 'employee' AND te.scope_id = org.employee_id
                     AND te.period = org.period AND te.metric = 'valid_adds'
  LEFT JOIN target tt ON tt.scope = 'team' AND tt.scope_id = org.team_id
                     AND tt.period = org.period AND tt.metric = 'valid_adds'
  LEFT JOIN target tb ON tb.scope = 'branch' AND tb.scope_id = org.branch_id
                     AND tb.period = org.period AND tb.metric = 'valid_adds'
  LEFT JOIN target tr ON tr.scope = 'role' AND tr.scope_id = org.role
                     AND tr.period = org.period AND tr.metric = 'valid_adds'
"""


async def org_rows_by_period(
    conn: Connection, keys: Sequence[tuple[str, Period]], tz: ZoneInfo
) -> list[tuple[str, OrgRow]]:
    """`org_rows` for many (employee, period) pairs at once: (period key, org row)."""
    if not keys:
        return []
    rows = await conn.fetch(
        ORG_BY_PERIOD_SQL,
        [e for e, _ in keys],
        [p.key for _, p in keys],
        [p.end_at(tz) for _, p in keys],
    )
    # positionally (a batch reads thousands): the columns after `period` are OrgRow's fields
    if rows and tuple(rows[0].keys()) != ("period", *_ORG_FIELDS):
        raise RuntimeError("the org columns are not OrgRow's fields in order")
    return [(r[0], OrgRow(*r[1:])) for r in rows]


async def org_rows(
    conn: Connection, period: Period, ids: Sequence[str], tz: ZoneInfo
) -> list[OrgRow]:
    """The org record in effect at the period's end (the earliest one when the employee's first
    record came later), with the most specific target: employee > team > branch > role."""
    return [o for _, o in await org_rows_by_period(conn, [(e, period) for e in ids], tz)]


# What a relation's facts need beyond its row and its contact's: looked up per relation. The
# batch that judges a relation stores their values with its standing (`tally.settle`), and the
# reads of whole periods take them from there (`stored`); a relation without them (judged before
# they were stored, or not judged yet) has them looked up as it is read.
_LOOKUPS = {
    "staff_account_of": """COALESCE((SELECT min(s.employee_id) FROM staff_account s
                  WHERE s.external_userid = r.external_userid),
                (SELECT min(s.employee_id) FROM staff_account s
                  WHERE s.unionid = c.unionid))""",
    "handed_over": """EXISTS (SELECT 1 FROM contact_removal x
                WHERE x.external_userid = r.external_userid AND x.source = 'DELETE_BY_TRANSFER'
                  AND x.employee_id <> r.employee_id
                  AND x.removed_at BETWEEN r.first_added_at - $HANDOVER::interval
                                       AND r.first_added_at + $HANDOVER::interval)""",
    "review": """(SELECT v.verdict FROM contact_verdict v
         WHERE v.employee_id = r.employee_id AND v.external_userid = r.external_userid)""",
    "removals": """COALESCE((SELECT array_agg(ROW(x.removed_at, x.removed_by, x.source)
                                 ORDER BY x.removed_at)
                   FROM contact_removal x
                  WHERE x.employee_id = r.employee_id AND x.external_userid = r.external_userid
                    AND x.removed_at >= r.first_added_at), '{}')""",
}
LOOKED_UP = tuple(_LOOKUPS)
"""The facts kept with a relation's standing: all but the removals as they are; of those,
only whether there are any (`removed_since_add`): most relations have none, and the few that
do read them."""


def _stored(name: str) -> str:
    if name == "removals":
        return (
            f"CASE WHEN d.derived AND NOT d.removed_since_add THEN '{{}}' ELSE {_LOOKUPS[name]} END"
        )
    return f"CASE WHEN d.derived THEN d.{name} ELSE {_LOOKUPS[name]} END"


_STANDING_JOIN = """  LEFT JOIN relation_standing d
    ON d.employee_id = r.employee_id AND d.external_userid = r.external_userid
"""


# Columns in ContactFacts' field order: rows become facts positionally (the hot loop of a
# recompute); `new_to_bank` and `removals` are converted on the way. A campaign is looked up
# only for an add with a channel state (none can match one without): probing the employee's
# team for every relation was a third of the read of relations that had none.
def _relation_facts_sql(handover: str, stored: bool) -> str:
    """The facts of relations (r: employee_contact, c: its contact), `handover` the parameter
    holding HANDOVER_MATCH; a WHERE or JOIN on `r` follows. `stored`: the lookups as the
    relations' standings keep them (d), where they do; else each looked up."""
    lookup = _stored if stored else _LOOKUPS.__getitem__
    standing = _STANDING_JOIN if stored else ""
    return f"""
SELECT r.employee_id, r.external_userid, r.first_added_at, r.add_count,
       c.contact_type, c.corp_name, c.is_customer, c.customer_tier, c.assigned_employee_id,
       r.state, r.add_way, r.first_customer_msg_at, r.customer_msgs, r.one_to_one_msgs,
       r.mass_msgs,
       COALESCE(c.first_employee_id = r.employee_id AND c.first_added_at = r.first_added_at,
                false) AS new_to_bank,
       c.profile_found,
       {lookup("staff_account_of")} AS staff_account_of,
       {lookup("handed_over")} AS handed_over,
       {lookup("review")} AS review,
       CASE WHEN r.state IS NOT NULL THEN (SELECT min(g.name) FROM campaign g
         WHERE g.state = r.state
           AND r.first_added_at >= g.starts_at AND r.first_added_at < g.ends_at
           AND g.team_id = (SELECT e.team_id FROM employee e
                             WHERE e.employee_id = r.employee_id)) END AS campaign,
       {lookup("removals")} AS removals,
       EXISTS (SELECT 1 FROM employee e WHERE e.employee_id = r.external_userid)
         AS is_employee_account,
       r.seen_at
  FROM employee_contact r
  LEFT JOIN contact c USING (external_userid)
{standing}""".replace("$HANDOVER", handover)  # noqa: S608 - constant lookups


_PERIOD_WHERE = (
    " WHERE r.employee_id = ANY($1::text[]) AND r.first_added_at >= $2 AND r.first_added_at < $3"
)
RELATIONS_SQL = _relation_facts_sql("$4", stored=True) + _PERIOD_WHERE
LIVE_RELATIONS_SQL = _relation_facts_sql("$4", stored=False) + _PERIOD_WHERE
PAIRS_SQL = (
    _relation_facts_sql("$3", stored=False)
    + " JOIN unnest($1::text[], $2::text[]) AS x(e, u)"
    + " ON r.employee_id = x.e AND r.external_userid = x.u WHERE r.first_added_at IS NOT NULL"
)
_FACT_FIELDS = tuple(f.name for f in fields(ContactFacts))


def _removals(raw: Sequence[tuple[datetime, str, str | None]]) -> tuple[Removal, ...]:
    """From (removed_at, removed_by, source) records, decoded by asyncpg (timestamps too)."""
    if not raw:  # most relations
        return ()
    return tuple(Removal(at, by, source or None) for at, by, source in raw)


async def relations(
    conn: Connection, period: Period, ids: Sequence[str], tz: ZoneInfo, live: bool = False
) -> list[ContactFacts]:
    """The relations of `ids` whose first add is in `period`; `live`: every lookup made
    afresh, none taken from the standings (what the verifier checks them against)."""
    rows = await conn.fetch(
        LIVE_RELATIONS_SQL if live else RELATIONS_SQL,
        list(ids),
        period.start_at(tz),
        period.end_at(tz),
        HANDOVER_MATCH,
    )
    return _facts(rows)


async def relations_by_pair(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> list[ContactFacts]:
    """The relations (employee_id, external_userid) asked for that have been added, every
    lookup made afresh (they are judged from these, and their standings keep them)."""
    if not pairs:
        return []
    rows = await conn.fetch(PAIRS_SQL, [p[0] for p in pairs], [p[1] for p in pairs], HANDOVER_MATCH)
    return _facts(rows)


def _facts(rows: Sequence[Any]) -> list[ContactFacts]:
    if rows and tuple(rows[0].keys()) != _FACT_FIELDS:
        raise RuntimeError("the relation facts' columns are not ContactFacts' fields in order")
    head = len(_FACT_FIELDS) - 3  # the columns taken as they are (checked above)
    taken = _FACT_FIELDS[:head]
    out: list[ContactFacts] = []
    for r in rows:
        # The refresh decodes every relation of the periods it recomputes (hundreds of
        # thousands a minute under load): filled as the frozen dataclass's __init__ would,
        # field by field by name, in a third of its time (its __init__ sets each of the 24
        # fields through object.__setattr__).
        facts = object.__new__(ContactFacts)
        held = facts.__dict__
        held.update(zip(taken, r[:head], strict=True))
        held["removals"] = _removals(r[head])
        held["is_employee_account"] = r[head + 1]
        held["seen_at"] = r[head + 2]
        out.append(facts)
    return out


_TRACES = """
SELECT m.employee_id, m.external_userid, m.sent_at, m.direction = 'from_customer' AS from_contact
  FROM {relations} r
  JOIN message m ON m.employee_id = r.employee_id AND m.external_userid = r.external_userid
                AND m.kind = 'one_to_one' AND m.sent_at >= $2
 WHERE r.employee_id = ANY($1::text[]) AND r.first_added_at >= $2 AND r.first_added_at < $3
   {only}
 ORDER BY m.employee_id, m.external_userid, m.sent_at, m.message_id
"""
CHAT_TRACES_SQL = _TRACES.format(relations="employee_contact", only="")
TALKER_TRACES_SQL = _TRACES.format(
    relations="relation_standing", only="AND r.conversation AND NOT r.customer"
)
"""`CHAT_TRACES_SQL` of the talkers alone (non-customers who wrote twice or more: every contact
whose cadence can be tested is one), by their standings."""


async def chat_traces(
    conn: Connection, period: Period, ids: Sequence[str], tz: ZoneInfo, talkers: bool = False
) -> dict[str, dict[str, ChatTrace]]:
    """Per employee and contact first added in `period`, the one-to-one messages (metadata:
    when, which side) from the period's start on, in a fixed order: what `cadence.py` and the
    segment's exchanges are read from. `talkers`: of non-customers who wrote twice or more
    alone (whose cadence can be tested: `SCRIPTED_CHAT`, `anomaly.from_features`)."""
    sql = TALKER_TRACES_SQL if talkers else CHAT_TRACES_SQL
    rows = await conn.fetch(sql, list(ids), period.start_at(tz), period.end_at(tz))
    grouped: dict[str, dict[str, list[tuple[datetime, bool]]]] = {}
    for r in rows:
        by_contact = grouped.setdefault(r["employee_id"], {})
        by_contact.setdefault(r["external_userid"], []).append((r["sent_at"], r["from_contact"]))
    return {
        e: {c: ChatTrace(c, tuple(m)) for c, m in contacts.items()}
        for e, contacts in grouped.items()
    }


CAMPAIGN_TEAMS_SQL = """
SELECT e.employee_id FROM employee e
 WHERE e.employee_id = ANY($1::text[])
   AND EXISTS (SELECT 1 FROM campaign g
                WHERE g.team_id = e.team_id AND g.starts_at < $3 AND g.ends_at > $2)
"""


async def with_campaigns(
    conn: Connection, period: Period, ids: Sequence[str], tz: ZoneInfo
) -> set[str]:
    """Those of `ids` whose team has a campaign (ops register them, `campaign`) overlapping
    `period`: some of their adds there may have come through it (the kept anomaly features
    leave campaigns out, `anomaly.from_features`)."""
    if not ids:
        return set()
    rows = await conn.fetch(CAMPAIGN_TEAMS_SQL, list(ids), period.start_at(tz), period.end_at(tz))
    return {r["employee_id"] for r in rows}


async def stated_segments(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """The segment the `employee` records state (migration 0023), where they do."""
    rows = await conn.fetch(
        "SELECT employee_id, segment FROM employee "
        "WHERE employee_id = ANY($1::text[]) AND segment IS NOT NULL",
        list(ids),
    )
    return {r["employee_id"]: r["segment"] for r in rows}


async def gross_adds(conn: Connection, period: Period, ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT employee_id, gross_adds FROM quota_counter "
        "WHERE period = $1 AND employee_id = ANY($2::text[])",
        period.key,
        list(ids),
    )
    return {r["employee_id"]: r["gross_adds"] for r in rows}


CHATS_SQL = """
WITH m AS (
  SELECT employee_id, external_userid, sent_at, direction, kind,
         min(sent_at) FILTER (WHERE direction = 'from_customer' AND kind = 'one_to_one')
           OVER (PARTITION BY employee_id, external_userid,
                              (sent_at AT TIME ZONE $4)::date) AS asked
    FROM message
   WHERE employee_id = ANY($1::text[]) AND sent_at >= $2 AND sent_at < $3
),
chat_days AS (
  SELECT employee_id, asked,
         min(sent_at) FILTER (WHERE direction = 'to_customer' AND kind = 'one_to_one'
                                AND sent_at >= asked) AS reply
    FROM m WHERE asked IS NOT NULL
   GROUP BY employee_id, external_userid, asked
),
chat AS (
  SELECT employee_id, count(*) AS chats, count(reply) AS answered,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM reply - asked))
           FILTER (WHERE reply IS NOT NULL) AS median_reply
    FROM chat_days GROUP BY employee_id
),
sent AS (
  SELECT employee_id,
         count(*) FILTER (WHERE kind = 'one_to_one') AS one_to_one,
         count(*) FILTER (WHERE kind = 'mass') AS mass
    FROM m WHERE direction = 'to_customer' GROUP BY employee_id
)
SELECT COALESCE(chat.employee_id, sent.employee_id) AS employee_id,
       COALESCE(chat.chats, 0) AS chats, COALESCE(chat.answered, 0) AS answered,
       chat.median_reply, COALESCE(sent.one_to_one, 0) AS one_to_one,
       COALESCE(sent.mass, 0) AS mass
  FROM chat FULL JOIN sent USING (employee_id)
"""


async def chat_stats(
    conn: Connection, period: Period, ids: Sequence[str], tz: ZoneInfo
) -> dict[str, ChatStats]:
    rows = await conn.fetch(CHATS_SQL, list(ids), period.start_at(tz), period.end_at(tz), tz.key)
    return {
        r["employee_id"]: ChatStats(
            customer_chats=r["chats"],
            answered_same_day=r["answered"],
            median_first_reply_seconds=(
                round(r["median_reply"], 1) if r["median_reply"] is not None else None
            ),
            one_to_one_sent=r["one_to_one"],
            mass_sent=r["mass"],
        )
        for r in rows
    }


# One row per employee with adds in the period: the counts of `anomaly.tally`, with `hollow`
# as `anomaly.is_hollow` has it (not a matched customer, fewer than two customer messages).
_TALLIES = """
SELECT employee_id,
       count(*) FILTER (WHERE NOT hollow OR first_added_at + interval '7 days' <= $3) AS decided,
       count(*) FILTER (WHERE hollow AND first_added_at + interval '7 days' <= $3) AS hollow,
       count(*) FILTER (WHERE first_added_at < $4) AS early_adds,
       count(*) FILTER (WHERE hollow AND first_added_at < $4) AS early_hollow,
       count(*) FILTER (WHERE first_added_at >= $4) AS late_adds
  FROM r GROUP BY employee_id ORDER BY employee_id
"""
# Per local day, how many employees had how many hollow adds (`anomaly.HollowDays`): what the
# peers' median per day is taken from, without a row per employee and day leaving PostgreSQL.
_HOLLOW_DAYS = """
SELECT day, n, count(*)::int AS employees
  FROM (SELECT employee_id, (first_added_at AT TIME ZONE $3)::date AS day, count(*)::int AS n
          FROM r WHERE hollow GROUP BY 1, 2) AS d
 GROUP BY day, n
"""
_HOLLOW = f"(c.is_customer IS NOT TRUE AND r.customer_msgs < {CONVERSATION_MESSAGES})"
_RELATIONS = f"""
WITH r AS (
  SELECT r.employee_id, r.first_added_at, {_HOLLOW} AS hollow
    FROM employee_contact r
    LEFT JOIN contact c USING (external_userid)
   WHERE r.first_added_at >= $1 AND r.first_added_at < $2
)"""  # noqa: S608 - constants only
_STANDINGS = f"""
WITH r AS (
  SELECT s.employee_id, s.first_added_at,
         COALESCE(NOT (s.customer OR s.conversation),
                  (SELECT {_HOLLOW} FROM employee_contact r
                     LEFT JOIN contact c USING (external_userid)
                    WHERE r.employee_id = s.employee_id
                      AND r.external_userid = s.external_userid)) AS hollow
    FROM relation_standing s
   WHERE s.first_added_at >= $1 AND s.first_added_at < $2
)"""  # noqa: S608 - constants only
TALLY_SQL = _STANDINGS + _TALLIES
"""Every employee's tally of the period from the standings of its relations, by their first add
(`relation_standing_added`): whether each contact is a matched customer and holds a
conversation is kept there (migration 0028); a standing judged before that is looked up as
`RELATION_TALLY_SQL` does."""
HOLLOW_DAYS_SQL = _STANDINGS + _HOLLOW_DAYS
"""The period's hollow adds per day over the employees, from the standings as `TALLY_SQL`."""
RELATION_TALLY_SQL = _RELATIONS + _TALLIES
"""Every employee's tally of the period from the relations and their contacts (the verifier's
recount of `TALLY_SQL`)."""
RELATION_HOLLOW_DAYS_SQL = _RELATIONS + _HOLLOW_DAYS
"""The verifier's recount of `HOLLOW_DAYS_SQL`."""


@dataclass(frozen=True)
class Tallies:
    """What the peers' baseline of a period is built from."""

    employees: dict[str, EmployeeTally]
    """By employee id, every employee with adds in the period."""
    days: dict[date, dict[int, int]]
    """`anomaly.HollowDays`"""


async def tallies_of(
    conn: Connection,
    period: Period,
    tz: ZoneInfo,
    now: datetime,
    tail: PeriodTail,
    from_relations: bool = False,
) -> Tallies:
    """Every employee's tally of the period and the hollow adds per day over them: from the
    standings, or the slow way from the relations (the verifier). Both in one snapshot: the
    caller's transaction (the close's, which the writers of the period's standings wait for,
    or a repeatable-read one), or one of their own."""
    start, end = period.start_at(tz), period.end_at(tz)
    async with contextlib.AsyncExitStack() as stack:
        if not conn.is_in_transaction():  # both statements in one snapshot
            await stack.enter_async_context(
                conn.transaction(isolation="repeatable_read", readonly=True)
            )
        rows = await conn.fetch(
            RELATION_TALLY_SQL if from_relations else TALLY_SQL, start, end, now, tail.start
        )
        hollow = await conn.fetch(
            RELATION_HOLLOW_DAYS_SQL if from_relations else HOLLOW_DAYS_SQL, start, end, tz.key
        )
    days: dict[date, dict[int, int]] = {}
    for r in hollow:
        days.setdefault(r["day"], {})[r["n"]] = r["employees"]
    return Tallies(
        {
            r["employee_id"]: EmployeeTally(
                decided=r["decided"],
                hollow=r["hollow"],
                early_adds=r["early_adds"],
                early_hollow=r["early_hollow"],
                late_adds=r["late_adds"],
            )
            for r in rows
        },
        days,
    )


async def peer_baseline(
    conn: Connection, period: Period, tz: ZoneInfo, now: datetime, tail: PeriodTail | None
) -> PeerBaseline:
    """The peers' baseline from every employee's tally of the period; the prior
    (`PeerBaseline()`) when the period has no working days left to compare or too few peers."""
    if tail is None:
        return PeerBaseline()
    found = await tallies_of(conn, period, tz, now, tail)
    return anomaly.peer_baseline(
        list(found.employees.values()), tail.early_days, tail.days, PeerBaseline(), found.days
    )


OVERLAP_SQL = """
SELECT DISTINCT r.employee_id, r.external_userid, o.employee_id AS other
  FROM employee_contact r
  JOIN contact c ON c.external_userid = r.external_userid AND c.shared
  JOIN employee_contact o ON o.external_userid = r.external_userid
                         AND o.employee_id <> r.employee_id AND o.first_added_at IS NOT NULL
  LEFT JOIN employee er ON er.employee_id = r.employee_id
  LEFT JOIN employee eo ON eo.employee_id = o.employee_id
 WHERE r.employee_id = ANY($1::text[]) AND r.first_added_at >= $2 AND r.first_added_at < $3
   AND er.team_id IS DISTINCT FROM eo.team_id
"""


@dataclass(frozen=True)
class Overlap:
    """Contacts an employee shares with employees of other teams, both ways round: per
    contact, how many others added it (shared contacts); per other employee, how many of this
    employee's contacts they added (the edges of a dense block, mutual-add rings)."""

    shared: dict[str, int]
    partners: dict[str, int]


BANK_OVERLAP_SQL = """
SELECT DISTINCT r.employee_id, r.external_userid, o.employee_id AS other
  FROM contact c
  JOIN employee_contact r ON r.external_userid = c.external_userid
  JOIN employee_contact o ON o.external_userid = c.external_userid
                         AND o.employee_id <> r.employee_id AND o.first_added_at IS NOT NULL
  LEFT JOIN employee er ON er.employee_id = r.employee_id
  LEFT JOIN employee eo ON eo.employee_id = o.employee_id
 WHERE c.shared AND r.first_added_at >= $1 AND r.first_added_at < $2
   AND er.team_id IS DISTINCT FROM eo.team_id
"""
"""`OVERLAP_SQL` of every employee at once (the close), from the few shared contacts (as
`GRAPH_SQL`) rather than from each employee's relations."""


async def cross_team_overlap(
    conn: Connection,
    period: Period,
    ids: Sequence[str] | None,
    tz: ZoneInfo,
    min_partner: int = 3,
) -> dict[str, Overlap]:
    """By employee of `ids` (None: of every employee), its `Overlap` in `period`."""
    start, end = period.start_at(tz), period.end_at(tz)
    if ids is None:
        rows = await conn.fetch(BANK_OVERLAP_SQL, start, end)
    else:
        rows = await conn.fetch(OVERLAP_SQL, list(ids), start, end)
    shared: dict[str, dict[str, int]] = {}
    edges: dict[str, dict[str, int]] = {}
    for r in rows:
        e = r["employee_id"]
        by_contact = shared.setdefault(e, {})
        by_contact[r["external_userid"]] = by_contact.get(r["external_userid"], 0) + 1
        by_other = edges.setdefault(e, {})
        by_other[r["other"]] = by_other.get(r["other"], 0) + 1
    return {
        e: Overlap(shared[e], {o: n for o, n in edges[e].items() if n >= min_partner})
        for e in shared
    }


GRAPH_SQL = """
WITH r AS (
  SELECT r.employee_id, r.external_userid, c.is_customer, r.customer_msgs,
         count(*) OVER (PARTITION BY r.external_userid) AS degree
    FROM contact c
    JOIN employee_contact r ON r.external_userid = c.external_userid
   WHERE c.shared
     AND r.first_added_at >= $1 AND r.first_added_at < $2 AND r.add_way IS DISTINCT FROM 202
)
SELECT employee_id, external_userid, is_customer, customer_msgs FROM r WHERE degree >= 2
"""
"""A contact two employees added in the period is `shared` (migration 0013; every add makes its
contact's row first, `repository.mark_shared`): the period's relations of the few shared
contacts are read, by `contact_shared` and each contact's relations, not every relation of the
period joined with its contact."""


async def contact_graph(conn: Connection, period: Period, tz: ZoneInfo) -> list[Add]:
    """The period's employee–contact adds for the dense-block pass, each weighed by how
    suspicious it looks. Contacts only one employee added are left out (a block denser than
    a star never holds them) and so are handovers (add_way 202: not the employee's own add)."""
    rows = await conn.fetch(GRAPH_SQL, period.start_at(tz), period.end_at(tz))
    return [
        Add(
            r["employee_id"],
            r["external_userid"],
            anomaly.add_suspicion(r["is_customer"], r["customer_msgs"]),
        )
        for r in rows
    ]

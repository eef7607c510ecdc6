"""PostgreSQL adapter of the scorer: bulk statements (arrays + unnest), one round trip per
table per batch, never one per event."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.scorer.domain.anomaly import CONVERSATION_MESSAGES
from shared.db import Connection, filter_mask, filtered_statements
from shared.schemas import (
    ChangeType,
    ContactEvent,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    MessageRecord,
    StaffAccountRecord,
    TargetRecord,
)
from shared.sealed import KeyRing, robot_context


async def insert_new_events(conn: Connection, events: Sequence[ContactEvent]) -> list[ContactEvent]:
    """Store events by event_id; return only those not seen before (duplicates change nothing)."""
    events = list({e.event_id: e for e in reversed(events)}.values())[::-1]  # once per batch
    if not events:
        return []
    rows = await conn.fetch(
        """INSERT INTO contact_event
               (event_id, employee_id, external_userid, change_type, occurred_at, state, source)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                $5::timestamptz[], $6::text[], $7::text[])
           ON CONFLICT (event_id, occurred_at) DO NOTHING
           RETURNING event_id""",
        [e.event_id for e in events],
        [e.employee_id for e in events],
        [e.external_userid for e in events],
        [e.change_type.value for e in events],
        [e.occurred_at for e in events],
        [e.state for e in events],
        [e.source for e in events],
    )
    fresh = {r["event_id"] for r in rows}
    return [e for e in events if e.event_id in fresh]


def _latest_by(records: Sequence[Any], key: Any) -> list[Any]:
    """Within a batch only the latest record of an entity matters (by event time)."""
    latest: dict[Any, Any] = {}
    for r in records:
        k = key(r)
        if k not in latest or r.occurred_at >= latest[k].occurred_at:
            latest[k] = r
    return list(latest.values())


KEPT_APART = "(kept apart)"
"""`employee.robot_webhook` of an employee whose group robot `employee_robot` keeps (0014)."""

# A sealed robot URL beside the employee row this batch wrote (matched by the record's event
# id: an older record, whose upsert changed nothing, stores nothing); the same URL again is not
# sealed again, a URL staged in plain before is replaced by its sealed form.
STORE_SEALED_ROBOTS_SQL = """
INSERT INTO employee_robot AS r (employee_id, sealed, key_id, url_sha256, updated_at)
SELECT x.e, x.s, $3, x.h, $5
  FROM unnest($1::text[], $2::bytea[], $4::text[], $6::text[]) AS x(e, s, h, ev)
  JOIN employee w ON w.employee_id = x.e AND w.event_id = x.ev
ON CONFLICT (employee_id) DO UPDATE
   SET url_plain = NULL, sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id,
       url_sha256 = EXCLUDED.url_sha256, updated_at = EXCLUDED.updated_at
 WHERE r.url_sha256 <> EXCLUDED.url_sha256 OR r.url_plain IS NOT NULL
"""


async def upsert_employees(
    conn: Connection,
    records: Sequence[EmployeeRecord],
    now: datetime,
    robot_keys: KeyRing | None = None,
) -> None:
    """The latest record of each employee (an older one changes nothing). With `robot_keys`
    (NOTIFIER_ROBOT_KEYS) a group robot's URL is sealed here and stored sealed in
    `employee_robot`, never in plain; without, migration 0014's trigger moves it aside in plain
    for the notifier to seal."""
    rows = _latest_by(records, lambda r: r.employee_id)
    if not rows:
        return
    sealed = {
        r.employee_id: robot_keys.seal(r.robot_webhook, robot_context(r.employee_id))
        for r in rows
        if robot_keys is not None and r.robot_webhook
    }
    await conn.execute(
        """INSERT INTO employee (employee_id, name, branch_id, team_id, supervisor_id, role,
                                 active, robot_webhook, email, as_of, event_id, segment)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::bool[], $8::text[], $9::text[],
                                $10::timestamptz[], $11::text[], $12::text[])
           ON CONFLICT (employee_id) DO UPDATE SET
               name = EXCLUDED.name, branch_id = EXCLUDED.branch_id, team_id = EXCLUDED.team_id,
               supervisor_id = EXCLUDED.supervisor_id, role = EXCLUDED.role,
               active = EXCLUDED.active, robot_webhook = EXCLUDED.robot_webhook,
               email = EXCLUDED.email, as_of = EXCLUDED.as_of, event_id = EXCLUDED.event_id,
               segment = EXCLUDED.segment
           WHERE EXCLUDED.as_of >= employee.as_of""",
        [r.employee_id for r in rows],
        [r.name for r in rows],
        [r.branch_id for r in rows],
        [r.team_id for r in rows],
        [r.supervisor_id for r in rows],
        [r.role for r in rows],
        [r.active for r in rows],
        [KEPT_APART if r.employee_id in sealed else r.robot_webhook for r in rows],
        [r.email for r in rows],
        [r.occurred_at for r in rows],
        [r.event_id for r in rows],
        [r.segment for r in rows],
    )
    if robot_keys is not None and sealed:
        urls = [r for r in rows if r.employee_id in sealed]
        await conn.execute(
            STORE_SEALED_ROBOTS_SQL,
            [r.employee_id for r in urls],
            [sealed[r.employee_id] for r in urls],
            robot_keys.current,
            [hashlib.sha256(str(r.robot_webhook).encode()).hexdigest() for r in urls],
            now,
            [r.event_id for r in urls],
        )


TargetKey = tuple[str, str, str, str]
"""(scope, scope_id, period, metric)"""


async def upsert_targets(
    conn: Connection, records: Sequence[TargetRecord]
) -> list[tuple[TargetRecord, int | None]]:
    """Store the newest target of each key; returns the records that changed a stored value,
    each with the value it replaced (None: there was none)."""
    rows = _latest_by(records, lambda r: (r.scope, r.scope_id, r.period, r.metric))
    if not rows:
        return []
    columns = (
        [r.scope for r in rows],
        [r.scope_id for r in rows],
        [r.period for r in rows],
        [r.metric for r in rows],
    )
    before: dict[TargetKey, int] = {
        (t["scope"], t["scope_id"], t["period"], t["metric"]): t["value"]
        for t in await conn.fetch(
            """SELECT t.scope, t.scope_id, t.period, t.metric, t.value FROM target t
                 JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(s, i, p, m)
                   ON t.scope = x.s AND t.scope_id = x.i AND t.period = x.p AND t.metric = x.m
                ORDER BY 1, 2, 3, 4 FOR UPDATE OF t""",
            *columns,
        )
    }
    stored = await conn.fetch(
        """INSERT INTO target (scope, scope_id, period, metric, value, as_of)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                                $6::timestamptz[])
           ON CONFLICT (scope, scope_id, period, metric) DO UPDATE
              SET value = EXCLUDED.value, as_of = EXCLUDED.as_of
           WHERE EXCLUDED.as_of >= target.as_of
           RETURNING scope, scope_id, period, metric, value""",
        *columns,
        [r.value for r in rows],
        [r.occurred_at for r in rows],
    )
    by_key = {(r.scope, r.scope_id, r.period, r.metric): r for r in rows}
    changed = []
    for t in stored:
        key = (t["scope"], t["scope_id"], t["period"], t["metric"])
        if before.get(key) != t["value"]:
            changed.append((by_key[key], before.get(key)))
    return changed


async def upsert_relations_from_adds(
    conn: Connection, adds: Sequence[ContactEvent], seen_at: datetime
) -> list[tuple[str, Any]]:
    """Fold a batch's adds into the (employee, contact) relations; returns each touched
    relation's first add time (which a late, earlier add moves back)."""
    if not adds:
        return []
    latest: dict[tuple[str, str], ContactEvent] = {}
    count: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], datetime] = {}
    for e in adds:
        k = (e.employee_id, e.external_userid)
        count[k] = count.get(k, 0) + 1
        first[k] = min(first.get(k, e.occurred_at), e.occurred_at)
        if k not in latest or e.occurred_at >= latest[k].occurred_at:
            latest[k] = e
    keys = sorted(latest)
    rows = await conn.fetch(
        """INSERT INTO employee_contact AS c (employee_id, external_userid, first_added_at,
                   last_added_at, add_count, add_way, state, oper_userid, seen_at)
           SELECT *, $9::timestamptz FROM unnest($1::text[], $2::text[], $3::timestamptz[],
                                $4::timestamptz[], $5::int[], $6::int[], $7::text[], $8::text[])
           ON CONFLICT (employee_id, external_userid) DO UPDATE SET
               first_added_at = LEAST(c.first_added_at, EXCLUDED.first_added_at),
               last_added_at = GREATEST(c.last_added_at, EXCLUDED.last_added_at),
               add_count = c.add_count + EXCLUDED.add_count,
               -- a row made by a message or a profile before its add waits from the add
               seen_at = COALESCE(c.seen_at, EXCLUDED.seen_at),
               -- the latest add by event time describes the relation, whatever came first
               add_way = CASE WHEN c.last_added_at IS NULL
                                 OR EXCLUDED.last_added_at >= c.last_added_at
                              THEN COALESCE(EXCLUDED.add_way, c.add_way)
                              ELSE COALESCE(c.add_way, EXCLUDED.add_way) END,
               state = CASE WHEN c.last_added_at IS NULL
                                 OR EXCLUDED.last_added_at >= c.last_added_at
                            THEN COALESCE(EXCLUDED.state, c.state)
                            ELSE COALESCE(c.state, EXCLUDED.state) END,
               oper_userid = CASE WHEN c.last_added_at IS NULL
                                 OR EXCLUDED.last_added_at >= c.last_added_at
                                  THEN COALESCE(EXCLUDED.oper_userid, c.oper_userid)
                                  ELSE COALESCE(c.oper_userid, EXCLUDED.oper_userid) END
           RETURNING employee_id, first_added_at""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [first[k] for k in keys],
        [latest[k].occurred_at for k in keys],
        [count[k] for k in keys],
        [latest[k].add_way for k in keys],
        [latest[k].state or None for k in keys],
        [latest[k].oper_userid for k in keys],
        seen_at,
    )
    return [(r["employee_id"], r["first_added_at"]) for r in rows]


async def upsert_contacts_from_adds(
    conn: Connection, adds: Sequence[ContactEvent]
) -> list[tuple[str, Any]]:
    """Who added each contact first in the whole bank, and the profile enrichment carried.

    Returns (employee, first_added_at) of every employee who was the first adder until an
    earlier add arrived now (events arrive out of order): their "new to the bank" changed, so
    their scores must be recomputed too."""
    if not adds:
        return []
    first: dict[str, ContactEvent] = {}
    for e in adds:  # a tie (the same second): the lower employee id (code points, as "C")
        known = first.get(e.external_userid)
        if known is None or (e.occurred_at, e.employee_id) < (known.occurred_at, known.employee_id):
            first[e.external_userid] = e
    enriched: dict[str, ContactEvent] = {e.external_userid: e for e in adds if e.enriched}
    ids = sorted(first)
    # Lock the known contacts first and read who was first (a statement's own CTE cannot:
    # FOR UPDATE skips rows the same statement modifies). Another instance changing one of
    # them waits for this transaction, so the values read here are the latest. (Joined with
    # unnest, not `= ANY($1)`: under statistics taken while the table was nearly empty, a new
    # bank's first minutes, that read the whole table and compared each row with the whole
    # array, 1 s a batch of 4,000.)
    prior = {
        r["external_userid"]: (r["first_employee_id"], r["first_added_at"])
        for r in await conn.fetch(
            """SELECT c.external_userid, c.first_employee_id, c.first_added_at FROM contact c
                 JOIN unnest($1::text[]) AS x(u) ON c.external_userid = x.u
                ORDER BY c.external_userid
                  FOR UPDATE OF c""",
            ids,
        )
    }
    rows = await conn.fetch(
        """INSERT INTO contact AS c (external_userid, first_added_at, first_employee_id,
                   contact_type, corp_name, unionid, profile_at, profile_found)
           SELECT x.*, CASE WHEN x.profile_at IS NOT NULL THEN true END
             FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::smallint[],
                         $5::text[], $6::text[], $7::timestamptz[])
                  AS x(external_userid, first_added_at, first_employee_id, contact_type,
                       corp_name, unionid, profile_at)
           ON CONFLICT (external_userid) DO UPDATE SET
               first_employee_id = CASE WHEN c.first_added_at IS NULL
                                          OR EXCLUDED.first_added_at < c.first_added_at
                                          OR (EXCLUDED.first_added_at = c.first_added_at
                                              AND EXCLUDED.first_employee_id COLLATE "C"
                                                  < c.first_employee_id COLLATE "C")
                                        THEN EXCLUDED.first_employee_id
                                        ELSE c.first_employee_id END,
               first_added_at = LEAST(c.first_added_at, EXCLUDED.first_added_at),
               contact_type = COALESCE(EXCLUDED.contact_type, c.contact_type),
               corp_name = COALESCE(EXCLUDED.corp_name, c.corp_name),
               unionid = COALESCE(EXCLUDED.unionid, c.unionid),
               profile_at = GREATEST(c.profile_at, EXCLUDED.profile_at),
               profile_found = COALESCE(EXCLUDED.profile_found, c.profile_found)
           RETURNING c.external_userid, c.first_employee_id""",
        ids,
        [first[i].occurred_at for i in ids],
        [first[i].employee_id for i in ids],
        [enriched[i].contact_type if i in enriched else None for i in ids],
        [enriched[i].corp_name if i in enriched else None for i in ids],
        [enriched[i].unionid if i in enriched else None for i in ids],
        [enriched[i].occurred_at if i in enriched else None for i in ids],
    )
    displaced = []
    for r in rows:
        before = prior.get(r["external_userid"])
        if before and before[0] is not None and before[0] != r["first_employee_id"]:
            displaced.append(before)
    return displaced


async def mark_shared(conn: Connection, relations: Sequence[Relation]) -> None:
    """Contacts that two or more employees have added, among these relations (every relation
    of their contacts, read while holding the contacts' rows: a batch adding the same contact
    elsewhere commits before or after this one, and the later one sees both adds)."""
    adders: dict[str, set[str]] = {}
    for employee_id, external_userid, first_added in relations:
        if first_added is not None:
            adders.setdefault(external_userid, set()).add(employee_id)
    shared = sorted(u for u, who in adders.items() if len(who) > 1)
    if shared:
        await conn.execute(
            "UPDATE contact SET shared = true"
            " WHERE external_userid = ANY($1::text[]) AND NOT shared",
            shared,
        )


async def insert_removals(conn: Connection, removals: Sequence[ContactEvent]) -> list[Relation]:
    if not removals:
        return []
    await conn.execute(
        """INSERT INTO contact_removal
               (employee_id, external_userid, removed_at, removed_by, source)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
           ON CONFLICT DO NOTHING""",
        [e.employee_id for e in removals],
        [e.external_userid for e in removals],
        [e.occurred_at for e in removals],
        [
            "employee" if e.change_type is ChangeType.DELETE_BY_EMPLOYEE else "customer"
            for e in removals
        ],
        [e.source for e in removals],
    )
    return await _relations(conn, [(e.employee_id, e.external_userid) for e in removals])


Relation = tuple[str, str, Any]
"""(employee_id, external_userid, first_added_at) of a stored relation."""


async def _relations(conn: Connection, pairs: Sequence[tuple[str, str]]) -> list[Relation]:
    if not pairs:
        return []
    rows = await conn.fetch(
        """SELECT c.employee_id, c.external_userid, c.first_added_at FROM employee_contact c
             JOIN unnest($1::text[], $2::text[]) AS x(e, u)
               ON c.employee_id = x.e AND c.external_userid = x.u""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return [(r["employee_id"], r["external_userid"], r["first_added_at"]) for r in rows]


async def lock_contacts(conn: Connection, contacts: set[str]) -> None:
    """Lock these contacts' rows, in key order, until the transaction ends; a contact without
    a row gets a bare one (every column but its id NULL, as a profile or an add would find
    it), locked too: another transaction adding it waits for this one, or this one for it."""
    if contacts:
        # DO UPDATE ... WHERE false changes nothing but locks the row it finds
        await conn.execute(
            """INSERT INTO contact AS c (external_userid)
               SELECT u FROM unnest($1::text[]) AS x(u) ORDER BY u
               ON CONFLICT (external_userid) DO UPDATE SET external_userid = c.external_userid
               WHERE false""",
            sorted(contacts),
        )


async def relations_of(conn: Connection, contacts: set[str]) -> list[Relation]:
    if not contacts:
        return []
    rows = await conn.fetch(
        """SELECT c.employee_id, c.external_userid, c.first_added_at FROM employee_contact c
             JOIN unnest($1::text[]) AS x(u) ON c.external_userid = x.u""",
        sorted(contacts),
    )
    return [(r["employee_id"], r["external_userid"], r["first_added_at"]) for r in rows]


async def insert_new_messages(
    conn: Connection, messages: Sequence[MessageRecord]
) -> list[MessageRecord]:
    messages = list({m.message_id: m for m in reversed(messages)}.values())[::-1]
    if not messages:
        return []
    rows = await conn.fetch(
        """INSERT INTO message (message_id, sent_at, employee_id, external_userid, direction, kind)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
                                $5::text[], $6::text[])
           ON CONFLICT DO NOTHING
           RETURNING message_id""",
        [m.message_id for m in messages],
        [m.sent_at for m in messages],
        [m.employee_id for m in messages],
        [m.external_userid for m in messages],
        [m.direction for m in messages],
        [m.kind for m in messages],
    )
    fresh = {r["message_id"] for r in rows}
    return [m for m in messages if m.message_id in fresh]


async def add_engagement(
    conn: Connection, messages: Sequence[MessageRecord]
) -> list[tuple[str, str, Any, bool]]:
    """Per relation: when the customer first wrote, and message counts by direction and kind.
    Returns (employee_id, external_userid, first added, whether these messages change what the
    relation's standing keeps: they hold the customer's first message, or the one that makes
    the contact's messages a conversation, `CONVERSATION_MESSAGES`)."""
    if not messages:
        return []
    agg: dict[tuple[str, str], list[Any]] = {}
    for m in messages:
        a = agg.setdefault((m.employee_id, m.external_userid), [None, 0, 0, 0, 0])
        if m.direction == "from_customer":
            a[0] = m.sent_at if a[0] is None else min(a[0], m.sent_at)
            a[1] += 1
        elif m.kind == "one_to_one":
            a[2] += 1
        elif m.kind == "mass":
            a[3] += 1
        else:
            a[4] += 1
    keys = sorted(agg)
    rows = await conn.fetch(
        """INSERT INTO employee_contact AS c (employee_id, external_userid, first_customer_msg_at,
                   customer_msgs, one_to_one_msgs, mass_msgs, group_msgs)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::int[],
                                $6::int[], $7::int[])
           ON CONFLICT (employee_id, external_userid) DO UPDATE SET
               first_customer_msg_at = LEAST(c.first_customer_msg_at,
                                             EXCLUDED.first_customer_msg_at),
               customer_msgs = c.customer_msgs + EXCLUDED.customer_msgs,
               one_to_one_msgs = c.one_to_one_msgs + EXCLUDED.one_to_one_msgs,
               mass_msgs = c.mass_msgs + EXCLUDED.mass_msgs,
               group_msgs = c.group_msgs + EXCLUDED.group_msgs
           RETURNING employee_id, external_userid, first_added_at, first_customer_msg_at,
                     customer_msgs""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        *([agg[k][i] for k in keys] for i in range(5)),
    )
    out = []
    for r in rows:
        first, written = agg[(r["employee_id"], r["external_userid"])][:2]
        before = r["customer_msgs"] - written
        out.append(
            (
                r["employee_id"],
                r["external_userid"],
                r["first_added_at"],
                (r["first_customer_msg_at"] is not None and r["first_customer_msg_at"] == first)
                or before < CONVERSATION_MESSAGES <= r["customer_msgs"],
            )
        )
    return out


async def upsert_links(conn: Connection, links: Sequence[CustomerLinkRecord]) -> None:
    rows = _latest_by(links, lambda r: r.external_userid)
    if not rows:
        return
    await conn.execute(
        """INSERT INTO contact AS c (external_userid, is_customer, customer_tier,
                   assigned_employee_id, link_at)
           SELECT * FROM unnest($1::text[], $2::bool[], $3::text[], $4::text[],
                                $5::timestamptz[])
           ON CONFLICT (external_userid) DO UPDATE SET
               is_customer = EXCLUDED.is_customer, customer_tier = EXCLUDED.customer_tier,
               assigned_employee_id = EXCLUDED.assigned_employee_id, link_at = EXCLUDED.link_at
           WHERE c.link_at IS NULL OR EXCLUDED.link_at >= c.link_at""",
        [r.external_userid for r in rows],
        [r.is_customer for r in rows],
        [r.customer_tier for r in rows],
        [r.assigned_employee_id for r in rows],
        [r.occurred_at for r in rows],
    )


def _one_per_contact(profiles: Sequence[ContactProfileRecord]) -> list[ContactProfileRecord]:
    """One row per contact (an upsert may touch a row once): the latest found profile if the
    batch has one, else the latest answer; with the batch's latest event time."""
    found = _latest_by([p for p in profiles if p.found], lambda r: r.external_userid)
    latest = {r.external_userid: r for r in _latest_by(profiles, lambda r: r.external_userid)}
    out = [
        p.model_copy(update={"occurred_at": latest[p.external_userid].occurred_at}) for p in found
    ]
    known = {p.external_userid for p in out}
    return out + [p for i, p in latest.items() if i not in known]


async def upsert_profiles(conn: Connection, profiles: Sequence[ContactProfileRecord]) -> None:
    """The latest profile of each contact by event time. A "no such contact" answer
    (found=False) ends the wait for a profile but erases nothing WeCom said before; an
    earlier, found profile arriving after it still brings its facts."""
    rows = _one_per_contact(profiles)
    if rows:
        await conn.execute(
            """INSERT INTO contact AS c (external_userid, contact_type, corp_name, unionid,
                       profile_at, profile_found)
               SELECT x.external_userid, CASE WHEN x.found THEN x.contact_type END,
                      CASE WHEN x.found THEN x.corp_name END,
                      CASE WHEN x.found THEN x.unionid END, x.profile_at, x.found
                 FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[],
                             $5::timestamptz[], $6::bool[])
                      AS x(external_userid, contact_type, corp_name, unionid, profile_at, found)
               ON CONFLICT (external_userid) DO UPDATE SET
                   contact_type = CASE WHEN EXCLUDED.profile_found THEN EXCLUDED.contact_type
                                       ELSE c.contact_type END,
                   corp_name = CASE WHEN EXCLUDED.profile_found THEN EXCLUDED.corp_name
                                    ELSE c.corp_name END,
                   unionid = COALESCE(EXCLUDED.unionid, c.unionid),
                   profile_at = GREATEST(c.profile_at, EXCLUDED.profile_at),
                   profile_found = COALESCE(c.profile_found, false) OR EXCLUDED.profile_found
               WHERE c.profile_at IS NULL OR EXCLUDED.profile_at >= c.profile_at
                  OR (EXCLUDED.profile_found AND c.profile_found IS NOT TRUE)""",
            [r.external_userid for r in rows],
            [r.contact_type for r in rows],
            [r.corp_name for r in rows],
            [r.unionid for r in rows],
            [r.occurred_at for r in rows],
            [r.found for r in rows],
        )
    # one row per follower: a contact re-added (or enriched twice) within a batch would make
    # the upsert touch a row twice, which PostgreSQL refuses for the whole batch
    followers = _latest_by(
        [p for p in profiles if p.employee_id], lambda r: (r.employee_id, r.external_userid)
    )
    if followers:
        await conn.execute(
            """INSERT INTO employee_contact AS c (employee_id, external_userid, add_way, state,
                       oper_userid)
               SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[])
               ON CONFLICT (employee_id, external_userid) DO UPDATE SET
                   add_way = COALESCE(EXCLUDED.add_way, c.add_way),
                   state = COALESCE(EXCLUDED.state, c.state),
                   oper_userid = COALESCE(EXCLUDED.oper_userid, c.oper_userid)""",
            [p.employee_id for p in followers],
            [p.external_userid for p in followers],
            [p.add_way for p in followers],
            [p.state for p in followers],
            [p.oper_userid for p in followers],
        )


async def contacts_never_added(conn: Connection, contacts: set[str]) -> list[str]:
    """Of these contacts, those no employee has added (yet: a profile may overtake its add)."""
    if not contacts:
        return []
    rows = await conn.fetch(
        """SELECT c.external_userid FROM contact c
             JOIN unnest($1::text[]) AS x(u) ON c.external_userid = x.u
            WHERE c.first_added_at IS NULL""",
        sorted(contacts),
    )
    return [r["external_userid"] for r in rows]


async def insert_staff_accounts(conn: Connection, records: Sequence[StaffAccountRecord]) -> None:
    """Each account once (a resent record changes nothing)."""
    rows = _latest_by(records, lambda r: (r.employee_id, r.unionid, r.external_userid))
    if not rows:
        return
    await conn.execute(
        """INSERT INTO staff_account (employee_id, unionid, external_userid, as_of, event_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                                $5::text[])
           ON CONFLICT DO NOTHING""",
        [r.employee_id for r in rows],
        [r.unionid for r in rows],
        [r.external_userid for r in rows],
        [r.occurred_at for r in rows],
        [r.event_id for r in rows],
    )


async def contacts_of_staff_accounts(
    conn: Connection, records: Sequence[StaffAccountRecord]
) -> set[str]:
    """The contacts these accounts are: by external_userid, or by the unionid of a profile."""
    direct = {r.external_userid for r in records if r.external_userid}
    unionids = sorted({r.unionid for r in records if r.unionid})
    if unionids:
        rows = await conn.fetch(
            "SELECT external_userid FROM contact WHERE unionid = ANY($1::text[])", unionids
        )
        direct |= {r["external_userid"] for r in rows}
    return direct


async def unknown_employees(conn: Connection, employee_ids: set[str]) -> list[str]:
    if not employee_ids:
        return []
    rows = await conn.fetch(
        """SELECT x.e FROM unnest($1::text[]) AS x(e)
            WHERE NOT EXISTS (SELECT 1 FROM employee WHERE employee_id = x.e)""",
        sorted(employee_ids),
    )
    return [r["e"] for r in rows]


async def insert_org_history(conn: Connection, records: Sequence[EmployeeRecord]) -> None:
    if not records:
        return
    await conn.execute(
        """INSERT INTO employee_org (employee_id, effective_at, branch_id, team_id,
                   supervisor_id, role, active)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
                                $5::text[], $6::text[], $7::bool[])
           ON CONFLICT DO NOTHING""",
        [r.employee_id for r in records],
        [r.occurred_at for r in records],
        [r.branch_id for r in records],
        [r.team_id for r in records],
        [r.supervisor_id for r in records],
        [r.role for r in records],
        [r.active for r in records],
    )


async def periods_of(conn: Connection, employee_ids: Sequence[str]) -> list[tuple[str, str]]:
    if not employee_ids:
        return []
    rows = await conn.fetch(
        "SELECT employee_id, period FROM quota_counter WHERE employee_id = ANY($1::text[])",
        list(employee_ids),
    )
    return [(r["employee_id"], r["period"]) for r in rows]


async def employees_under_targets(
    conn: Connection, targets: Sequence[TargetRecord]
) -> list[tuple[str, str]]:
    if not targets:
        return []
    rows = await conn.fetch(
        """SELECT DISTINCT e.employee_id, x.period
             FROM unnest($1::text[], $2::text[], $3::text[]) AS x(scope, scope_id, period)
             JOIN employee e ON (x.scope = 'employee' AND e.employee_id = x.scope_id)
                             OR (x.scope = 'team' AND e.team_id = x.scope_id)
                             OR (x.scope = 'branch' AND e.branch_id = x.scope_id)
                             OR (x.scope = 'role' AND e.role = x.scope_id)""",
        [t.scope for t in targets],
        [t.scope_id for t in targets],
        [t.period for t in targets],
    )
    return [(r["employee_id"], r["period"]) for r in rows]


async def touch_watermark(
    conn: Connection, source: str, received_at: datetime, last_event_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO ingest_watermark (source, last_received_at, last_event_at)
           VALUES ($1, $3, $2)
           ON CONFLICT (source) DO UPDATE SET last_received_at =
                   GREATEST(ingest_watermark.last_received_at, EXCLUDED.last_received_at),
               last_event_at = GREATEST(ingest_watermark.last_event_at, EXCLUDED.last_event_at)""",
        source,
        last_event_at,
        received_at,
    )


async def mark_dirty(conn: Connection, dirty: set[tuple[str, str]]) -> None:
    """A row already waiting (never claimed, or marked again since its claim) is left as it
    is: no new row version per batch for the busiest rows, and it is recomputed once its first
    mark has settled however often it is marked meanwhile (bounded staleness). A row deferred
    into the future (its employee had no org record) is due again at once: what was missing
    may just have arrived."""
    if not dirty:
        return
    keys = sorted(dirty)
    await conn.execute(
        """INSERT INTO score_dirty (employee_id, period)
           SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT (employee_id, period) DO UPDATE SET marked_at = clock_timestamp()
           WHERE (score_dirty.claimed_at IS NOT NULL
                  AND score_dirty.marked_at <= score_dirty.claimed_at)
              OR score_dirty.marked_at > clock_timestamp()""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


async def target_periods_of(
    conn: Connection, employees: Sequence[EmployeeRecord]
) -> list[tuple[str, str]]:
    """Periods with a target that applies to these employees (whatever arrived first)."""
    if not employees:
        return []
    rows = await conn.fetch(
        """SELECT DISTINCT x.e AS employee_id, t.period
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(e, team, branch, role)
             JOIN target t ON (t.scope = 'employee' AND t.scope_id = x.e)
                          OR (t.scope = 'team' AND t.scope_id = x.team)
                          OR (t.scope = 'branch' AND t.scope_id = x.branch)
                          OR (t.scope = 'role' AND t.scope_id = x.role)""",
        [e.employee_id for e in employees],
        [e.team_id for e in employees],
        [e.branch_id for e in employees],
        [e.role for e in employees],
    )
    return [(r["employee_id"], r["period"]) for r in rows]


PASSED_THROUGH = ("quality", "reasons")
"""JSON columns the read API hands on as PostgreSQL wrote them (read as text, never decoded
and encoded again: a branch's rows carry about a kilobyte of evidence each)."""
COUNTED_FIELDS = """employee_id, branch_id, team_id, supervisor_id, role, target, gross_adds,
       first_adds, new_to_bank, valid_adds, pending_adds, removed_adds, profile_unknown_adds,
       unverified_adds, inherited_adds, attainment, pace, projection, status, quality_score,
       quality::text AS quality, anomaly_score, flagged, reasons::text AS reasons, computed_at,
       (SELECT to_jsonb(q) FROM quota_counter q
         WHERE q.employee_id = employee_period_score.employee_id
           AND q.period = employee_period_score.period) AS counters"""
"""The score row's columns (PASSED_THROUGH as JSON text) and its counter row (as JSON; null:
nothing counted yet), read in the same statement: the read API computes an open period's quota
figures from it."""


READ_SCORES_SQL = filtered_statements(
    f"SELECT {COUNTED_FIELDS} FROM employee_period_score WHERE period = $1",  # noqa: S608
    1,
    ("branch_id =", "team_id =", "employee_id >"),
    " ORDER BY employee_id LIMIT $next",
)


async def read_scores(
    conn: Connection,
    period: str,
    branch_id: str | None = None,
    team_id: str | None = None,
    after: str | None = None,
    limit: int = 100_000,
) -> list[asyncpg.Record]:
    given = [v for v in (branch_id, team_id, after) if v is not None]
    sql = READ_SCORES_SQL[filter_mask(branch_id, team_id, after)]
    return list(await conn.fetch(sql, period, *given, limit))

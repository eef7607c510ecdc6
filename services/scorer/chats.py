"""Chat-days and the chat counters, kept in the transaction that stores the messages
(domain/chat_tally.py): the batch recounts only the chat-days its messages touched, from the
stored messages of that (employee, contact, day), and moves the counters of their periods by
the difference; the median first reply of each touched (employee, period) is read again from
its chat-days."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.scorer.domain.chat_tally import ChatDay, Deltas, day_changes, sent_changes
from shared.calendar import local_date, parse_period, period_keys_of
from shared.db import Connection
from shared.schemas import MessageRecord

Message = tuple[str, str, datetime, str, str]
"""(employee_id, external_userid, sent_at, direction, kind)"""
Spot = tuple[str, str, date]
"""(employee_id, external_userid, local day)"""

STORED_SQL = """
SELECT d.employee_id, d.external_userid, d.day, d.asked, d.reply FROM chat_day d
  JOIN unnest($1::text[], $2::text[], $3::date[]) AS x(e, u, d)
    ON d.employee_id = x.e AND d.external_userid = x.u AND d.day = x.d
"""
# The chat-days of these spots, from the stored one-to-one messages of each (employee, contact,
# local day): when the customer first wrote, and the employee's first reply after that.
RECOUNT_SQL = """
WITH x AS (
  SELECT e, u, d, (d::timestamp AT TIME ZONE $4) AS s, ((d + 1)::timestamp AT TIME ZONE $4) AS t
    FROM unnest($1::text[], $2::text[], $3::date[]) AS x(e, u, d)
),
m AS (
  SELECT x.e, x.u, x.d, m.sent_at, m.direction
    FROM x JOIN message m
      ON m.employee_id = x.e AND m.external_userid = x.u AND m.sent_at >= x.s AND m.sent_at < x.t
   WHERE m.kind = 'one_to_one'
),
a AS (
  SELECT e, u, d, min(sent_at) FILTER (WHERE direction = 'from_customer') AS asked
    FROM m GROUP BY e, u, d
)
SELECT a.e AS employee_id, a.u AS external_userid, a.d AS day, a.asked,
       min(m.sent_at) FILTER (WHERE m.direction = 'to_customer' AND m.sent_at >= a.asked)
         AS reply
  FROM a JOIN m ON m.e = a.e AND m.u = a.u AND m.d = a.d
 WHERE a.asked IS NOT NULL
 GROUP BY a.e, a.u, a.d, a.asked
"""
WRITE_SQL = """
INSERT INTO chat_day AS c (employee_id, external_userid, day, asked, reply)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[])
ON CONFLICT (employee_id, external_userid, day) DO UPDATE SET
    asked = EXCLUDED.asked, reply = EXCLUDED.reply
"""
DELETE_SQL = """
DELETE FROM chat_day d USING unnest($1::text[], $2::text[], $3::date[]) AS x(e, u, d)
 WHERE d.employee_id = x.e AND d.external_userid = x.u AND d.day = x.d
"""
# The median first reply of (employee, period) keys, from their chat-days, written to the
# counter row (whose other columns come back with it); periods whose contact data was purged
# keep theirs.
MEDIANS_SQL = """
INSERT INTO quota_counter AS q (employee_id, period, median_reply_seconds)
SELECT x.e, x.p,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.reply - d.asked))
          FROM chat_day d
         WHERE d.employee_id = x.e AND d.day >= x.s AND d.day < x.t AND d.reply IS NOT NULL)
  FROM unnest($1::text[], $2::text[], $3::date[], $4::date[]) AS x(e, p, s, t)
 WHERE NOT EXISTS (SELECT 1 FROM purged_period p WHERE p.period = x.p)
ON CONFLICT (employee_id, period) DO UPDATE SET
    median_reply_seconds = EXCLUDED.median_reply_seconds, version = q.version + 1
RETURNING employee_id, period
"""


def message_of(m: MessageRecord) -> Message:
    return (m.employee_id, m.external_userid, m.sent_at, m.direction, m.kind)


def _chat_day(row: Any) -> ChatDay:
    return ChatDay(row["asked"], row["reply"])


async def settle(
    conn: Connection, messages: Iterable[Message], tz: ZoneInfo, sign: int = 1
) -> tuple[Deltas, set[tuple[str, str]]]:
    """The counter changes of these messages (stored already; `sign` -1: deleted already),
    with their chat-days recounted and stored; and the (employee, period) keys whose median
    first reply may have moved."""
    deltas: Deltas = {}
    spots: set[Spot] = set()
    for employee_id, external_userid, sent_at, direction, kind in messages:
        sent_changes(deltas, employee_id, sent_at, direction, kind, tz, sign)
        if kind == "one_to_one":
            spots.add((employee_id, external_userid, local_date(sent_at, tz)))
    return deltas, await recount_days(conn, sorted(spots), tz, deltas)


async def recount_days(
    conn: Connection, spots: Sequence[Spot], tz: ZoneInfo, deltas: Deltas
) -> set[tuple[str, str]]:
    """Recount these chat-days from the stored messages, store them, add their changes to
    `deltas`; the keys whose median may have moved."""
    if not spots:
        return set()
    columns = ([s[0] for s in spots], [s[1] for s in spots], [s[2] for s in spots])
    before = {(r[0], r[1], r[2]): _chat_day(r) for r in await conn.fetch(STORED_SQL, *columns)}
    after = {
        (r[0], r[1], r[2]): _chat_day(r) for r in await conn.fetch(RECOUNT_SQL, *columns, tz.key)
    }
    changed = [s for s in spots if before.get(s) != after.get(s)]
    for spot in changed:
        day_changes(deltas, spot[0], spot[2], before.get(spot), after.get(spot))
    kept = [s for s in changed if s in after]
    if kept:
        await conn.execute(
            WRITE_SQL,
            [s[0] for s in kept],
            [s[1] for s in kept],
            [s[2] for s in kept],
            [after[s].asked for s in kept],
            [after[s].reply for s in kept],
        )
    gone = [s for s in changed if s not in after]
    if gone:
        await conn.execute(
            DELETE_SQL, [s[0] for s in gone], [s[1] for s in gone], [s[2] for s in gone]
        )
    return {(s[0], key) for s in changed for key in period_keys_of(s[2])}


async def medians(conn: Connection, keys: Iterable[tuple[str, str]]) -> list[Any]:
    """Write the median first reply of these keys; the keys of the counter rows written."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    periods = {p: parse_period(p) for p in {k for _, k in wanted}}
    return await conn.fetch(
        MEDIANS_SQL,
        [e for e, _ in wanted],
        [p for _, p in wanted],
        [periods[p].start for _, p in wanted],
        [periods[p].end for _, p in wanted],
    )

"""Contact-level data in the notifier's tables (PIPL; SECURITY.md, "Personal data").

The notifier keeps external contacts' ids in one place: the details of `AnomalyFlagged` alerts,
whose anomaly evidence quotes up to five contacts as `examples` (shown by `GET /v1/alerts`). Its
notices, digests and delivery log name employees, recipients and figures, never a contact.

- **Retention**: `purge_due` removes those examples from alerts that started before the cutoff
  (CONTACT_DATA_RETENTION_MONTHS before the current month), keeping the alert, its counts and
  its delivery record; `purge_forever` runs it at start and hourly in the notifier, and the
  intake records a breach older than the cutoff (a replay) without them.
- **Erasure**: `erase` (from `wecom-quota erase`) replaces the contact's id with `(erased)` in
  every text and JSON column of the notifier's tables where it appears; the intake blanks it in
  the breaches it records later (`BreachIntake`, shared.governance), so a breach replayed or
  still waiting in Kafka does not bring it back."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from shared.clock import Clock
from shared.db import Connection
from shared.governance import ERASED, blank_examples, retention_cutoff

log = logging.getLogger(__name__)
PURGE_CHUNK = 1_000
OLD_EXAMPLES_SQL = """
SELECT alert_id, details::text AS details FROM alert
 WHERE starts_at < $1 AND details @? '$.**.examples[*]'
 ORDER BY alert_id LIMIT $2
"""
WRITE_DETAILS_SQL = """
UPDATE alert a SET details = x.d::jsonb
  FROM unnest($1::bigint[], $2::text[]) AS x(i, d)
 WHERE a.alert_id = x.i
"""

# (column, statement): $1 the id (JSON-quoted for a JSON column), $2 what replaces it.
ERASE_JSON: tuple[tuple[str, str], ...] = (
    (
        "alert.details",
        """UPDATE alert SET details = replace(details::text, $1, $2)::jsonb
            WHERE strpos(details::text, $1) > 0""",
    ),
    (
        "notice_outbox.payload",
        """UPDATE notice_outbox SET payload = replace(payload::text, $1, $2)::jsonb
            WHERE strpos(payload::text, $1) > 0""",
    ),
    (
        "notice_digest.snapshot",
        """UPDATE notice_digest SET snapshot = replace(snapshot::text, $1, $2)::jsonb
            WHERE strpos(snapshot::text, $1) > 0""",
    ),
    (
        "silence.matchers",
        """UPDATE silence SET matchers = replace(matchers::text, $1, $2)::jsonb
            WHERE strpos(matchers::text, $1) > 0""",
    ),
)
ERASE_TEXT: tuple[tuple[str, str], ...] = (
    (
        "alert.summary",
        "UPDATE alert SET summary = replace(summary, $1, $2) WHERE strpos(summary, $1) > 0",
    ),
    (
        "notice_outbox.last_error",
        """UPDATE notice_outbox SET last_error = replace(last_error, $1, $2)
            WHERE strpos(last_error, $1) > 0""",
    ),
    (
        "notice_digest.last_error",
        """UPDATE notice_digest SET last_error = replace(last_error, $1, $2)
            WHERE strpos(last_error, $1) > 0""",
    ),
    (
        "notice_delivery_log.detail",
        """UPDATE notice_delivery_log SET detail = replace(detail, $1, $2)
            WHERE strpos(detail, $1) > 0""",
    ),
    (
        "ops_notice.detail",
        "UPDATE ops_notice SET detail = replace(detail, $1, $2) WHERE strpos(detail, $1) > 0",
    ),
    (
        "silence.comment",
        "UPDATE silence SET comment = replace(comment, $1, $2) WHERE strpos(comment, $1) > 0",
    ),
)


async def erase(conn: Connection, external_userid: str) -> Counter[str]:
    """Replace the contact's id with `(erased)` wherever the notifier's tables quote it (in the
    caller's transaction); returns the rows changed by column."""
    changed: Counter[str] = Counter()
    quoted, erased = orjson.dumps(external_userid).decode(), orjson.dumps(ERASED).decode()
    for column, statement in ERASE_JSON:
        changed[column] += int((await conn.execute(statement, quoted, erased)).split()[-1])
    for column, statement in ERASE_TEXT:
        changed[column] += int((await conn.execute(statement, external_userid, ERASED)).split()[-1])
    return changed


async def purge_due(conn: Connection, now: datetime, months: int, tz: ZoneInfo) -> int:
    """Remove the contact ids quoted as examples from alerts that started before the cutoff;
    returns how many alerts changed."""
    cutoff = retention_cutoff(now, months, tz)
    changed = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(OLD_EXAMPLES_SQL, cutoff, PURGE_CHUNK)
            if rows:
                await conn.execute(
                    WRITE_DETAILS_SQL,
                    [r["alert_id"] for r in rows],
                    [
                        orjson.dumps(blank_examples(orjson.loads(r["details"]))).decode()
                        for r in rows
                    ],
                )
        changed += len(rows)
        if len(rows) < PURGE_CHUNK:
            if changed:
                log.info(
                    "contact ids older than the retention removed from alerts",
                    extra={"alerts": changed, "cutoff": cutoff.isoformat()},
                )
            return changed


async def purge_forever(
    pool: Callable[[], asyncpg.Pool],
    clock: Clock,
    months: int,
    tz: ZoneInfo,
    every: float = 3600.0,
) -> None:
    """`purge_due` at start and then every `every` seconds, for as long as the notifier runs."""
    while True:
        try:
            async with pool().acquire() as conn:
                await purge_due(conn, clock(), months, tz)
        except Exception:
            log.exception("the retention purge of alerts failed; retrying")
        await asyncio.sleep(every)

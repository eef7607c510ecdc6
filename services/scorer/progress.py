"""What the scorer knows of its inputs' completeness, kept with the data (in the batch
transaction): how far each contact-event partition has been consumed by event time, and how
far each bank source has declared itself complete (`source_watermark` records, the
reconciliation's marker among them). Closing reads them (domain/completeness.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.scorer.domain.completeness import PartitionProgress
from shared.db import Connection
from shared.schemas import SourceWatermarkRecord


async def record_partitions(
    conn: Connection, latest: Mapping[tuple[str, int], datetime], now: datetime
) -> None:
    if not latest:
        return
    keys = sorted(latest)
    await conn.execute(
        """INSERT INTO contact_progress (topic, partition, latest_event_at, consumed_at)
           SELECT t, p, e, $4 FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS x(t, p, e)
           ON CONFLICT (topic, partition) DO UPDATE
              SET latest_event_at = GREATEST(contact_progress.latest_event_at,
                                             EXCLUDED.latest_event_at),
                  consumed_at = GREATEST(contact_progress.consumed_at, EXCLUDED.consumed_at)""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [latest[k] for k in keys],
        now,
    )


async def record_assignment(
    conn: Connection, topic: str, partitions: Sequence[int], now: datetime
) -> None:
    """A partition just assigned holds closes back until it has been consumed up to date or
    stays quiet for the idle time: before its first batch, nothing says it is complete."""
    await conn.execute(
        """INSERT INTO contact_progress (topic, partition, latest_event_at, consumed_at)
           SELECT $1, p, NULL, $3 FROM unnest($2::int[]) AS x(p)
           ON CONFLICT (topic, partition) DO UPDATE
              SET consumed_at = GREATEST(contact_progress.consumed_at, EXCLUDED.consumed_at)""",
        topic,
        list(partitions),
        now,
    )


async def record_sources(conn: Connection, marks: Sequence[SourceWatermarkRecord]) -> None:
    """A source's watermark only moves forward (a resent older one changes nothing)."""
    if not marks:
        return
    through: dict[str, datetime] = {}
    for mark in marks:
        through[mark.source] = max(
            mark.complete_through, through.get(mark.source, mark.complete_through)
        )
    sources = sorted(through)
    await conn.execute(
        """INSERT INTO source_progress (source, complete_through)
           SELECT * FROM unnest($1::text[], $2::timestamptz[])
           ON CONFLICT (source) DO UPDATE
              SET complete_through = GREATEST(source_progress.complete_through,
                                              EXCLUDED.complete_through)""",
        sources,
        [through[s] for s in sources],
    )


async def partitions(conn: Connection, topic: str) -> list[PartitionProgress]:
    rows = await conn.fetch(
        "SELECT partition, latest_event_at, consumed_at FROM contact_progress WHERE topic = $1",
        topic,
    )
    return [PartitionProgress(r["partition"], r["latest_event_at"], r["consumed_at"]) for r in rows]


async def sources(conn: Connection) -> dict[str, datetime]:
    rows = await conn.fetch("SELECT source, complete_through FROM source_progress")
    return {r["source"]: r["complete_through"] for r in rows}

"""Answers published before a kill but not yet recorded: read back, not asked again.

A lookup's answer is published (Kafka, acks=all) and then recorded in the ledger in batches,
so a kill -9 between the two leaves contacts waiting whose answers are already on the
bank-records topic. Asking WeCom again would cost its quota and repeat a profile. At start,
before any lookup goes out, the ingestor reads that topic back from a margin before the
ledger's `recorded_kafka_ms` to its current end, and records the answers it finds for waiting
followers:

- a found `contact_profile` covers the follower it names;
- a not-found one (WeCom has no such contact) covers every follower of the contact waiting
  since before that answer was asked for (a follower who appeared later is asked: the contact
  exists for them).

`recorded_kafka_ms` is the newest timestamp Kafka acknowledged for this ingestor's records
when a batch of answers was recorded: the producer's CreateTime, i.e. this host's clock as
the records carry it, so the read-back compares the records' own timestamps with each other.
Answers are still asked again when their answer never reached Kafka (requests in flight at
the kill, answers not yet acknowledged), when they went to the spool because Kafka was down
(published later, outside the read-back), when the host's clock stepped back by more than
the margin, and for a profile that names no follower (WeCom no longer lists them). Recovery is
an optimisation: when Kafka does not answer within its time limit, what was read so far is
recorded and the rest is simply looked up again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer

from services.ingestor.lookups.ledger import Answered, LookupLedger, Waiting
from services.ingestor.metrics import LOOKUPS_RECOVERED
from shared.clock import Clock

log = logging.getLogger(__name__)
# How far before the recorded mark to read: an answer's timestamp is taken when it is handed
# to the producer and the mark when acknowledgements are in hand; the gap is bounded by the
# publish timeout (seconds), so a minute leaves room.
MARGIN_MS = 60_000


@dataclass(frozen=True)
class Published:
    """What one record on the bank-records topic says about a lookup, if anything:
    `asked_at` is when the lookup was made (the record's `occurred_at`, unix seconds)."""

    external_userid: str
    employee_id: str | None
    found: bool
    asked_at: float | None = None


def published_of(value: bytes | None) -> Published | None:
    """Pure: a `contact_profile` record's lookup facts; None for any other record."""
    try:
        record = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("type") != "contact_profile":
        return None
    external_userid, employee_id = record.get("external_userid"), record.get("employee_id")
    if not isinstance(external_userid, str):
        return None
    return Published(
        external_userid,
        employee_id if isinstance(employee_id, str) else None,
        record.get("found", True) is not False,
        _seconds(record.get("occurred_at")),
    )


def _seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def answers_from(published: Iterable[Published], waiting: Mapping[str, Waiting]) -> list[Answered]:
    """Pure: the answers the ledger missed, for the followers still waiting. A not-found
    answer counts only if it was asked for after the contact started waiting."""
    covered: dict[str, set[str]] = {}
    not_found: set[str] = set()
    for p in published:
        wait = waiting.get(p.external_userid)
        if wait is None:
            continue
        if not p.found:
            if p.asked_at is not None and p.asked_at >= wait.since:
                not_found.add(p.external_userid)
        elif p.employee_id in wait.followers:
            covered.setdefault(p.external_userid, set()).add(p.employee_id)
    out = [Answered(x, tuple(sorted(waiting[x].followers)), "not_found") for x in sorted(not_found)]
    out += [
        Answered(x, tuple(sorted(es)), "profiled")
        for x, es in sorted(covered.items())
        if x not in not_found
    ]
    return out


async def recover_published(
    ledger: LookupLedger,
    bootstrap_servers: str,
    topic: str,
    clock: Clock,
    *,
    limit_seconds: float = 60.0,
) -> int:
    """Records the answers found on `topic`; returns how many contacts it settled. Stops
    reading after `limit_seconds` (logged) and records what it read by then."""
    mark = await asyncio.to_thread(ledger.recorded_kafka_ms)
    waiting = await asyncio.to_thread(ledger.waiting)
    if mark is None or not waiting:
        return 0
    found: list[Published] = []
    try:
        async with asyncio.timeout(limit_seconds):
            await _read_since(bootstrap_servers, topic, mark - MARGIN_MS, waiting, found)
    except Exception as exc:  # an optimisation only: what is not read back is asked again
        log.warning(
            "lookup recovery stopped early (%s): contacts not read back are looked up again",
            exc,
        )
    answers = answers_from(found, waiting)
    if answers:
        await asyncio.to_thread(ledger.record, answers, [], clock().timestamp())
    LOOKUPS_RECOVERED.inc(len(answers))
    log.info(
        "lookup recovery: %d of %d waiting contacts were answered before the last stop "
        "(read back from Kafka, not asked again)",
        len(answers),
        len(waiting),
    )
    return len(answers)


async def _read_since(
    bootstrap_servers: str,
    topic: str,
    since_ms: int,
    waiting: Mapping[str, Waiting],
    out: list[Published],
) -> None:
    """Appends to `out` the answers about waiting contacts (only those: a replica down for
    hours may find millions of records to read back) from `since_ms` to the end."""
    consumer = AIOKafkaConsumer(
        topic,  # no group: every partition of the topic is assigned to this reader
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id="ingestor-lookup-recovery",
    )
    await consumer.start()
    try:
        tps = sorted(consumer.assignment())  # every partition, assigned by start()
        if not tps:
            return
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, since_ms)))
        left = set()
        for tp in tps:
            start = starts[tp]
            if start is not None and start.offset < ends[tp]:
                consumer.seek(tp, start.offset)
                left.add(tp)
        while left:
            batch = await consumer.getmany(*left, timeout_ms=500, max_records=5000)
            for records in batch.values():
                out += [
                    p
                    for r in records
                    if (p := published_of(r.value)) is not None and p.external_userid in waiting
                ]
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()

"""`python -m bench.drain`: how fast the scorer drains a backlog, against two references
measured in the same run.

Pre-loads N mixed records (contact adds and removals, chat metadata, customer links over one
month, for E employees) onto one partition, then starts one scorer process and measures the
time until every record is applied (offsets stored with the data) and every score
recomputed (both moments are reported: the consumer's rate, and the rate with scores
current). References, on the same topic in the same run:
- ceiling: a bare loop that consumes the same records and parses them (JSON + validation);
- naive: the obvious implementation, one transaction (handler call, upserts, offset) and one
  score recomputation per record, on a sample of the records (reported as a rate)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from bench import workload
from bench.common import (
    RESULTS,
    SCORER_METRICS,
    Run,
    applied_records,
    default_stack,
    fresh_run,
    quick,
    service,
    top_frames,
    verified,
    wait_until,
    write_result,
)
from services.scorer.domain.rules import ScoringRules
from services.scorer.pipeline import ScoringPipeline
from services.scorer.refresh import Refresher
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar
from shared.clock import system_clock
from shared.db import apply_migrations, create_pool
from shared.schemas import parse_record
from tests.infra import Infra, provide_infra
from tests.kafka_helpers import produce

TZ = ZoneInfo("Asia/Shanghai")


async def preload(run: Run, events: int, employees: int, seed: int) -> float:
    started = time.monotonic()
    await produce(run.infra, run.topics["TOPIC_BANK_RECORDS"], workload.staff(employees))
    await produce(
        run.infra,
        run.topics["TOPIC_CONTACT_EVENTS"],
        [orjson.dumps(r) for r in workload.mixed(events, employees, seed)],
    )
    return time.monotonic() - started


async def drained(run: Run, total: int) -> tuple[float, float]:
    """Seconds until every record is applied (offsets stored with the data), and until every
    score is recomputed too."""
    conn = await asyncpg.connect(run.owner_dsn)
    started = time.monotonic()
    try:

        async def applied() -> bool:
            return await applied_records(conn, run.group) >= total

        async def scored() -> bool:
            return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM score_dirty)")

        await wait_until(applied, limit=3600, every=0.5)
        applied_at = time.monotonic() - started
        await wait_until(scored, limit=3600, every=0.5)
        return applied_at, time.monotonic() - started
    finally:
        await conn.close()


async def scorer_drain(run: Run, total: int, profile: Path | None, **env: str) -> dict[str, Any]:
    log = RESULTS / "logs" / f"{run.suffix}-scorer.log"
    with service("scorer", run.env(**env), log, profile) as scorer:
        applied, seconds = await drained(run, total)
        rss, peak = scorer.rss_mb(), scorer.rss_peak_mb()
        inside = scorer.metrics(*SCORER_METRICS)
        differences = await verified(run)
    return {
        # the quota figures are current once the records are applied (kept by deltas in the
        # batch transaction); quality and anomaly once every dirty row is recomputed
        "verifier_differences": differences,
        "applied_seconds": round(applied, 1),
        "applied_per_second": round(total / applied),
        "seconds": round(seconds, 1),
        "per_second": round(total / seconds),
        "rss_mb": rss,
        "rss_peak_mb": peak,
        "metrics": inside,
    }


async def bare_ceiling(infra: Infra, topic: str, total: int) -> dict[str, Any]:
    """Consume and parse only: the most a Python consumer of this topic could do."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=52428800,
        max_partition_fetch_bytes=16777216,
    )
    await consumer.start()
    started = time.monotonic()
    seen = 0
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for r in records:
                    parse_record(orjson.loads(r.value))
                seen += len(records)
    finally:
        await consumer.stop()
    seconds = time.monotonic() - started
    return {"records": seen, "seconds": round(seconds, 1), "per_second": round(seen / seconds)}


async def naive(run: Run, topic: str, sample: int) -> dict[str, Any]:
    """One record at a time: a transaction per record (the pipeline's handler with a batch of
    one) and the affected scores recomputed before the next record."""
    await apply_migrations(run.owner_dsn)
    pool = await create_pool(run.infra.app_dsn(run.database), 2)
    scorer = Scorer(
        ScoringRules(), BusinessCalendar(tz=TZ), clock=system_clock, inputs_group=run.group
    )

    async def nowhere(raw: Any, reason: str) -> None:
        raise RuntimeError(reason)

    pipeline = ScoringPipeline(lambda: pool, run.group, scorer, nowhere)
    refresher = Refresher(lambda: pool, scorer, settle=timedelta(0))
    consumer = AIOKafkaConsumer(
        topic,
        run.topics["TOPIC_BANK_RECORDS"],
        bootstrap_servers=run.infra.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        # The org first (not timed), then the sample.
        staff_done = False
        seen = 0
        started = 0.0
        while seen < sample:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].topic != topic):
                for r in records:
                    if tp.topic != topic:
                        await pipeline.handle([r])
                        continue
                    if not staff_done:
                        while await refresher.run_once():
                            pass
                        staff_done = True
                        started = time.monotonic()
                    if seen >= sample:
                        break
                    await pipeline.handle([r])
                    while await refresher.run_once():
                        pass
                    seen += 1
        seconds = time.monotonic() - started
    finally:
        await consumer.stop()
        await pool.close()
    return {"records": seen, "seconds": round(seconds, 1), "per_second": round(seen / seconds)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with provide_infra() as infra:
        async with fresh_run(infra, "drain") as drain:
            preload_seconds = await preload(drain, args.events, args.employees, args.seed)
            total = args.employees + args.events
            topic = drain.topics["TOPIC_CONTACT_EVENTS"]
            ceiling = await bare_ceiling(infra, topic, args.events)
            profile = RESULTS / "profile-drain.txt" if args.profile else None
            scorer = await scorer_drain(drain, total, profile)
            async with fresh_run(infra, "naive") as other:
                other.topics = drain.topics
                slow = await naive(other, topic, args.naive_sample)
    rate = scorer["per_second"]
    return {
        "events": args.events,
        "employees": args.employees,
        "preload_seconds": round(preload_seconds, 1),
        "scorer": scorer,
        "bare_consume_parse": ceiling,
        "naive_per_event": slow,
        "ratio_to_bare": round(rate / ceiling["per_second"], 3),
        "speedup_over_naive": round(rate / slow["per_second"], 1),
        "targets": {"per_second": 30_000, "ratio_to_bare": 0.3, "speedup_over_naive": 5},
        "profile_top": top_frames(profile) if profile else [],
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=100_000 if quick() else 1_000_000)
    p.add_argument("--employees", type=int, default=2_000 if quick() else 10_000)
    p.add_argument("--naive-sample", type=int, default=300 if quick() else 1_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="py-spy the scorer during the drain")
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = asyncio.run(run(args))
    write_result("drain", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

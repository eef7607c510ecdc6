"""`python -m bench.spool`: the ingestor's spool after a long Kafka outage.

N WeCom callbacks (1,000,000; 50,000 with BENCH_QUICK=1) are spooled as the callback path
spools them while Kafka is away: one record per callback, appended and fsynced before the
next, no Kafka involved. The spool is then opened again (as an ingestor restarted after the
outage opens it, counting what waits), and the ingestor's own replayer (`SpoolReplayer` on a
`KafkaLink`, the settings' batch) publishes it into real Kafka while new callbacks arrive at a
steady rate through `DurablePublisher.store`, which spools them behind the backlog.

Reported: the replay's time and rate until the spool is empty (the new callbacks included);
how long those new callbacks waited for their append (p50 / p99 / max, from when each was due:
open loop, no coordinated omission), the part of WeCom's 5 s the spool takes while it
replays; and the records on the topic afterwards. References in the same run: the same link
publishing records straight to Kafka in the replayer's batches, no spool (what a replay
cannot beat), and the appends' latency while nothing replays (the fill)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import uvloop
from prometheus_client import REGISTRY

from bench.common import (
    RESULTS,
    default_stack,
    dispatch_at_rate,
    percentile,
    quick,
    wait_until,
    write_result,
)
from bench.ingest import change_xml
from services.ingestor.delivery.durable import DurablePublisher, SpoolReplayer
from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import SEGMENT_BYTES, Spool
from services.ingestor.settings import IngestorSettings
from services.ingestor.wecom.events import normalize
from services.ingestor.wecom.records import callback_records
from services.ingestor.wecom.xml import parse_event
from shared.kafka import make_broker
from shared.settings import CommonSettings, Topics
from tests.faults.harness import records_on
from tests.infra import Infra, provide_infra, unique
from tests.kafka_helpers import delete_topics_named

DEFAULTS = IngestorSettings.model_fields
REPLAY_BATCH: int = DEFAULTS["spool_replay_batch"].default
REPLAY_INTERVAL: float = DEFAULTS["spool_replay_interval_seconds"].default
PUBLISH_TIMEOUT: float = DEFAULTS["kafka_publish_timeout_seconds"].default
PARTITIONS: int = DEFAULTS["topic_partitions"].default
MB = 1024 * 1024


class Callbacks:
    """The record the callback path stores for callback n: an add_external_contact parsed and
    normalised by the ingestor's own code (the XML parsed once; the fields varied per n)."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self._fields = parse_event(change_xml(0, "spool"))

    def record(self, n: int) -> Outgoing:
        fields = {
            **self._fields,
            "UserID": f"m{n % 2000:06d}",
            "ExternalUserID": f"wmspool{n:09d}",
            "CreateTime": str(1_790_000_000 + n),
        }
        return callback_records(normalize(fields), self._topics)[0]


class TimedSpool(Spool):
    """The spool, timing each append from the call to the fsync's return (the append lock's
    wait included): the part of a callback's wait that is the spool's own, apart from the
    event loop's and the thread pool's."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        super().__init__(directory, segment_bytes)
        self.append_seconds: list[float] = []

    def append(self, items: Sequence[Outgoing]) -> None:
        started = time.perf_counter()
        super().append(items)
        self.append_seconds.append(time.perf_counter() - started)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def latency(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(percentile(values, 0.50)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values, default=0.0)),
    }


def fill(spool: Spool, callbacks: Callbacks, count: int) -> dict[str, Any]:
    """The outage: every callback appended and fsynced on its own, nothing replaying."""
    waits: list[float] = []
    started = time.perf_counter()
    for n in range(count):
        record = callbacks.record(n)
        before = time.perf_counter()
        spool.append([record])
        waits.append(time.perf_counter() - before)
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in spool.directory.glob("segment-*.spool"))
    return {
        "callbacks": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds),
        "spool_mb": round(size / MB, 1),
        "segments": len(list(spool.directory.glob("segment-*.spool"))),
        "append": latency(waits),
    }


async def kafka_alone(link: KafkaLink, callbacks: Callbacks, count: int) -> dict[str, Any]:
    """The reference: records published in the replayer's batches through the same link,
    straight from memory (only the sends are timed)."""
    sending = 0.0
    for start in range(0, count, REPLAY_BATCH):
        batch = [callbacks.record(n) for n in range(start, min(count, start + REPLAY_BATCH))]
        before = time.perf_counter()
        await link.send(batch)
        sending += time.perf_counter() - before
    return {"records": count, "seconds": round(sending, 2), "per_second": round(count / sending)}


def replayed_total() -> float:
    return REGISTRY.get_sample_value("ingestor_spool_replayed_total") or 0.0


async def replay_under_load(
    link: KafkaLink, spool: TimedSpool, callbacks: Callbacks, rate: float, limit: float
) -> dict[str, Any]:
    """The replayer publishes the backlog while new callbacks are stored at `rate` (behind it,
    in the spool); they stop once the whole backlog is on Kafka, and the replayer runs on
    until the spool is empty, so every record stored is on the topic afterwards."""
    durable = DurablePublisher(link, spool, PUBLISH_TIMEOUT)
    replayer = SpoolReplayer(link, spool, REPLAY_INTERVAL, REPLAY_BATCH, timeout=10.0)
    backlog = spool.depth
    waits: list[float] = []
    stored: Counter[str] = Counter()
    done: list[float] = []
    counted = replayed_total()

    async def store(due: float, n: int) -> None:
        destination = await durable.store([callbacks.record(n)])
        stored[destination] += 1
        if destination == "spool":
            waits.append(time.perf_counter() - due)

    def backlog_replayed() -> bool:
        if replayed_total() - counted >= backlog:
            done.append(time.perf_counter())
        return bool(done) or time.perf_counter() - started > limit

    started = time.perf_counter()
    task = asyncio.create_task(replayer.run())
    try:
        lags = await dispatch_at_rate(
            range(backlog, 10**9), rate, store, started, until=backlog_replayed
        )
        if not done:
            raise TimeoutError(f"the backlog was not replayed in {limit} s")
        await wait_until(spool_empty(spool), limit)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    seconds = done[0] - started
    return {
        "backlog": backlog,
        "seconds": round(seconds, 2),
        "per_second": round(backlog / seconds),
        "new_callbacks_per_second": rate,
        "new_callbacks_spooled": stored["spool"],
        "new_callbacks_to_kafka": stored["kafka"],
        "new_callbacks_wait": latency(waits),
        "new_callbacks_append": latency(spool.append_seconds),
        "generator_lag_p99_ms": ms(percentile(lags, 0.99)),
        "replayed_in_all": int(replayed_total() - counted),
    }


def spool_empty(spool: Spool) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return spool.depth == 0

    return probe


async def measure(
    args: argparse.Namespace, infra: Infra, topics: Topics, directory: Path
) -> dict[str, Any]:
    callbacks = Callbacks(topics)
    outage = Spool(directory, segment_bytes=args.segment_mb * MB)
    filled = fill(outage, callbacks, args.callbacks)
    outage.close()
    started = time.perf_counter()
    spool = TimedSpool(directory, segment_bytes=args.segment_mb * MB)
    opened = time.perf_counter() - started
    reference = topics.model_copy(update={"contact_events": f"{topics.contact_events}.ref"})
    link = KafkaLink(
        make_broker(infra.kafka_bootstrap, "bench-spool"),
        CommonSettings(topic_partitions=PARTITIONS).topic_specs(
            [topics.contact_events, reference.contact_events]
        ),
        retry_seconds=1.0,
    )
    try:
        if not await link.connect():
            raise RuntimeError("Kafka not reachable")
        await kafka_alone(link, Callbacks(reference), REPLAY_BATCH * 4)  # warm-up
        alone = await kafka_alone(link, Callbacks(reference), args.reference_records)
        replay = await replay_under_load(link, spool, callbacks, args.rate, args.limit)
    finally:
        await link.close()
        spool.close()
    stored = replay["backlog"] + replay["new_callbacks_spooled"] + replay["new_callbacks_to_kafka"]
    on_topic = await records_on(infra, [topics.contact_events])
    return {
        "fill": filled,
        "open_seconds": round(opened, 2),
        "replay": replay,
        "reference_kafka_alone": alone,
        "ratio_replay_to_kafka_alone": round(replay["per_second"] / alone["per_second"], 3),
        "records_stored": stored,
        "records_on_topic": on_topic,
        "lost": max(0, stored - on_topic),
        "segment_mb": args.segment_mb,
        "replay_batch": REPLAY_BATCH,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with provide_infra() as infra:
        suffix = unique("spool")
        topics = Topics(
            contact_events=f"wecom.contact-events.{suffix}",
            bank_records=f"bank.records.{suffix}",
            breaches=f"scoring.breaches.{suffix}",
            raw_callbacks=f"wecom.raw-events.{suffix}",
        )
        directory = RESULTS / "logs" / f"{suffix}-spool"
        try:
            return await measure(args, infra, topics, directory)
        finally:
            await delete_topics_named(infra, suffix)
            shutil.rmtree(directory, ignore_errors=True)


def table_rows(r: dict[str, Any]) -> list[str]:
    """Rows of bench/results/table.md (the format of bench/__main__.py's)."""
    replay, fill = r["replay"], r["fill"]
    wait = replay["new_callbacks_wait"]
    title = (
        f"spool replay after an outage: {fill['callbacks']:,} callbacks spooled "
        f"({fill['spool_mb']} MB), new ones at {int(replay['new_callbacks_per_second'])}/s"
    )
    return [
        f"| {title}: replay rate | {replay['per_second']:,}/s ({replay['seconds']} s; "
        f"{r['records_on_topic']:,} on the topic for {r['records_stored']:,}, {r['lost']} lost) | "
        f"Kafka alone, same link and batches: {r['reference_kafka_alone']['per_second']:,}/s | "
        f"{r['ratio_replay_to_kafka_alone']} | 0 lost | {'yes' if r['lost'] == 0 else '**no**'} |",
        f"| {title}: new callbacks' append p99 / max while it replays | "
        f"{wait['p99_ms']} / {wait['max_ms']} ms ({replay['new_callbacks_spooled']:,} spooled) | "
        f"appends with nothing replaying: p99 {fill['append']['p99_ms']} / max "
        f"{fill['append']['max_ms']} ms |  | max ≤ 5 s | "
        f"{'yes' if wait['max_ms'] <= 5000 else '**no**'} |",
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--callbacks", type=int, default=50_000 if quick() else 1_000_000)
    p.add_argument("--rate", type=float, default=500, help="new callbacks/s during the replay")
    p.add_argument("--reference-records", type=int, default=50_000 if quick() else 200_000)
    p.add_argument("--segment-mb", type=int, default=SEGMENT_BYTES // MB)
    p.add_argument("--limit", type=float, default=600 if quick() else 3600)
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = uvloop.run(run(args))  # the generator's own loop costs less CPU on shared cores
    write_result("spool", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

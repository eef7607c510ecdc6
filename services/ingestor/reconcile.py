"""Reconciliation against the WeCom API: `python -m services.ingestor.reconcile` runs it once;
the ingestor runs it daily at RECONCILE_DAILY_AT (reconcile_schedule.py).

One run: (1) fold the contact-event topic, up to its end at the start of the run, into the
known followers (reconcile_store.py); (2) for each group of 100 employees walk
`batch/get_by_user` page by page (45009 backed off, tokens refreshed), compare with the known
followers and publish the corrections (reconciliation.py) with `acks=all`; (3) only then make
the walk the new belief. A crash or a failure anywhere repeats the run's corrections with the
same event_ids next time, so the scorer counts them once. (4) Last, a `source_watermark`
of source `wecom.reconciliation`, complete through the run's start: WeCom's data is known
complete up to then even if callbacks were missed (a held period close may go ahead). It exits
non-zero when WeCom or Kafka fails, so cron or the schedule sees it.

Employees walked: `--employees`/`--employees-file` (or RECONCILE_EMPLOYEES_FILE), else every
employee WeCom lists with customer-contact permission (`get_follow_user_list`). An employee
who is no longer listed is not walked (WeCom has nothing to say about them; their handover
sends callbacks), which the log reports."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.enrichment.wecom_api import WeComApi
from services.ingestor.metrics import RECONCILE_CORRECTIONS
from services.ingestor.reconcile_store import ReconcileStore
from services.ingestor.reconciliation import chunks, fold, plan
from services.ingestor.settings import IngestorSettings
from shared.clock import Clock
from shared.kafka import make_broker
from shared.logging import configure_logging, register_secrets
from shared.schemas import RECONCILIATION_SOURCE, ContactEvent, SourceWatermarkRecord
from shared.topics import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    employees: int
    relations: int
    missed_adds: int
    missed_deletes: int


def employee_ids(employees: str | None, employees_file: Path | None) -> list[str]:
    ids = [e.strip() for e in (employees or "").split(",")]
    if employees_file is not None:
        ids += [line.strip() for line in employees_file.read_text("utf-8").splitlines()]
    return sorted({i for i in ids if i and not i.startswith("#")})


def wecom_client(settings: IngestorSettings) -> WeComApi:
    if not settings.enrichment_enabled or settings.wecom_corp_secret is None:
        raise SystemExit("reconciliation needs WECOM_CORP_ID and WECOM_CORP_SECRET")
    return WeComApi(
        settings.wecom_api_base,
        settings.wecom_corp_id or "",
        settings.wecom_corp_secret.get_secret_value(),
        timeout=settings.wecom_api_timeout_seconds,
        rate_limit_backoff=settings.wecom_rate_limit_backoff_seconds,
    )


async def partitions_of(link: KafkaLink, topic: str) -> list[int]:
    described = await link.broker.config.admin_client.describe_topics([topic])
    return sorted(int(p["partition"]) for t in described for p in t.get("partitions") or [])


async def fold_topic(
    settings: IngestorSettings, store: ReconcileStore, partitions: list[int]
) -> int:
    """Fold the contact events published since the last fold; returns how many were read."""
    topic = settings.topics.contact_events
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        client_id="ingestor-reconcile-fold",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return 0
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        stored = await asyncio.to_thread(store.fold_offsets, topic)
        begins = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(stored.get(tp.partition, 0), begins[tp]))
        read = 0
        while await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            values = [r.value for records in batch.values() for r in records]
            read += len(values)
            offsets = {tp.partition: records[-1].offset + 1 for tp, records in batch.items()}
            if offsets:  # parsed and folded off the event loop: callbacks keep their pace
                await asyncio.to_thread(_fold_batch, store, topic, values, offsets)
        return read
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


def _event(value: bytes | None) -> ContactEvent | None:
    """Contact events only; anything else on the topic is the scorer's dead letter, not ours."""
    try:
        return ContactEvent.model_validate(orjson.loads(value or b""))
    except (ValueError, ValidationError):
        return None


def _fold_batch(
    store: ReconcileStore, topic: str, values: Sequence[bytes | None], offsets: dict[int, int]
) -> None:
    events = [e for v in values if (e := _event(v)) is not None]
    facts = store.facts_of({(e.employee_id, e.external_userid) for e in events})
    before = dict(facts)
    for event in events:
        fold(facts, event)
    changed = {r: f for r, f in facts.items() if before.get(r) != f}
    store.save_fold(topic, changed, offsets)


def completion_marker(topic: str, started: datetime) -> Outgoing:
    """The record a successful run publishes last: a `source_watermark` of the system's own
    source, complete through the run's start (what the walk saw is at least that recent).
    Its id derives from the start, so a resend is the same record."""
    record = SourceWatermarkRecord.model_validate(
        {"type": "source_watermark", "source": RECONCILIATION_SOURCE, "complete_through": started}
    )
    return Outgoing(topic, record.entity_key(), record.to_json())


class Reconciler:
    def __init__(self, settings: IngestorSettings, store: ReconcileStore, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock

    async def run(
        self, employees: Sequence[str] | None = None, check: Callable[[], None] = lambda: None
    ) -> RunResult:
        """One run; recorded in the store whatever its outcome. `check` is called before each
        publication and may stop the run by raising (the schedule's lease: LeaseLost)."""
        started = self._clock()
        run_id = await asyncio.to_thread(self._store.start_run, started)
        try:
            result = await self._run(employees, started, check)
        except BaseException as exc:
            await asyncio.to_thread(
                self._store.finish_run,
                run_id,
                "failed",
                self._clock(),
                error=f"{type(exc).__name__}: {exc}",
            )
            raise
        await asyncio.to_thread(
            self._store.finish_run,
            run_id,
            "succeeded",
            self._clock(),
            employees=result.employees,
            relations=result.relations,
            missed_adds=result.missed_adds,
            missed_deletes=result.missed_deletes,
        )
        log.info("reconciliation done", extra=result.__dict__)
        return result

    async def _run(
        self, given: Sequence[str] | None, observed_at: datetime, check: Callable[[], None]
    ) -> RunResult:
        settings = self._settings
        api = wecom_client(settings)
        topics = settings.topics
        link = KafkaLink(
            make_broker(settings.kafka_bootstrap_servers, "ingestor-reconcile"),
            settings.topic_specs([topics.contact_events, topics.bank_records]),
            settings.kafka_connect_retry_seconds,
            settings.wq_profile is Profile.PRODUCTION,
        )
        if not await link.connect():
            await api.close()
            raise ConnectionError("Kafka is not reachable")
        try:
            contact_events = topics.contact_events
            await fold_topic(settings, self._store, await partitions_of(link, contact_events))
            employees = await self._employees(api, given)
            result = RunResult(len(employees), 0, 0, 0)
            for group in chunks(employees):
                check()
                rows: list[dict[str, Any]] = []
                cursor = ""
                while True:
                    page = await api.contacts_by_user(group, cursor)
                    rows += page.get("external_contact_list") or []
                    cursor = str(page.get("next_cursor") or "")
                    if not cursor:
                        break
                known = await asyncio.to_thread(self._store.known_followers, group)
                changes = await asyncio.to_thread(
                    plan,
                    api.corp_id,
                    known,
                    rows,
                    topics,
                    observed_at,
                    settings.reconcile_max_delete_share,
                )
                check()
                await link.send(changes.outgoing)
                await asyncio.to_thread(self._store.replace_followers, group, changes.walked)
                RECONCILE_CORRECTIONS.labels("add").inc(changes.missed_adds)
                RECONCILE_CORRECTIONS.labels("delete").inc(changes.missed_deletes)
                result = RunResult(
                    result.employees,
                    result.relations + len(rows),
                    result.missed_adds + changes.missed_adds,
                    result.missed_deletes + changes.missed_deletes,
                )
            # every correction is acknowledged: the marker says WeCom's data is complete
            # through the run's start (the scorer may close periods that ended before it) —
            # only after a walk of everyone: a run for a few employees says nothing of the rest
            if not given:
                check()
                await link.send([completion_marker(topics.bank_records, observed_at)])
            return result
        finally:
            await api.close()
            await link.close()

    async def _employees(self, api: WeComApi, given: Sequence[str] | None) -> list[str]:
        if given:
            return sorted(set(given))
        if self._settings.reconcile_employees_file is not None:
            return employee_ids(None, self._settings.reconcile_employees_file)
        walked = set(await api.follow_users())
        unlisted = set(await asyncio.to_thread(self._store.employees)) - walked
        if unlisted:
            # no longer allowed customer contact (left, or the permission withdrawn): WeCom
            # answers nothing for them, so their relations are neither confirmed nor ended
            log.warning(
                "known followers of employees WeCom no longer lists: not walked",
                extra={"employees": len(unlisted)},
            )
        return sorted(walked)


async def reconcile(settings: IngestorSettings, employees: Sequence[str] | None) -> RunResult:
    store = ReconcileStore(settings.reconcile_state_dir)
    try:
        return await Reconciler(settings, store, settings.clock()).run(employees)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--employees", help="comma-separated WeCom userids")
    parser.add_argument("--employees-file", type=Path, help="one WeCom userid a line")
    args = parser.parse_args(argv)
    settings = IngestorSettings()
    register_secrets(settings.secrets())
    configure_logging("ingestor-reconcile", settings.log_level)
    ids = employee_ids(args.employees, args.employees_file)
    result = asyncio.run(reconcile(settings, ids or None))
    print(
        f"{result.relations} follow relations walked for {result.employees} employees: "
        f"{result.missed_adds} missed adds, {result.missed_deletes} missed deletes corrected"
    )


if __name__ == "__main__":
    main()

"""The scorer's one wiring point: settings → pool, broker, pipeline → routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation
from starlette.applications import Starlette

from services.scorer import tally
from services.scorer.api import score_routes
from services.scorer.asyncapi import scorer_asyncapi
from services.scorer.at_rest import Rest
from services.scorer.close_gate import CloseGate, HeldCloses
from services.scorer.closing import PeriodCloser
from services.scorer.gauges import ScorerGauges
from services.scorer.pipeline import ScoringPipeline
from services.scorer.refresh import Refresher
from services.scorer.review import Cases, Review, ReviewRules, target_sender
from services.scorer.review import routes as review_http
from services.scorer.schedule import Schedule
from services.scorer.scoring import Scorer
from services.scorer.settings import ScorerSettings
from shared.auth import Identity
from shared.auth.api import audit_routes
from shared.auth.http import Authenticator
from shared.calendar import Period
from shared.clock import Clock
from shared.db import apply_migrations, create_pool
from shared.governance import Governance
from shared.http import error_handlers, openapi_route, ops_routes
from shared.kafka import (
    StoredOffsetsListener,
    ensure_topics,
    kafka_ready,
    load_offsets,
    make_broker,
    publish_all,
)
from shared.monitor import ConsumerLagProbe, Probe, watch
from shared.schemas import TopicRecord, dead_letter_value
from shared.topics import Profile

log = logging.getLogger(__name__)


class _State:
    pool: asyncpg.Pool | None = None

    def get_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("the database pool is not open yet")
        return self.pool


CONSUMING = frozenset({"all", "stream", "consume"})
"""Roles that consume, keep the quota figures and their timers, and run the schedule."""
REFRESHING = frozenset({"all", "stream", "refresh"})
"""Roles that recompute quality and anomaly (the refresh) and sweep."""
SERVING = frozenset({"all", "api"})
"""Roles that serve the read API and closes."""


def create_app(settings: ScorerSettings, *, clock: Clock | None = None) -> Starlette:
    """`clock` can be given by tests (a clock they move); otherwise the settings' clock."""
    state = _State()
    role = settings.scorer_role
    topics = settings.topics
    calendar = settings.calendar()
    clock = clock or settings.clock()
    broker = make_broker(settings.kafka_bootstrap_servers, "scorer")
    consumed = [topics.contact_events, topics.bank_records]

    # Breaches and dead letters go through a publish-only producer of their own, which can be
    # renewed without touching the consumer (shared.kafka.publish_all).
    publisher = make_broker(settings.kafka_bootstrap_servers, "scorer-publisher")

    async def dead_letter(raw: Any, reason: str) -> None:
        letter = dead_letter_value(raw, reason)
        await publish_all(publisher, [(letter, topics.dlq(raw.topic), raw.key)])

    async def load(tps: Any) -> dict[tuple[str, int], int]:
        return await load_offsets(state.get_pool(), settings.scorer_group_id, tps)

    async def contact_partitions(assigned: set[TopicPartition]) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == topics.contact_events)
        if mine:
            await pipeline.assigned(topics.contact_events, mine)
        if closer.gate is not None:
            closer.gate.consuming = True

    async def undecoded(_: Any) -> None:
        """The pipeline decodes the records itself (orjson, once): no body for FastStream."""

    subscriber = broker.subscriber(
        *consumed,
        group_id=settings.scorer_group_id,
        batch=True,
        max_records=settings.scorer_batch_max_records,
        batch_timeout_ms=settings.scorer_batch_timeout_ms,
        # A full batch from one partition in one fetch (the default 1 MB is ~4,000 records).
        max_partition_fetch_bytes=8 * 1024 * 1024,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=StoredOffsetsListener(lambda: subscriber.consumer, load, contact_partitions),
        decoder=undecoded,
    )

    @subscriber
    async def on_batch(record: SkipValidation[TopicRecord], message: KafkaMessage) -> None:
        """Contact events and the bank's records, in batches (group SCORER_GROUP_ID)."""
        # `record` is typed as one message, for the AsyncAPI document (shared/asyncapi.py);
        # the batch is not decoded here: the pipeline decodes the raw records once.
        raw = message.raw_message
        await pipeline.handle(raw if isinstance(raw, tuple) else (raw,))

    scorer = Scorer(
        settings.rules(),
        calendar,
        settings.anomaly_alert_threshold,
        clock=clock,
        inputs_group=settings.scorer_group_id,
    )
    pipeline = ScoringPipeline(
        state.get_pool,
        settings.scorer_group_id,
        scorer,
        dead_letter,
        full_batch=settings.scorer_batch_max_records,
        governance=Governance(settings.erasure_hmac_key),
        robot_keys=settings.robot_keys(),
    )
    closer = PeriodCloser(
        scorer,
        publisher,
        topics.breaches,
        readers_dsn=settings.database_url.get_secret_value(),
    )
    closer.gate = CloseGate(
        calendar,
        topics.contact_events,
        settings.completeness(),
        timedelta(days=settings.retention_days),
        timedelta(hours=settings.profile_wait_hours),
        settings.data_stale_working_hours,
        closer.publish,
    )
    cases = Cases(
        ReviewRules(
            frozenset(settings.review_case_period_kinds),
            settings.review_link_to_month,
            settings.review_reopen_margin,
            settings.review_supervisors_decide,
        ),
        closer.publish,
        clock,
    )
    closer.review = cases.on_scores
    review = Review(
        state.get_pool,
        cases,
        target_sender(publisher, topics.bank_records),
        calendar.tz,
        scorer,
        settings.console_session_hours,
    )
    refresher = Refresher(
        state.get_pool,
        scorer,
        after=closer.after_refresh,
        settle=settings.refresh_settle(),
        rest=Rest(
            state.get_pool,
            settings.scorer_group_id,
            settings.scores_rest_after_seconds,
            settings.scores_rest_min_interval_seconds,
        ),
    )
    schedule = Schedule(
        state.get_pool,
        scorer,
        closer,
        frozenset(settings.close_period_kinds),
        settings.close_grace,
        tuple(settings.pace_checkpoints),
        settings.data_stale_working_hours,
        settings.contact_data_retention_months,
    )

    probes: list[Probe] = [
        ConsumerLagProbe(lambda: subscriber.consumer, state.get_pool, settings.scorer_group_id),
        ScorerGauges(state.get_pool),
        HeldCloses(state.get_pool),
    ]

    async def close(
        period: Period, who: Identity, force: bool, request: str | None
    ) -> dict[str, Any]:
        async with state.get_pool().acquire() as conn:
            return await closer.close(
                conn, period, who.label, force=force, who=who, request_id=request
            )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await apply_migrations(settings.migration_dsn)
        state.pool = await create_pool(
            settings.database_url.get_secret_value(), settings.db_pool_size
        )
        await broker.connect()
        await ensure_topics(
            broker,
            settings.topic_specs([*consumed, topics.breaches, *(topics.dlq(t) for t in consumed)]),
            settings.wq_profile is Profile.PRODUCTION,
        )
        consuming = role in CONSUMING
        if consuming:
            # contacts erased and no ERASURE_HMAC_KEY to recognise them: stop here, loudly
            async with state.get_pool().acquire() as conn, conn.transaction():
                await pipeline.governance.refresh(conn)
            if settings.robot_keys() is None:
                log.warning(
                    "NOTIFIER_ROBOT_KEYS is not set for the scorer: a group robot's URL from an "
                    "employee record is kept in plain until the notifier encrypts it"
                )
            await tally.judge_all_if_rules_changed(state.get_pool, scorer)  # before consuming
        await publisher.start()  # before the consumer, which may dead-letter at once
        workers = []
        if consuming:
            await broker.start()
            workers += [
                asyncio.create_task(schedule.run_forever(settings.schedule_interval_seconds)),
                asyncio.create_task(tally.timers_forever(state.get_pool, scorer)),
                asyncio.create_task(watch(probes, settings.metrics_probe_interval_seconds)),
            ]
        if role in REFRESHING:
            if role == "refresh":
                os.nice(settings.scorer_refresh_nice)
            # beside the consumer, it holds while a backlog is applied or a period closes;
            # in a process of its own it yields the cores by its priority instead
            workers.append(
                asyncio.create_task(
                    refresher.run_forever(catching_up=pipeline.catching_up, closing=closer.closing)
                )
            )
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await publisher.stop()
            await broker.stop()
            await state.pool.close()

    async def kafka() -> None:
        await kafka_ready(broker)

    async def postgres() -> None:
        await state.get_pool().fetchval("SELECT 1")

    authn = Authenticator(state.get_pool, settings.sso_verifier())
    api = (
        [
            *score_routes(state.get_pool, scorer, close, authn),
            *audit_routes(state.get_pool, authn),
            # cases, targets and the console; the console lists contacts through score_routes
            *review_http(review, authn, lambda a: score_routes(state.get_pool, scorer, close, a)),
        ]
        if role in SERVING
        else []
    )
    routes = [
        *api,
        *ops_routes({"kafka": kafka, "postgres": postgres}),
        openapi_route("services.scorer"),
        scorer_asyncapi(broker, publisher, topics),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=error_handlers())
    app.state.settings = settings  # tests issue themselves a token in its database
    return app

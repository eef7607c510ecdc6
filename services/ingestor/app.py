"""The ingestor's one wiring point: settings → Kafka link, spool, lookups → routes.

The app starts whether or not Kafka answers: callbacks are then spooled (and replayed once
Kafka is back), /v1/events answers 503 and /readyz says Kafka is not ready."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from services.ingestor.api import events_endpoint
from services.ingestor.asyncapi import ingestor_asyncapi
from services.ingestor.callback import CallbackEndpoint, CallbackReceiver
from services.ingestor.delivery.durable import DurablePublisher, SpoolReplayer
from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.spool import Spool, open_spool
from services.ingestor.lookups.pacing import CallbackLoad
from services.ingestor.lookups.service import Lookups, make_lookups
from services.ingestor.publisher import RecordPublisher
from services.ingestor.reconcile import Reconciler
from services.ingestor.reconcile_lease import ReconcileLease
from services.ingestor.reconcile_schedule import ReconcileSchedule
from services.ingestor.reconcile_store import ReconcileStore
from services.ingestor.settings import IngestorSettings
from shared.auth import Action
from shared.auth.http import Authenticator
from shared.clock import Clock
from shared.http import error_handlers, openapi_route, ops_routes
from shared.kafka import kafka_ready, make_broker
from shared.topics import Profile

FIRST_CONNECT_SECONDS = 5.0


@dataclass
class Runtime:
    """What the lifespan opened; on `app.state.runtime` for operators' tools and tests."""

    link: KafkaLink
    spool: Spool
    receiver: CallbackReceiver
    lookups: Lookups | None
    schedule: ReconcileSchedule | None = None  # the daily reconciliation, when configured


def make_reconcile_schedule(settings: IngestorSettings, clock: Clock) -> ReconcileSchedule | None:
    """The daily reconciliation, when RECONCILE_DAILY_AT is set (it needs the WeCom API)."""
    if settings.reconcile_daily_at is None:
        return None
    store = ReconcileStore(settings.reconcile_state_dir)
    lease = ReconcileLease(
        settings.kafka_bootstrap_servers,
        settings.topic_specs([settings.topics.reconcile_lease])[0],
        settings.reconcile_lease_group,
        settings.reconcile_lease_session_seconds,
    )
    return ReconcileSchedule(
        Reconciler(settings, store, clock),
        store,
        settings.reconcile_daily_at,
        settings.tz,
        timedelta(minutes=settings.reconcile_retry_minutes),
        clock,
        settings.reconcile_check_seconds,
        lease,
    )


def create_app(settings: IngestorSettings, *, clock: Clock | None = None) -> Starlette:
    """`clock` can be given by tests; it is otherwise the settings' (CLOCK_OFFSET_SECONDS),
    the one every part of the service reads."""
    clock = clock or settings.clock()
    crypto = settings.callback_crypto()  # a half or broken configuration refuses to start
    topics = settings.topics
    broker = make_broker(settings.kafka_bootstrap_servers, "ingestor")
    link = KafkaLink(
        broker,
        settings.topic_specs([topics.contact_events, topics.bank_records, topics.raw_callbacks]),
        settings.kafka_connect_retry_seconds,
        settings.wq_profile is Profile.PRODUCTION,
    )
    records = RecordPublisher(broker, topics)

    # callbacks in flight: lookups yield to them when the ingestor is saturated
    callbacks = CallbackLoad(settings.wecom_lookup_yield_callbacks)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        spool = open_spool(settings.spool_dir, explicit="spool_dir" in settings.model_fields_set)
        durable = DurablePublisher(link, spool, settings.kafka_publish_timeout_seconds)
        lookups = make_lookups(settings, durable, clock, callbacks)
        receiver = CallbackReceiver(settings, crypto, durable, clock)
        schedule = make_reconcile_schedule(settings, clock)
        app.state.runtime = Runtime(link, spool, receiver, lookups, schedule)
        replayer = SpoolReplayer(
            link,
            spool,
            settings.spool_replay_interval_seconds,
            settings.spool_replay_batch,
            timeout=10.0,
        )
        await link.connect(within=FIRST_CONNECT_SECONDS)  # else `keep_connecting` goes on
        tasks = [asyncio.create_task(link.keep_connecting()), asyncio.create_task(replayer.run())]
        if lookups:
            lookups.start()
        if schedule:
            tasks.append(asyncio.create_task(schedule.run_forever()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if lookups:
                await lookups.stop()
            await link.close()
            spool.close()
            if schedule:
                schedule.close()

    async def kafka() -> None:
        if not link.connected.is_set():
            raise ConnectionError("Kafka is not connected")
        await kafka_ready(broker)

    def runtime(request: Request) -> Runtime:
        found: Runtime = request.app.state.runtime
        return found

    async def verify_url(request: Request) -> Response:
        return await runtime(request).receiver.verify_url(request)

    def receiver(scope: Scope) -> CallbackReceiver:
        found: Runtime = scope["app"].state.runtime
        return found.receiver

    receive = CallbackEndpoint(receiver, settings.wecom_callback_max_body_bytes, callbacks)

    # No database here: the configured INGEST_API_TOKENS, or an SSO JWT with the ingest role.
    authn = Authenticator(sso=settings.sso_verifier(), static=settings.ingest_identity)
    routes = [
        Route("/wecom/callback", verify_url, methods=["GET"]),
        Route("/wecom/callback", receive, methods=["POST"]),
        Route(
            "/v1/events",
            authn.guard(Action.INGEST, events_endpoint(settings, records, clock)),
            methods=["POST"],
        ),
        *ops_routes({"kafka": kafka}),
        openapi_route("services.ingestor"),
        ingestor_asyncapi(broker, settings),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=error_handlers())

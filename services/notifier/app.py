"""The notifier's one wiring point: settings → routing file, pool, broker, intake, grouping,
delivery, escalation → routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation
from starlette.applications import Starlette

from services.notifier import contact_data
from services.notifier.alertmanager_receiver import alertmanager_routes
from services.notifier.api import alert_routes, silence_routes
from services.notifier.asyncapi import notifier_asyncapi
from services.notifier.channels.app import AccessTokens, AppChannel
from services.notifier.channels.base import ChannelAdapter
from services.notifier.channels.email import EmailChannel
from services.notifier.channels.poster import Poster, fresh_client
from services.notifier.channels.robot import RobotChannel
from services.notifier.channels.webhook import LogChannel, WebhookChannel
from services.notifier.daily import DailyDigests
from services.notifier.delivery import Delivery
from services.notifier.domain.acklink import AckLinks
from services.notifier.domain.config import Channel, ConfigError, NotifierConfig
from services.notifier.domain.routing import destination_of_person
from services.notifier.escalation import Escalator
from services.notifier.gauges import NotifierGauges
from services.notifier.grouping import Grouper
from services.notifier.intake import BreachIntake
from services.notifier.robots import RobotUrls
from services.notifier.settings import NotifierSettings
from shared.auth.api import audit_routes
from shared.auth.http import Authenticator
from shared.calendar import BusinessCalendar, CalendarOverrides
from shared.clock import Clock
from shared.db import apply_migrations, create_pool
from shared.governance import Governance, retention_cutoff
from shared.http import error_handlers, openapi_route, ops_routes
from shared.kafka import (
    StoredOffsetsListener,
    ensure_topics,
    kafka_ready,
    load_offsets,
    make_broker,
)
from shared.monitor import ConsumerLagProbe, Probe, watch
from shared.schemas import BreachEvent, dead_letter_value
from shared.topics import Profile

log = logging.getLogger(__name__)


class _State:
    pool: asyncpg.Pool | None = None

    def get_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("the database pool is not open yet")
        return self.pool


def ack_links_from(settings: NotifierSettings) -> AckLinks | None:
    """Ack links need the secret; without it the service runs and sends no links."""
    if settings.notifier_ack_secret is None:
        log.warning("NOTIFIER_ACK_SECRET is not set: notices carry no acknowledgement links")
        return None
    return AckLinks(
        settings.notifier_ack_secret.get_secret_value(),
        settings.notifier_external_url or f"http://localhost:{settings.notifier_port}",
    )


def calendar_from(config: NotifierConfig, settings: NotifierSettings) -> BusinessCalendar:
    overrides = (
        CalendarOverrides.from_yaml(config.calendar_overrides_file)
        if config.calendar_overrides_file
        else CalendarOverrides()
    )
    return BusinessCalendar(overrides, tz=settings.tz)


def robot_urls_from(settings: NotifierSettings, config: NotifierConfig) -> RobotUrls | None:
    """Robot URLs are kept encrypted: routing to robots without NOTIFIER_ROBOT_KEYS stops the
    service at start rather than failing every robot notice later."""
    keys = settings.robot_keys()
    if keys is None:
        if Channel.ROBOT in config.channels_needing():
            raise ConfigError(
                "the robot channel is routed to but NOTIFIER_ROBOT_KEYS is not set: robot "
                "webhook URLs are kept encrypted under it (SECURITY.md)"
            )
        return None
    return RobotUrls(keys)


def channels_for(
    settings: NotifierSettings,
    config: NotifierConfig,
    http: httpx.AsyncClient,
    fresh: httpx.AsyncClient,
    clock: Clock,
    robots: RobotUrls | None = None,
) -> dict[str, ChannelAdapter]:
    poster = Poster(http, fresh)
    channels: dict[str, ChannelAdapter] = {
        "webhook": WebhookChannel(poster, settings.notifier_external_url),
        "log": LogChannel(),
    }
    if robots is not None:
        channels["robot"] = RobotChannel(
            poster,
            robots,
            clock,
            settings.robot_messages_per_window,
            timedelta(seconds=settings.robot_window_seconds),
        )
    secret = settings.app_secret()
    if config.wecom_app is not None:
        if secret is None or not settings.wecom_corp_id:
            log.error("the app channel needs WECOM_CORP_ID and NOTIFIER_WECOM_APP_SECRET")
        else:
            tokens = AccessTokens(
                http, settings.wecom_api_base, settings.wecom_corp_id, secret, clock
            )
            channels["app"] = AppChannel(
                http, tokens, settings.wecom_api_base, config.wecom_app.agent_id, clock
            )
    if config.smtp is not None:
        channels["email"] = EmailChannel(
            config.smtp, settings.notifier_smtp_password, settings.delivery_timeout_seconds
        )
    return channels


def ops_addresses(config: NotifierConfig) -> list[tuple[str, str, str]]:
    """Where ops hear of a disabled robot or a dead letter: each ops recipient on each ops
    channel that can reach them."""
    found = []
    for recipient in config.ops_recipients:
        for channel in config.ops_channels:
            where = destination_of_person(channel, recipient)
            if where is not None:
                found.append((channel.value, recipient, where))
    return found


def create_app(
    settings: NotifierSettings,
    *,
    clock: Clock | None = None,
    calendar: BusinessCalendar | None = None,
) -> Starlette:
    """`clock` and `calendar` can be given by tests (e.g. a calendar where now is working
    time, to see escalation without waiting for Monday); the clock is otherwise the
    settings' (CLOCK_OFFSET_SECONDS), the one every part of the service reads."""
    clock = clock or settings.clock()
    config = settings.routing()  # a bad routing file stops the service here, naming the key
    business_calendar = calendar or calendar_from(config, settings)
    ack_links = ack_links_from(settings)
    robots = robot_urls_from(settings, config)
    state = _State()
    topic = settings.topics.breaches
    broker = make_broker(settings.kafka_bootstrap_servers, "notifier")

    async def dead_letter(raw: Any, reason: str) -> None:
        await broker.publish(
            dead_letter_value(raw, reason), settings.topics.dlq(raw.topic), key=raw.key
        )

    intake = BreachIntake(
        state.get_pool,
        settings.notifier_group_id,
        settings.notifier_webhook_url,
        dead_letter,
        clock,
        config,
        Governance(settings.erasure_hmac_key),
        lambda now: retention_cutoff(
            now, settings.contact_data_retention_months, business_calendar.tz
        ),
    )

    async def load(tps: Any) -> dict[tuple[str, int], int]:
        return await load_offsets(state.get_pool(), settings.notifier_group_id, tps)

    subscriber = broker.subscriber(
        topic,
        group_id=settings.notifier_group_id,
        batch=True,
        max_records=1000,
        batch_timeout_ms=200,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=StoredOffsetsListener(lambda: subscriber.consumer, load),
    )

    @subscriber
    async def on_batch(record: SkipValidation[BreachEvent], message: KafkaMessage) -> None:
        """Breach events, in batches (group NOTIFIER_GROUP_ID)."""
        # `record` is typed as one message, for the AsyncAPI document (shared/asyncapi.py);
        # it is not validated: the intake decodes the raw records itself.
        raw = message.raw_message
        await intake.handle(raw if isinstance(raw, tuple) else (raw,))

    stopping = asyncio.Event()
    probes: list[Probe] = [
        ConsumerLagProbe(lambda: subscriber.consumer, state.get_pool, settings.notifier_group_id),
        NotifierGauges(state.get_pool),
    ]

    async def seal_robots(rotate: bool) -> None:
        if robots is None:
            return
        async with state.get_pool().acquire() as conn:
            sealed = await robots.seal(conn, rotate=rotate)
        if sealed:
            log.info("robot webhook URLs encrypted", extra={"count": sealed})

    async def work(grouper: Grouper, delivery: Delivery) -> None:
        """Until shutdown; a shutdown lets the part in flight be recorded (cancelling between
        sending and committing would send it again after the restart). Robot URLs that
        arrived in plain are sealed each round."""
        while not stopping.is_set():
            handled = 0
            try:
                await seal_robots(rotate=False)
                handled = await grouper.run_once() + await delivery.run_once(stopping)
            except Exception:
                log.exception("delivery round failed; retrying")
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), settings.delivery_interval_seconds)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await apply_migrations(settings.migration_dsn)
        state.pool = await create_pool(
            settings.database_url.get_secret_value(), settings.db_pool_size
        )
        await seal_robots(rotate=True)  # those kept before, and those under an older key
        await broker.connect()
        await ensure_topics(
            broker,
            settings.topic_specs([topic, settings.topics.dlq(topic)]),
            settings.wq_profile is Profile.PRODUCTION,
        )
        await broker.start()
        async with (
            httpx.AsyncClient(timeout=settings.delivery_timeout_seconds) as http,
            fresh_client(settings.delivery_timeout_seconds) as fresh,
        ):
            channels = channels_for(settings, config, http, fresh, clock, robots)
            grouper = Grouper(state.get_pool, config.timing, business_calendar, clock)
            delivery = Delivery(
                state.get_pool,
                channels,
                settings.delivery_max_attempts,
                clock,
                ack_links,
                ops_addresses(config),
            )
            escalator = Escalator(state.get_pool, config, business_calendar, clock)
            tasks = [
                asyncio.create_task(work(grouper, delivery)),
                asyncio.create_task(escalator.run_forever(settings.escalation_interval_seconds)),
                asyncio.create_task(watch(probes, settings.metrics_probe_interval_seconds)),
                asyncio.create_task(
                    contact_data.purge_forever(
                        state.get_pool,
                        clock,
                        settings.contact_data_retention_months,
                        business_calendar.tz,
                    )
                ),
            ]
            if config.daily_digest is not None:
                daily = DailyDigests(
                    state.get_pool, config.daily_digest, config.timing, business_calendar, clock
                )
                tasks.append(
                    asyncio.create_task(daily.run_forever(settings.daily_digest_interval_seconds))
                )
            try:
                yield
            finally:
                stopping.set()
                worker, others = tasks[0], tasks[1:]
                # the part in flight finishes (bounded by the HTTP timeout), then the loop ends
                grace = settings.delivery_timeout_seconds + 5
                _done, late = await asyncio.wait([worker], timeout=grace)
                for task in [*late, *others]:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await broker.stop()
                await state.pool.close()

    async def kafka() -> None:
        await kafka_ready(broker)

    async def postgres() -> None:
        await state.get_pool().fetchval("SELECT 1")

    authn = Authenticator(state.get_pool, settings.sso_verifier())
    app = Starlette(
        routes=[
            *alert_routes(state.get_pool, clock, authn, ack_links),
            *silence_routes(state.get_pool, clock, authn),
            *audit_routes(state.get_pool, authn),
            *alertmanager_routes(
                state.get_pool, settings.notifier_alertmanager_token, ops_addresses(config), clock
            ),
            *ops_routes({"kafka": kafka, "postgres": postgres}),
            openapi_route("services.notifier"),
            notifier_asyncapi(broker, settings.topics),
        ],
        lifespan=lifespan,
        exception_handlers=error_handlers(),
    )
    app.state.settings = settings  # tests issue themselves a token in its database
    return app

"""The live summary's collector against the real services (in-process, behind one HTTP client),
real Kafka and PostgreSQL: consumer lag while the scorer is not running and after it caught up,
the services' counters, employees and alerts."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from services.ingestor.app import create_app as ingestor_app
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.auth import Role
from shared.clock import offset_to, shifted_clock
from shared.settings import Topics
from tests import factories as f
from tests.apps import bearer, eventually, issue_token
from tests.clocks import AS_OF
from tests.infra import Infra, unique
from tests.integration.test_slice import AUTH, db_settings, ingestor_settings
from tests.kafka_helpers import produce
from tools.live_summary.collect import LagReader, Sources, collect
from tools.live_summary.view import Snapshot, render

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("as_of", AS_OF)
async def test_collector_reads_lag_counters_scores_and_alerts(
    infra: Infra, topics: Topics, database: str, as_of: datetime
) -> None:
    # the services and the collector run as of `as_of` (one shifted clock for all)
    offset = offset_to(as_of)
    clock = shifted_clock(offset)
    period = as_of.strftime("%Y-%m")
    db = db_settings(infra, database)
    scorer_cfg = ScorerSettings(
        topics=topics, scorer_group_id=unique("scorer"), **db, clock_offset_seconds=offset
    )
    notifier_cfg = NotifierSettings(
        topics=topics, notifier_group_id=unique("notifier"), **db, clock_offset_seconds=offset
    )
    apps = {
        "ingestor": ingestor_app(
            ingestor_settings(infra, topics).model_copy(update={"clock_offset_seconds": offset})
        ),
        "scorer": scorer_app(scorer_cfg),
        "notifier": notifier_app(notifier_cfg),
    }
    sources = Sources(
        ingestor="http://ingestor",
        scorer="http://scorer",
        notifier="http://notifier",
        kafka=infra.kafka_bootstrap,
        database_url=infra.app_dsn(database),
        topics=topics,
        scorer_group=scorer_cfg.scorer_group_id,
        notifier_group=notifier_cfg.notifier_group_id,
    )
    mounts = {f"http://{name}": httpx.ASGITransport(app=app) for name, app in apps.items()}
    today = clock()
    backlog = [f.add("e1", f"wo-{i}", today) for i in range(5)]
    await produce(infra, topics.bank_records, [f.employee("e1"), f.employee("e2")], key="org")
    await produce(infra, topics.contact_events, backlog, key="e1")

    lag = LagReader(sources)
    try:
        async with httpx.AsyncClient(mounts=mounts) as client:
            # Nothing consumes yet: the whole backlog is lag; without their database the
            # services cannot answer for scores and alerts.
            down = await collect(client, sources, period, lag, clock)
            assert down.lag is not None and down.lag[scorer_cfg.scorer_group_id] == 7
            assert down.employees is None and down.alerts is None
            assert any(p.startswith("scores:") for p in down.problems)

            async with (
                apps["ingestor"].router.lifespan_context(apps["ingestor"]),
                apps["scorer"].router.lifespan_context(apps["scorer"]),
                apps["notifier"].router.lifespan_context(apps["notifier"]),
            ):
                # what `make watch` reads with: a risk token (every score and alert)
                risk = await issue_token(infra.app_dsn(database), Role.RISK)
                client.headers.update(bearer(risk))
                r = await client.post(
                    "http://ingestor/v1/events",
                    json=[f.add("e2", "wo-e2", today)],
                    headers=AUTH,
                )
                assert r.status_code == 200, r.text

                async def reading() -> Snapshot:
                    return await collect(client, sources, period, lag, clock)

                def caught_up(s: Snapshot) -> bool:
                    employees = {e["employee_id"]: e for e in s.employees or []}
                    # the counters (/metrics) are read a moment before the database: wait
                    # for both to show the last record
                    return (
                        s.lag is not None
                        and s.scored is not None
                        and s.scored >= 8
                        and s.lag[scorer_cfg.scorer_group_id] == 0
                        and employees.get("e1", {}).get("gross_adds") == 5
                        and employees.get("e2", {}).get("gross_adds") == 1
                    )

                now = await eventually(reading, caught_up, timeout=120)
                assert now.problems == ()
                assert now.lag is not None and set(now.lag) == {
                    scorer_cfg.scorer_group_id,
                    notifier_cfg.notifier_group_id,
                }
                assert now.ingested is not None and now.ingested >= 1
                assert now.scored is not None and now.scored >= 8
                assert now.alerts == []
                screen = render(now, down)
                assert f"{scorer_cfg.scorer_group_id} 0" in screen
                assert "Employees     2:" in screen
    finally:
        await lag.close()

"""Reconciliation against the WeCom REST API stand-in (cursor pagination, 45009 answers), on
real Kafka: missed adds and deletes corrected once, re-runs idempotent, the daily schedule
(as of each instant of `tests.clocks.AS_OF`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.ingestor.app import create_app, make_reconcile_schedule
from services.ingestor.reconcile import reconcile
from services.ingestor.reconcile_store import ReconcileStore
from services.ingestor.reconciliation import TooManyDeletesError
from shared.clock import ManualClock
from shared.schemas import RECONCILIATION_SOURCE, ContactEvent
from shared.settings import Topics
from tests.apps import eventually, running
from tests.clocks import AS_OF, shanghai
from tests.infra import Infra, unique
from tests.integration.test_ingestor_enrichment import CORP_ID, SECRET, enrich_settings
from tests.kafka_helpers import produce, read_keyed
from tests.standins.wecom_api import Contact, Follow, WeComApiStandIn, wecom_api
from tests.wecom_client import random_aes_key

pytestmark = pytest.mark.integration
CREATED = int(shanghai(2026, 11, 27, 10).timestamp())  # when the contacts were added


def seen_by_callback(employee: str, external: str, at: int) -> bytes:
    """What the callback path published for an add the system saw."""
    event = ContactEvent.model_validate(
        {
            "ToUserName": CORP_ID,
            "ChangeType": "add_external_contact",
            "UserID": employee,
            "ExternalUserID": external,
            "CreateTime": at,
        }
    )
    return event.to_json()


def populate(api: WeComApiStandIn, n: int = 130) -> None:
    for i in range(n):  # more than one page of 100
        api.add(Contact(f"wm{i:03d}", follows=[Follow(f"e{i % 3}", CREATED + i, add_way=1)]))


def settings(infra: Infra, topics: Topics, tmp: Path, api: WeComApiStandIn, state: str) -> Any:
    return enrich_settings(
        infra,
        topics,
        tmp / "spool",
        api.base_url,
        random_aes_key(),
        reconcile_state_dir=tmp / state,
        reconcile_check_seconds=0.2,
        reconcile_lease_group=unique("lease"),
    )


async def test_missed_adds_and_deletes_corrected_once(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    async with wecom_api(CORP_ID, SECRET) as api:
        populate(api)
        # the callbacks the system saw: wm000..wm119, and wmGone (e0), since deleted in WeCom
        seen = [seen_by_callback(f"e{i % 3}", f"wm{i:03d}", CREATED + i) for i in range(120)]
        seen.append(seen_by_callback("e0", "wmGone", CREATED))
        await produce(infra, topics.contact_events, seen, key="e")
        api.remove_follow("wm005", "e2")  # removed through the API: no callback
        api.rate_limit_next = 1  # the first call is rate limited, then backed off
        config = settings(infra, topics, tmp_path, api, "state")

        first = await reconcile(config, ["e0", "e1", "e2"])
        assert (first.employees, first.relations) == (3, 129)
        assert (first.missed_adds, first.missed_deletes) == (10, 2)  # wm120..129; wmGone, wm005
        # 45009 backed off, then 129 relations in two pages (cursor)
        assert api.calls == ["gettoken", "gettoken", "batch/get_by_user", "batch/get_by_user"]

        # again, employees from get_follow_user_list: nothing left to correct
        again = await reconcile(config, None)
        assert (again.employees, again.missed_adds, again.missed_deletes) == (3, 0, 0)
        # the state lost: rebuilt from the topic, corrections included, still nothing
        rebuilt = await reconcile(settings(infra, topics, tmp_path, api, "fresh"), None)
        assert (rebuilt.missed_adds, rebuilt.missed_deletes) == (0, 0)

    events = [e for _, e in await read_keyed(infra, topics.contact_events, 121 + 3 * 131)]
    by_id = {e["event_id"]: e for e in events}
    assert len(by_id) == 121 + 10 + 2  # re-sent adds reuse the callbacks' ids
    deletes = [e for e in by_id.values() if not e["change_type"].startswith("add")]
    assert sorted((d["employee_id"], d["external_userid"]) for d in deletes) == [
        ("e0", "wmGone"),
        ("e2", "wm005"),
    ]
    assert {(d["change_type"], d["source"], d["origin"]) for d in deletes} == {
        ("del_follow_user", "RECONCILIATION", "reconciliation")
    }
    # three runs, each sent its corrective deletes; the same two ids every time
    assert sum(1 for e in events if e["source"] == "RECONCILIATION") == 2
    # each successful walk of everyone marked WeCom's data complete through its start, last;
    # the first run, for three named employees only, marked nothing
    marks = await markers(infra, topics)
    assert [m["complete_through"] for m in marks] == sorted(m["complete_through"] for m in marks)
    assert len(marks) == 2 and len({m["event_id"] for m in marks}) == 2


async def markers(infra: Infra, topics: Topics) -> list[Any]:
    """The reconciliation's completion markers on the bank-records topic."""
    records = await read_keyed(infra, topics.bank_records, 0, timeout_ms=2000)
    marks = [(k, v) for k, v in records if v["type"] == "source_watermark"]
    assert all(k == "source:wecom.reconciliation" for k, _ in marks)
    assert all(v["source"] == RECONCILIATION_SOURCE for _, v in marks)
    return [v for _, v in marks]


async def test_a_walk_that_loses_most_relations_deletes_nothing(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    async with wecom_api(CORP_ID, SECRET) as api:
        populate(api, 60)
        api.follow_user_ids = ["e0", "e1", "e2"]
        config = settings(infra, topics, tmp_path, api, "state")
        assert (await reconcile(config, None)).missed_adds == 60
        for i in range(60):
            if i % 3 == 0:
                api.remove_follow(f"wm{i:03d}", "e0")  # e0 loses all 20: WeCom answering short
        with pytest.raises(TooManyDeletesError):
            await reconcile(config, None)
        store = ReconcileStore(tmp_path / "state")
        try:
            last = store.last_run()
            assert last is not None and last.outcome == "failed"
            assert len(store.known_followers(["e0"])) == 20  # the belief is unchanged
        finally:
            store.close()
    events = [e for _, e in await read_keyed(infra, topics.contact_events, 0, timeout_ms=2000)]
    assert not [e for e in events if e["source"] == "RECONCILIATION"]
    assert len(await markers(infra, topics)) == 1  # the failed run marked nothing


def corrections(kind: str) -> float:
    value = REGISTRY.get_sample_value("ingestor_reconcile_corrections_total", {"kind": kind})
    return value or 0.0


@pytest.mark.parametrize("day", AS_OF)
async def test_the_ingestor_runs_it_daily_and_a_restart_does_not_repeat_it(
    infra: Infra, topics: Topics, tmp_path: Path, day: datetime
) -> None:
    clock = ManualClock(day)
    async with wecom_api(CORP_ID, SECRET) as api:
        populate(api, 7)
        config = settings(infra, topics, tmp_path, api, "state")
        slot = (day - timedelta(minutes=1)).astimezone(config.tz).time()
        config = config.model_copy(update={"reconcile_daily_at": slot})
        adds_before = corrections("add")
        async with running(create_app(config, clock=clock)):
            await eventually(_value(lambda: corrections("add")), lambda v: v == adds_before + 7)
            # the run then publishes its completion marker and records itself: wait for that
            await eventually(_value(lambda: _succeeded_runs(tmp_path)), lambda n: n == 1)
        assert api.count("batch/get_by_user") == 1
        store = ReconcileStore(tmp_path / "state")
        try:
            last = store.last_run("succeeded")
            assert last is not None and last.missed_adds == 7
        finally:
            store.close()
        # a restarted ingestor reads the run from its store: not due again until tomorrow
        schedule = make_reconcile_schedule(config, clock)
        assert schedule is not None and schedule.lease is not None
        lease = schedule.lease
        await lease.start()
        try:
            # held, and the lease topic read (the run above is recorded there too)
            await eventually(_value(lambda: float(lease.ready)), lambda ready: ready == 1.0)
            assert await schedule.run_if_due() is False
            clock.advance(timedelta(hours=23, minutes=58))  # before tomorrow's slot
            assert await schedule.run_if_due() is False
            clock.advance(timedelta(minutes=2))
            assert await schedule.run_if_due() is True
        finally:
            await lease.stop()
            schedule.close()
        assert api.count("batch/get_by_user") == 2
    # the markers say complete through each run's start, by the injected clock
    through = [datetime.fromisoformat(m["complete_through"]) for m in await markers(infra, topics)]
    assert through == [day, clock()]
    gauge = REGISTRY.get_sample_value("ingestor_reconcile_last_success_timestamp_seconds")
    assert gauge is not None and gauge > 0


def _succeeded_runs(tmp_path: Path) -> float:
    store = ReconcileStore(tmp_path / "state")
    try:
        return 0.0 if store.last_run("succeeded") is None else 1.0
    finally:
        store.close()


def _value(read: Callable[[], float]) -> Callable[[], Awaitable[float]]:
    async def probe() -> float:
        return read()

    return probe

"""Durable WeCom lookups against the API stand-in, on real Kafka: every contact added gets
exactly one profile or a recorded not-found, whatever WeCom does (rate limits, failures,
garbage, hangs, outages) and across a restart; the callbacks keep answering meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from starlette.applications import Starlette

from services.ingestor.app import Runtime, create_app
from services.ingestor.lookups.ledger import ledger_path
from shared.settings import Topics
from tests import factories
from tests.apps import eventually, running
from tests.infra import Infra
from tests.integration.test_ingestor_callback import change_xml, post, settings_for
from tests.integration.test_ingestor_enrichment import CORP_ID, SECRET, enrich_settings, settled
from tests.kafka_helpers import read_keyed
from tests.standins.wecom_api import Contact, Follow, WeComApiStandIn, wecom_api
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration
CREATED = 1_790_000_000
API_TOKEN = "lookups-test-token-0123456789"
BEARER = {"authorization": f"Bearer {API_TOKEN}"}


def lookups(outcome: str) -> float:
    return REGISTRY.get_sample_value("ingestor_lookups_total", {"outcome": outcome}) or 0.0


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value("ingestor_lookup_failures_total", {"reason": reason})
    return value or 0.0


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def contacts(api: WeComApiStandIn, n: int, missing: int = 0) -> list[tuple[str, str]]:
    """n adds of new contacts, (employee, contact); the last `missing` unknown to WeCom."""
    out = []
    for i in range(n):
        employee, external = f"e{i % 7}", f"wm{i:05d}"
        if i < n - missing:
            api.add(Contact(external, follows=[Follow(employee, CREATED + i, add_way=1 + i % 3)]))
        out.append((employee, external))
    return out


async def send_adds(
    client: AsyncClient, wecom: WeComClient, adds: list[tuple[str, str]], in_flight: int = 16
) -> list[float]:
    """Every add as an encrypted callback; each answered 200; their latencies."""
    slots = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def one(i: int, employee: str, external: str) -> None:
        async with slots:
            msg = change_xml("add_external_contact", employee, external, CREATED + i)
            started = time.perf_counter()
            response = await post(client, wecom.callback(msg))
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200

    await asyncio.gather(*(one(i, e, x) for i, (e, x) in enumerate(adds)))
    return latencies


async def profiles_by_contact(infra: Infra, topics: Topics, expect: int) -> dict[str, list[Any]]:
    records = [v for _, v in await read_keyed(infra, topics.bank_records, expect, 20_000)]
    out: dict[str, list[Any]] = {}
    for record in records:
        if record["type"] == "contact_profile":
            out.setdefault(record["external_userid"], []).append(record)
    return out


def settings(infra: Infra, topics: Topics, tmp: Path, api: WeComApiStandIn, key: str) -> Any:
    return enrich_settings(
        infra,
        topics,
        tmp / "spool",
        api.base_url,
        key,
        ingest_api_tokens=SecretStr(API_TOKEN),
        wecom_breaker_reset_seconds=0.3,
        wecom_api_timeout_seconds=0.5,
    )


async def test_a_burst_under_rate_limits_and_failures_profiles_every_contact_once(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    limited, profiled = lookups("rate_limited"), lookups("profiled")
    async with wecom_api(CORP_ID, SECRET) as api:
        api.max_lookups_per_second = 60  # WeCom's limit, below what the ingestor tries
        api.failure_share, api.seed = 0.05, 17
        adds = contacts(api, 400, missing=8)
        config = settings(infra, topics, tmp_path, api, key).model_copy(
            update={"wecom_lookup_rate_per_second": 150.0, "wecom_lookup_concurrency": 32}
        )
        app = create_app(config)
        async with running(app) as client:
            latencies = await send_adds(client, wecom, adds)
            outcomes = await settled(app, 400, timeout=120)
            assert gauge("ingestor_lookup_backlog") == 0 or await _backlog_empty(app)
    assert max(latencies) < 5.0  # WeCom's limit for an answer, held throughout
    assert Counter(outcomes.values()) == {"profiled": 392, "not_found": 8}
    by_contact = await profiles_by_contact(infra, topics, 400)
    assert sorted(by_contact) == sorted(x for _, x in adds)
    assert all(len(records) == 1 for records in by_contact.values())  # exactly one each
    # one successful lookup per contact WeCom knows, none repeated
    assert len(api.answered) == 392 and set(api.answered.values()) == {1}
    assert api.faults["rate_limited"] > 0 and lookups("rate_limited") > limited
    assert sum(api.faults[k] for k in ("http_500", "http_503", "busy")) > 0
    assert lookups("profiled") - profiled == 392
    missing = {x for _, x in adds[-8:]}
    for x in missing:
        [record] = by_contact[x]
        assert (record["found"], record["lookup_errcode"]) == (False, 84061)
    for _, x in adds[:-8]:
        [record] = by_contact[x]
        assert record["found"] is True and record["employee_id"] == f"e{int(x[2:]) % 7}"


async def _backlog_empty(app: Starlette) -> bool:
    runtime: Runtime = app.state.runtime
    assert runtime.lookups is not None
    await runtime.lookups.workers.update_gauges()
    return gauge("ingestor_lookup_backlog") == 0 and gauge("ingestor_lookup_oldest_seconds") == 0


async def test_a_stopped_ingestor_leaves_nothing_behind_for_the_next(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    async with wecom_api(CORP_ID, SECRET) as api:
        adds = contacts(api, 300, missing=3)
        config = settings(infra, topics, tmp_path, api, key).model_copy(
            update={"wecom_lookup_rate_per_second": 40.0, "wecom_lookup_concurrency": 8}
        )
        first = create_app(config)
        async with running(first) as client:
            await send_adds(client, wecom, adds)
            # stopped mid-way, nothing drained: some looked up, most still waiting
            await eventually(
                lambda: asyncio.to_thread(lambda: len(api.answered)), lambda n: n >= 40
            )
        done_before = len(api.answered)
        assert done_before < 297
        second = create_app(config)  # the same LOOKUP_STATE_DIR and consumer group
        async with running(second):
            outcomes = await settled(second, 300, timeout=120)
    assert Counter(outcomes.values()) == {"profiled": 297, "not_found": 3}
    by_contact = await profiles_by_contact(infra, topics, 300)
    assert sorted(by_contact) == sorted(x for _, x in adds)  # none lost
    # at most the lookups in flight at the stop were asked again (8 at once), no others
    repeated = sum(n - 1 for n in api.answered.values())
    assert repeated <= 8
    assert sum(len(r) for r in by_contact.values()) - 300 <= 8


def forget_answers(ledger: Path, external_userids: list[str]) -> None:
    """The ledger as a kill -9 between publishing these answers and recording them leaves
    it: the contacts still waiting, their followers uncovered."""
    with closing(sqlite3.connect(ledger)) as db, db:
        marks = ",".join("?" * len(external_userids))
        db.execute(
            f"UPDATE follower SET covered = 0 WHERE external_userid IN ({marks})",
            external_userids,
        )
        db.execute(
            f"""UPDATE contact SET wanted_since = 1, due_at = 1, outcome = NULL
                 WHERE external_userid IN ({marks})""",
            external_userids,
        )


async def test_answers_published_before_a_kill_are_read_back_not_asked_again(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    async with wecom_api(CORP_ID, SECRET) as api:
        adds = contacts(api, 120, missing=4)
        config = settings(infra, topics, tmp_path, api, key)
        first = create_app(config)
        async with running(first) as client:
            await send_adds(client, wecom, adds)
            await settled(first, 120)
        assert sum(api.answered.values()) == 116
        asked = api.calls.count("externalcontact/get")
        # 36 profiled and the 4 unknown to WeCom, published but (as after a kill) not recorded
        forgotten = [x for _, x in adds[80:]]
        forget_answers(ledger_path(config.lookup_state_dir, topics.contact_events), forgotten)
        recovered = REGISTRY.get_sample_value("ingestor_lookups_recovered_total") or 0.0
        second = create_app(config)
        async with running(second):
            outcomes = await settled(second, 120)
    assert Counter(outcomes.values()) == {"profiled": 116, "not_found": 4}
    assert (REGISTRY.get_sample_value("ingestor_lookups_recovered_total") or 0.0) - recovered == 40
    assert api.calls.count("externalcontact/get") == asked  # none of the 40 asked again
    by_contact = await profiles_by_contact(infra, topics, 120)
    assert all(len(r) == 1 for r in by_contact.values())


async def test_an_outage_then_recovery_profiles_everything_and_callbacks_keep_answering(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    http_5xx, timeouts = failures("http_5xx"), failures("timeout")
    async with wecom_api(CORP_ID, SECRET) as api:
        adds = contacts(api, 60)
        api.outage_status = 503  # WeCom down, gettoken too
        app = create_app(settings(infra, topics, tmp_path, api, key))
        async with running(app) as client:
            latencies = await send_adds(client, wecom, adds[:30])
            await eventually(lambda: _async(lambda: failures("http_5xx")), lambda n: n > http_5xx)
            api.outage_status, api.hang = None, True  # then hanging: each call times out
            latencies += await send_adds(client, wecom, adds[30:])
            await eventually(lambda: _async(lambda: failures("timeout")), lambda n: n > timeouts)
            await asyncio.sleep(1.0)
            runtime: Runtime = app.state.runtime
            assert runtime.lookups is not None
            waiting = await asyncio.to_thread(runtime.lookups.ledger.backlog)
            assert waiting.waiting == 60  # nothing given up, nothing dropped
            await runtime.lookups.workers.update_gauges()
            assert gauge("ingestor_lookup_backlog") == 60
            assert gauge("ingestor_lookup_oldest_seconds") >= 1.0
            api.hang = False  # WeCom is back
            outcomes = await settled(app, 60, timeout=60)
    assert max(latencies) < 5.0
    assert set(outcomes.values()) == {"profiled"}
    by_contact = await profiles_by_contact(infra, topics, 60)
    assert len(by_contact) == 60 and all(len(r) == 1 for r in by_contact.values())


async def test_garbage_and_unknown_errcodes_are_retried_with_their_reason(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    garbage, unknown = failures("garbage"), failures("other_errcode")
    async with wecom_api(CORP_ID, SECRET) as api:
        adds = contacts(api, 10)
        api.garbage_next, api.unknown_errcode_next = 4, 3
        api.not_found = {"wm00009"}  # 40096: an invalid external_userid, a result
        app = create_app(settings(infra, topics, tmp_path, api, key))
        async with running(app) as client:
            await send_adds(client, wecom, adds)
            outcomes = await settled(app, 10)
    assert Counter(outcomes.values()) == {"profiled": 9, "not_found": 1}
    assert failures("garbage") - garbage == 4
    assert failures("other_errcode") - unknown == 3
    by_contact = await profiles_by_contact(infra, topics, 10)
    assert all(len(r) == 1 for r in by_contact.values()) and len(by_contact) == 10
    assert by_contact["wm00009"][0]["lookup_errcode"] == 40096


async def test_contact_events_from_the_bank_are_looked_up_too(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    async with wecom_api(CORP_ID, SECRET) as api:
        contacts(api, 3)
        app = create_app(settings(infra, topics, tmp_path, api, random_aes_key()))
        async with running(app) as client:
            events = [
                {
                    "type": "contact_event",
                    "change_type": "add_external_contact",
                    "employee_id": f"e{i}",
                    "external_userid": f"wm{i:05d}",
                    "occurred_at": CREATED + i,
                }
                for i in range(3)
            ]
            response = await client.post("/v1/events", json=events, headers=BEARER)
            assert response.status_code == 200
            assert set((await settled(app, 3)).values()) == {"profiled"}


async def _async(read: Any) -> Any:
    return read()


# -- /v1/events: what the store cannot hold is refused whole, naming record and field --------


@pytest.mark.parametrize(("hostile", "code"), [("e\x001", "U+0000"), ("e\u202e1", "U+202E")])
async def test_a_hostile_id_refuses_the_whole_request_naming_index_and_field(
    infra: Infra, topics: Topics, tmp_path: Path, hostile: str, code: str
) -> None:
    config = settings_for(
        infra, topics, tmp_path, aes_key=random_aes_key(), ingest_api_tokens=SecretStr(API_TOKEN)
    )
    async with running(create_app(config)) as client:
        body = [factories.employee("e1"), factories.employee(hostile)]
        response = await client.post("/v1/events", json=body, headers=BEARER)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["index"] == 1 and error["type"] == "employee"
    assert error["error"].startswith("employee_id:") and code in error["error"]
    assert await read_keyed(infra, topics.bank_records, 0, timeout_ms=1500) == []


async def test_staff_accounts_and_source_watermarks_are_published_but_not_the_systems_own(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    config = settings_for(
        infra, topics, tmp_path, aes_key=random_aes_key(), ingest_api_tokens=SecretStr(API_TOKEN)
    )
    staff = {"type": "staff_account", "employee_id": "e1", "unionid": "oU1"}
    mark = {"type": "source_watermark", "source": "hr", "complete_through": "2026-10-31T16:00Z"}
    async with running(create_app(config)) as client:
        accepted = await client.post("/v1/events", json=[staff, mark], headers=BEARER)
        ours = {**mark, "source": "wecom.reconciliation"}
        refused = await client.post("/v1/events", json=[ours], headers=BEARER)
    assert accepted.status_code == 200 and accepted.json() == {"accepted": 2}
    assert refused.status_code == 422 and refused.json()["errors"][0]["index"] == 0
    published = await read_keyed(infra, topics.bank_records, 2)
    assert sorted((k, v["type"]) for k, v in published) == [
        ("employee:e1", "staff_account"),
        ("source:hr", "source_watermark"),
    ]
    assert len(await read_keyed(infra, topics.bank_records, 3, timeout_ms=1500)) == 2

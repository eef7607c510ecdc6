"""Enrichment against a real local WeCom API stand-in, on real Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from starlette.applications import Starlette

from services.ingestor.app import Runtime, create_app
from services.ingestor.enrichment.wecom_api import WeComApi, WeComApiError
from shared.settings import Topics
from tests.apps import eventually, running
from tests.infra import Infra, unique
from tests.integration.test_ingestor_callback import (
    change_xml,
    post,
    settings_for,
)
from tests.kafka_helpers import read_keyed
from tests.standins.wecom_api import Contact, Follow, wecom_api
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration
CORP_ID = "ww0123456789abcdef"
SECRET = "corp-secret-0123456789abcdef"


def enrich_settings(
    infra: Infra, topics: Topics, spool: Path, base: str, key: str, **extra: Any
) -> Any:
    """Lookups of the test's own (ledger folder, consumer group), retried within a second."""
    values: dict[str, Any] = {
        "wecom_rate_limit_backoff_seconds": 0.05,
        "lookup_state_dir": spool.with_name(f"{spool.name}-lookups"),
        "lookup_group_id": unique("lookups"),
        "wecom_lookup_retry_base_seconds": 0.05,
        "wecom_lookup_retry_cap_seconds": 0.5,
        **extra,
    }
    return settings_for(
        infra,
        topics,
        spool,
        aes_key=key,
        wecom_api_base=base,
        wecom_corp_secret=SecretStr(SECRET),
        **values,
    )


async def settled(app: Starlette, contacts: int, timeout: float = 60.0) -> dict[str, str | None]:
    """Until the ledger holds `contacts` contacts and none waits; their outcomes."""
    runtime: Runtime = app.state.runtime
    assert runtime.lookups is not None
    ledger = runtime.lookups.ledger

    async def outcomes() -> dict[str, str | None]:
        return dict(await asyncio.to_thread(ledger.outcomes))

    def done(found: dict[str, str | None]) -> bool:
        return len(found) >= contacts and None not in found.values()

    return await eventually(outcomes, done, timeout=timeout)


async def test_add_is_published_at_once_then_profiled(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    async with wecom_api(CORP_ID, SECRET) as api:
        peer = api.add(
            Contact(
                "wmPeer",
                type=2,
                corp_name="某某银行",
                unionid="oU1",
                follows=[
                    Follow("e1", 1_760_000_000, add_way=16, state="ch1", oper_userid="wmPeer")
                ],
            )
        )
        api.rate_limit_next = 2  # 45009 twice: backed off, then answered
        limited = api_errors("gettoken", "45009")
        rejected = api_errors("externalcontact/get", "40014")
        app = create_app(enrich_settings(infra, topics, tmp_path, api.base_url, key))
        async with running(app) as client:
            msg = change_xml("add_external_contact", "e1", "wmPeer", 1_760_000_000)
            assert (await post(client, wecom.callback(msg))).status_code == 200
            assert await settled(app, 1) == {"wmPeer": "profiled"}

            # an edit by the same follower: the profile is known, no lookup
            msg = change_xml("edit_external_contact", "e1", "wmPeer", 1_760_000_050)
            assert (await post(client, wecom.callback(msg))).status_code == 200
            # 40014: another process refreshed the token; refreshed and retried once. A new
            # follower the last answer did not list: one refresh (add_way is per follower)
            api.invalidate_tokens(40014)
            peer.follows.append(Follow("e2", 1_760_000_100, add_way=202, oper_userid="e9"))
            msg = change_xml("add_external_contact", "e2", "wmPeer", 1_760_000_100)
            assert (await post(client, wecom.callback(msg))).status_code == 200
            await eventually(
                lambda: asyncio.to_thread(lambda: api.answered["wmPeer"]), lambda n: n == 2
            )
            assert await settled(app, 1) == {"wmPeer": "profiled"}

    [(_, event), _edit, _add] = await read_keyed(infra, topics.contact_events, 3)
    assert event["enriched"] is False  # the callback never waited for the API
    profiles = await read_keyed(infra, topics.bank_records, 2)
    assert len(profiles) == 2
    record_key, profile = profiles[0]
    assert record_key == "contact:wmPeer"
    assert profile["type"] == "contact_profile"
    assert (profile["contact_type"], profile["corp_name"], profile["unionid"]) == (
        2,
        "某某银行",
        "oU1",
    )
    assert (profile["employee_id"], profile["add_way"], profile["state"]) == ("e1", 16, "ch1")
    assert profile["oper_userid"] == "wmPeer" and profile["found"] is True
    refreshed = profiles[1][1]
    assert (refreshed["employee_id"], refreshed["add_way"], refreshed["oper_userid"]) == (
        "e2",
        202,
        "e9",
    )
    # two 45009 answers to gettoken, retried later; then one refresh after the 40014
    assert api.calls.count("gettoken") == 4
    assert api.calls.count("externalcontact/get") == 3  # the 40014 call retried once
    assert api.answered["wmPeer"] == 2  # the edit asked for nothing
    # metrics: WeCom API errors by endpoint and errcode
    assert api_errors("gettoken", "45009") == limited + 2
    assert api_errors("externalcontact/get", "40014") == rejected + 1


def api_errors(api: str, errcode: str) -> float:
    labels = {"api": api, "errcode": errcode}
    return REGISTRY.get_sample_value("ingestor_wecom_api_errors_total", labels) or 0.0


async def test_token_refreshed_once_and_rate_limit_surfaces_when_persistent() -> None:
    async with wecom_api(CORP_ID, SECRET) as stand_in:
        stand_in.add(Contact("wmA", follows=[Follow("e1", 1)]))
        client = WeComApi(stand_in.base_url, CORP_ID, SECRET, rate_limit_backoff=0.01)
        try:
            await client.external_contact("wmA")
            await client.external_contact("wmA")
            assert stand_in.count("gettoken") == 1  # cached
            stand_in.invalidate_tokens(42001)
            await client.external_contact("wmA")
            assert stand_in.count("gettoken") == 2
            stand_in.rate_limit_next = 10
            with pytest.raises(WeComApiError) as raised:
                await client.external_contact("wmA")
            assert raised.value.errcode == 45009 and raised.value.transient
            stand_in.rate_limit_next = 0
            with pytest.raises(WeComApiError) as missing:
                await client.external_contact("wmNobody")
            assert missing.value.errcode == 84061 and not missing.value.transient
        finally:
            await client.close()

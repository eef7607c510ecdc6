"""Kafka unreachable: callbacks are spooled (fsynced) and answered 200; an ingestor pointed at
the real broker with the same spool replays them in order, losing and doubling nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingestor.app import Runtime, create_app
from services.ingestor.delivery.spool import Spool
from shared.settings import Topics
from tests.apps import eventually, running
from tests.infra import Infra
from tests.integration.test_ingestor_callback import (
    change_xml,
    post,
    settings_for,
)
from tests.kafka_helpers import read_keyed
from tests.standins.webhook_sink import free_port
from tests.wecom_client import WeComClient, random_aes_key

pytestmark = pytest.mark.integration
CORP_ID = "ww0123456789abcdef"


async def test_kafka_down_spools_then_replays_without_loss(
    infra: Infra, topics: Topics, tmp_path: Path
) -> None:
    key = random_aes_key()
    wecom = WeComClient("QDG6eK0123456789", key, CORP_ID)
    spool = tmp_path / "spool"
    closed = f"127.0.0.1:{free_port()}"
    down = settings_for(infra, topics, spool, aes_key=key, kafka_bootstrap_servers=closed)
    messages = [
        change_xml("add_external_contact", "e1", f"wm{i}", 1_760_000_000 + i) for i in range(5)
    ] + [change_xml("del_follow_user", "e1", "wm0", 1_760_000_100)]

    app = create_app(down)
    async with running(app) as client:
        for message in messages:
            assert (await post(client, wecom.callback(message))).status_code == 200
        runtime: Runtime = app.state.runtime
        assert runtime.spool.depth == len(messages)
        assert (await client.get("/readyz")).status_code == 503
        metrics = (await client.get("/metrics")).text
        assert f"ingestor_spool_depth {float(len(messages))}" in metrics

    up = create_app(settings_for(infra, topics, spool, aes_key=key))
    async with running(up) as client:
        runtime = up.state.runtime
        await eventually(lambda: _depth(runtime), lambda d: d == 0)
        # new callbacks flow directly once the spool is empty
        extra = change_xml("add_external_contact", "e2", "wmNew", 1_760_000_200)
        assert (await post(client, wecom.callback(extra))).status_code == 200

    events = await read_keyed(infra, topics.contact_events, len(messages) + 1)
    assert len(events) == len(messages) + 1
    e1 = [e for k, e in events if k == "e1"]
    assert [e["external_userid"] for e in e1] == [f"wm{i}" for i in range(5)] + ["wm0"]
    assert e1[-1]["change_type"] == "del_follow_user"  # order kept per employee
    left = Spool(spool)  # nothing left to replay, and replayed segments deleted
    assert left.depth == 0 and not list(spool.glob("segment-*"))
    left.close()


async def _depth(runtime: Runtime) -> int:
    return runtime.spool.depth

"""A receiver that closed a pooled keep-alive connection just as we reuse it: the webhook
(replayable by its Idempotency-Key) goes again at once on a new connection, with no backoff;
a robot message (WeCom has no idempotency key, and the request was completely written) is not
repeated at once but by the outbox's backoff. Either way it arrives exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Topics
from tests.apps import eventually
from tests.infra import Infra
from tests.integration.test_notifier_delivery import (
    breach,
    make_settings,
    notifier,
    publish,
    query,
    robot_config,
    seed_org,
    team,
)
from tests.standins.keepalive_receiver import KeepAliveReceiver, keepalive_receiver

pytestmark = pytest.mark.integration

OUTCOMES = """
SELECT d.digest_id, array_agg(l.outcome ORDER BY l.log_id) AS outcomes, d.attempts, d.state
  FROM notice_digest d JOIN notice_delivery_log l USING (digest_id)
 WHERE d.channel = $1 GROUP BY d.digest_id ORDER BY d.digest_id
"""


async def _received(receiver: KeepAliveReceiver) -> int:
    return len(receiver.received)


async def test_webhook_is_sent_again_at_once_on_a_new_connection(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with keepalive_receiver(drop_reused=1) as receiver:
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            {"timing": {"group_wait_seconds": 0, "group_interval_seconds": 0}},
            notifier_webhook_url=receiver.url("/hook"),
        )
        async with notifier(settings):
            await publish(infra, topics.breaches, [breach("e1")])
            await eventually(lambda: _received(receiver), lambda n: n == 1)
            await publish(infra, topics.breaches, [breach("e2")])
            await eventually(lambda: _received(receiver), lambda n: n == 2)
        assert receiver.dropped == [1]  # the pooled connection was reused and closed on us
        assert [r.connection for r in receiver.received] == [1, 2]
        keys = [r.headers["idempotency-key"] for r in receiver.received]
        assert "e1" in keys[0] and "e2" in keys[1]
        rows = await query(infra, database, OUTCOMES, "webhook")
        # no backoff: each digest took one attempt and was logged sent, never retried
        assert [(list(r["outcomes"]), r["attempts"], r["state"]) for r in rows] == [
            (["sent"], 1, "sent"),
            (["sent"], 1, "sent"),
        ]


async def test_robot_message_is_not_repeated_at_once_but_after_the_backoff(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with keepalive_receiver(drop_reused=1) as receiver:
        await seed_org(infra, database, team(receiver.url("/cgi-bin/webhook/send?key=k1")))
        settings = make_settings(
            infra, topics, database, tmp_path, robot_config(group_wait_seconds=0)
        )
        async with notifier(settings):
            await publish(infra, topics.breaches, [breach("e1")])
            await eventually(lambda: _received(receiver), lambda n: n == 1)
            await publish(infra, topics.breaches, [breach("e2")])
            await eventually(lambda: _received(receiver), lambda n: n == 2, timeout=40)
        assert receiver.dropped == [1]
        assert [r.connection for r in receiver.received] == [1, 2]
        bodies = [r.body.decode() for r in receiver.received]
        assert "e1 closed" in bodies[0] and "e2 closed" in bodies[1]
        rows = await query(infra, database, OUTCOMES, "robot")
        assert [(list(r["outcomes"]), r["state"]) for r in rows] == [
            (["sent"], "sent"),
            (["retry", "sent"], "sent"),
        ]
        log = await query(
            infra,
            database,
            "SELECT detail FROM notice_delivery_log WHERE outcome = 'retry'",
        )
        assert len(log) == 1 and ("ReadError" in log[0]["detail"] or "Protocol" in log[0]["detail"])

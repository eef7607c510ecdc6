"""Robot webhook URLs at rest (SECURITY.md, "Secrets at rest"), on real Kafka and PostgreSQL:
the bank's employee record with a group robot goes through the real scorer, which seals the URL
under NOTIFIER_ROBOT_KEYS as it stores the record (never in plain in any table; an older
record changes nothing, the same URL is not sealed again, a record without one forgets it);
a scorer without the keys leaves it in plain aside (migration 0014) for the notifier to seal.
The stored bytes hold neither the robot's key nor its URL, and the notifier still delivers to
the WeCom robot stand-in. A key rotation re-seals at start; a key dropped too early makes a
dead letter that says so, never a crash or a leak. The dashboards' role reads no robot URL, no
webhook URL and no secret of either in any table or view it may select."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from services.scorer.app import create_app as scorer_app
from services.scorer.settings import ScorerSettings
from shared.sealed import KeyRing, new_entry
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra, unique
from tests.integration.test_notifier_delivery import (
    ROBOT_KEYS,
    breach,
    make_settings,
    notifier,
    publish,
    query,
    robot_config,
)
from tests.kafka_helpers import produce
from tests.security.test_secrets_and_roles import reader_dsn
from tests.standins.webhook_sink import webhook_sink
from tests.standins.wecom_robot import WeComStandIn, wecom_standin

pytestmark = pytest.mark.integration
WEBHOOK_SECRET = "whTok" + uuid.uuid4().hex  # a token in the catch-all webhook's URL


def robot_key() -> str:
    return "rk" + uuid.uuid4().hex  # the secret in a robot's URL


def org(robot_url: str) -> list[dict[str, Any]]:
    """lead1 leads team t1 of b1, whose member e1's record names the team's robot."""
    at = "2026-11-01T09:00:00+08:00"
    return [
        {**f.employee("lead1", supervisor_id=None, role="team_lead"), "occurred_at": at},
        {**f.employee("e1", supervisor_id="lead1", robot_webhook=robot_url), "occurred_at": at},
    ]


def scorer_settings(
    infra: Infra, topics: Topics, database: str, robot_keys: str | None
) -> ScorerSettings:
    return ScorerSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=SecretStr(infra.app_dsn(database)),
        database_migration_url=SecretStr(infra.owner_dsn(database)),
        topics=topics,
        scorer_group_id=unique("scorer"),
        close_period_kinds=[],
        notifier_robot_keys=SecretStr(robot_keys) if robot_keys else None,
    )


@asynccontextmanager
async def scorer_wrote_org(
    infra: Infra, topics: Topics, database: str, robot_url: str, robot_keys: str | None
) -> AsyncIterator[None]:
    """The org record through Kafka and the real scorer into `employee`, as in production
    (with the notifier's key ring, or without: `robot_keys` None)."""
    await produce(infra, topics.bank_records, org(robot_url), key="org")
    settings = scorer_settings(infra, topics, database, robot_keys)
    async with running(scorer_app(settings), role=None):

        async def employees() -> list[asyncpg.Record]:
            return await query(infra, database, "SELECT employee_id FROM employee")

        await eventually(employees, lambda rows: len(rows) == 2, timeout=60)
        yield


async def kept(infra: Infra, database: str) -> asyncpg.Record:
    rows = await query(infra, database, "SELECT * FROM employee_robot")
    assert len(rows) == 1, rows
    return rows[0]


async def readable_text(dsn: str) -> dict[str, str]:
    """Every row of every table and view the connected role may SELECT, as text, by relation
    (partitions are read through their parent)."""
    conn = await asyncpg.connect(dsn)
    try:
        relations = await conn.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
                  AND NOT c.relispartition AND has_table_privilege(c.oid, 'SELECT')
                ORDER BY 1"""
        )
        found = {}
        for r in relations:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{r["relname"]}" t')
            found[r["relname"]] = "\n".join(x["row"] for x in rows)
        return found
    finally:
        await conn.close()


async def refused(dsn: str, sql: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetch(sql)
    except asyncpg.InsufficientPrivilegeError:
        return True
    finally:
        await conn.close()
    return False


async def robot_count(wecom: WeComStandIn, key: str) -> int:
    return len(wecom.messages_for(key))


async def test_robot_urls_are_sealed_at_rest_out_of_the_dashboards_reach_and_still_deliver(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    key = robot_key()
    async with wecom_standin(valid_keys={key}) as wecom, webhook_sink() as sink:
        url = wecom.robot_url(key)
        hook = f"{sink.url}?token={WEBHOOK_SECRET}"
        async with scorer_wrote_org(infra, topics, database, url, ROBOT_KEYS):
            pass
        # sealed by the scorer as it stored the record: never in plain, not even before the
        # notifier's first round
        employees = await query(infra, database, "SELECT employee_id, robot_webhook FROM employee")
        assert {(r["employee_id"], r["robot_webhook"]) for r in employees} == {
            ("lead1", None),
            ("e1", "(kept apart)"),
        }
        stored = await kept(infra, database)
        assert stored["url_plain"] is None and stored["key_id"] == "tests"
        ring = KeyRing.parse("NOTIFIER_ROBOT_KEYS", SecretStr(ROBOT_KEYS))
        assert ring.open(bytes(stored["sealed"]), "employee_robot:e1") == url
        everything = await readable_text(infra.owner_dsn(database))
        assert [name for name, text in everything.items() if key in text] == []

        sink.fail_next = 1  # the webhook's first answer is a 503: an error is recorded
        settings = make_settings(
            infra, topics, database, tmp_path, robot_config(), notifier_webhook_url=hook
        )
        async with notifier(settings):
            await publish(infra, topics.breaches, [breach("e1")])
            await eventually(lambda: robot_count(wecom, key), lambda n: n == 1, timeout=60)
            await sink.wait_for(1, timeout=60)
        assert "<@lead1>" in wecom.messages_for(key)[0].content

        row = await kept(infra, database)
        assert row["url_plain"] is None and row["key_id"] == "tests"
        sealed = bytes(row["sealed"])
        assert key.encode() not in sealed and b"webhook/send" not in sealed
        assert ring.open(sealed, "employee_robot:e1") == url  # it is the URL, sealed

        # the robot's key is nowhere else in the database: every relation, read as the owner
        everything = await readable_text(infra.owner_dsn(database))
        assert len(everything) > 30
        assert [name for name, text in everything.items() if key in text] == []
        # the webhook's failure is recorded by the webhook's hash, never its URL
        errors = await query(infra, database, "SELECT detail FROM notice_delivery_log")
        details = " ".join(str(r["detail"]) for r in errors)
        assert "webhook:" in details and "HTTPStatusError 503" in details
        assert WEBHOOK_SECRET not in details and sink.url not in details

        # the dashboards' role: none of the tables that keep them, and in every table and view
        # it may read, no robot key, no webhook URL, no webhook token
        reader = reader_dsn(infra, database)
        for table in ("employee_robot", "notice_outbox", "notice_digest", "notice_delivery_log"):
            assert await refused(reader, f"SELECT * FROM {table} LIMIT 1"), table
        visible = await readable_text(reader)
        assert {"employee", "v_alert_log", "v_employee_period_scores"} <= set(visible)
        assert "employee_robot" not in visible and "notice_outbox" not in visible
        for secret in (key, url, WEBHOOK_SECRET, sink.url):
            assert [name for name, text in visible.items() if secret in text] == [], secret
        log = await asyncpg.connect(reader)
        try:
            notices = await log.fetch("SELECT channel, recipient FROM v_alert_log")
        finally:
            await log.close()
        assert {(r["channel"], r["recipient"]) for r in notices} == {
            ("robot", "lead1"),
            ("webhook", None),
        }


async def test_a_key_rotation_reseals_and_a_key_dropped_too_early_is_a_clear_dead_letter(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    key = robot_key()
    old, new, stranger = new_entry("2026-01"), new_entry("2026-07"), new_entry("other")
    async with wecom_standin(valid_keys={key}) as wecom:
        # a scorer without the key ring: the URL waits in plain aside for the notifier
        async with scorer_wrote_org(infra, topics, database, wecom.robot_url(key), None):
            pass
        assert (await kept(infra, database))["url_plain"] == wecom.robot_url(key)
        group = unique("notifier")

        def under(ring: str) -> Any:
            settings = make_settings(
                infra,
                topics,
                database,
                tmp_path,
                robot_config(),
                group=group,
                notifier_robot_keys=SecretStr(ring),
            )
            return notifier(settings)

        async with under(old):  # sealed at start under the only key
            pass
        assert (await kept(infra, database))["key_id"] == "2026-01"
        async with under(f"{new},{old}"):  # the new key first: re-sealed at start, delivered
            assert (await kept(infra, database))["key_id"] == "2026-07"
            await publish(infra, topics.breaches, [breach("e1")])
            await eventually(lambda: robot_count(wecom, key), lambda n: n == 1, timeout=60)
        async with under(new):  # the old key gone: everything opens under the new one
            await publish(infra, topics.breaches, [breach("e1", period="2026-11")])
            await eventually(lambda: robot_count(wecom, key), lambda n: n == 2, timeout=60)
        async with under(stranger):  # a ring without the key the URL is sealed under

            async def states() -> list[str]:
                rows = await query(
                    infra, database, "SELECT state, last_error FROM notice_digest ORDER BY 1"
                )
                return [r["state"] for r in rows]

            await publish(infra, topics.breaches, [breach("e1", period="2026-12")])
            await eventually(states, lambda s: sorted(s) == ["dead", "sent", "sent"], timeout=60)
        dead = await query(
            infra, database, "SELECT last_error FROM notice_digest WHERE state = 'dead'"
        )
        assert "the robot URL does not open" in dead[0]["last_error"]
        assert "2026-07" in dead[0]["last_error"]  # names the key id it needs
        assert key not in dead[0]["last_error"]
        assert await robot_count(wecom, key) == 2
        assert (await kept(infra, database))["key_id"] == "2026-07"  # left as it was


async def test_the_scorer_seals_as_it_stores_and_keeps_the_records_order(
    infra: Infra, topics: Topics, database: str
) -> None:
    """Each record through the real scorer with the key ring: a URL is sealed, never in plain;
    an older record changes nothing; the same URL again is not sealed again; a new URL
    replaces it; a record without one forgets it."""
    first, older, newer = (f"https://robot.example/webhook/send?key={robot_key()}" for _ in "abc")
    ring = KeyRing.parse("NOTIFIER_ROBOT_KEYS", SecretStr(ROBOT_KEYS))

    def e1(day: int, url: str | None) -> dict[str, Any]:
        record = f.employee("e1", supervisor_id="lead1", robot_webhook=url)
        return {**record, "occurred_at": f"2026-11-{day:02d}T09:00:00+08:00"}

    async def stored() -> asyncpg.Record | None:
        rows = await query(infra, database, "SELECT * FROM employee_robot")
        return rows[0] if rows else None

    async def consumed() -> int:
        rows = await query(
            infra, database, "SELECT sum(next_offset)::int AS n FROM consumer_offset"
        )
        return int(rows[0]["n"] or 0)

    async def step(record: dict[str, Any], n: int) -> asyncpg.Record | None:
        await produce(infra, topics.bank_records, [record], key="org")
        await eventually(consumed, lambda c: c == n, timeout=60)
        everything = await readable_text(infra.owner_dsn(database))
        for url in (first, older, newer):  # in plain nowhere, whatever the step
            assert [name for name, text in everything.items() if url in text] == []
        return await stored()

    async with running(scorer_app(scorer_settings(infra, topics, database, ROBOT_KEYS)), None):
        row = await step(e1(10, first), 1)
        assert row is not None and row["url_plain"] is None and row["key_id"] == "tests"
        assert ring.open(bytes(row["sealed"]), "employee_robot:e1") == first
        sealed_first = bytes(row["sealed"])

        row = await step(e1(5, older), 2)  # older than what is kept: nothing changes
        assert row is not None and bytes(row["sealed"]) == sealed_first

        row = await step(e1(12, first), 3)  # the same URL again: not sealed again
        assert row is not None and bytes(row["sealed"]) == sealed_first

        row = await step(e1(14, newer), 4)
        assert row is not None and ring.open(bytes(row["sealed"]), "employee_robot:e1") == newer

        assert await step(e1(16, None), 5) is None  # no robot any more
        employee = await query(infra, database, "SELECT robot_webhook FROM employee")
        assert [r["robot_webhook"] for r in employee] == [None]

"""The notifier on real Kafka and PostgreSQL, delivering to real local stand-ins (a WeCom API
server, an SMTP server, a webhook sink): routing from the org chart, digests, robot limits,
e-mail, app messages, silences, quiet hours, escalation, acknowledgement, resolution, dedupe
across restarts, retries and dead letters.

Every notifier here runs as of a fixed day (its clock shifted there, time still passing),
and what depends on the date runs as of each instant of `tests.clocks.AS_OF`: the database's
own clock is then days away from the notifier's, so anything decided by the wrong one shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from shared.auth import Role
from shared.calendar import BusinessCalendar, CalendarOverrides, WorkingHours
from shared.clock import Clock, offset_to, shifted_clock
from shared.schemas import AlertName, BreachEvent
from shared.sealed import new_entry
from shared.settings import Topics
from tests.apps import bearer, eventually, issue_token, running
from tests.clocks import AS_OF, shanghai
from tests.infra import Infra, unique
from tests.standins.smtp import smtp_standin
from tests.standins.webhook_sink import webhook_sink
from tests.standins.wecom_robot import WeComStandIn, wecom_standin

pytestmark = pytest.mark.integration
ACK_SECRET = "ack-secret-for-tests-0123456789"
ROBOT_KEYS = new_entry("tests")  # robot URLs are kept encrypted under it (a fresh key a run)
FAST = {"group_wait_seconds": 0.3, "group_interval_seconds": 0}
DAY = shanghai(2026, 11, 30, 10)  # the day the notifiers run as of, unless a test says


def as_of(instant: datetime) -> Clock:
    """The clock of a notifier running as of `instant`: it reads `instant` now, then runs on."""
    return shifted_clock(offset_to(instant))


def breach(
    employee: str | None,
    alertname: AlertName = AlertName.TARGET_MISSED,
    period: str = "2026-10",
    supervisor: str | None = "lead1",
    status: str = "firing",
    team: str = "t1",
    summary: str = "",
    event_id: str | None = None,
) -> BreachEvent:
    return BreachEvent(
        event_id=event_id or BreachEvent.make_id(alertname, employee, period, status),
        occurred_at=datetime(2026, 11, 1, 1, tzinfo=UTC),
        alertname=alertname,
        status=status,
        employee_id=employee,
        period=period,
        supervisor_id=supervisor,
        team_id=team,
        branch_id="b1",
        summary=summary or f"{employee} closed {period} with 3 valid adds against 10",
    )


async def publish(infra: Infra, topic: str, breaches: list[BreachEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for b in breaches:
            await producer.send_and_wait(topic, b.to_json(), key=(b.employee_id or "-").encode())
    finally:
        await producer.stop()


async def seed_org(infra: Infra, database: str, people: list[dict[str, Any]]) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        for p in people:
            await conn.execute(
                """INSERT INTO employee (employee_id, name, branch_id, team_id, supervisor_id, role,
                                         active, robot_webhook, email, as_of, event_id)
                   VALUES ($1, $1, 'b1', $2, $3, $4, true, $5, $6, now(), $1)""",
                p["id"],
                p.get("team", "t1"),
                p.get("supervisor"),
                p.get("role", "customer_manager"),
                p.get("robot"),
                p.get("email"),
            )
    finally:
        await conn.close()


async def query(infra: Infra, database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def make_settings(
    infra: Infra,
    topics: Topics,
    database: str,
    tmp_path: Path,
    config: dict[str, Any],
    group: str | None = None,
    **extra: Any,
) -> NotifierSettings:
    path = tmp_path / f"{unique('notifier')}.yaml"
    path.write_text(yaml.safe_dump(config))
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "database_url": SecretStr(infra.app_dsn(database)),
        "database_migration_url": SecretStr(infra.owner_dsn(database)),
        "topics": topics,
        "notifier_group_id": group or unique("notifier"),
        "notifier_config": str(path),
        "delivery_interval_seconds": 0.1,
        "escalation_interval_seconds": 0.2,
        "notifier_robot_keys": SecretStr(ROBOT_KEYS),
        **extra,
    }
    return NotifierSettings(**values)


def robot_config(**timing: Any) -> dict[str, Any]:
    return {"timing": {**FAST, **timing}, "routes": [{"channels": ["robot"]}]}


def team(robot: str | None, leads: int = 1, email: str | None = None) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = [
        {"id": "top1", "role": "branch_head"},
        {"id": "head1", "supervisor": "top1", "role": "branch_head"},
    ]
    for i in range(1, leads + 1):
        people.append(
            {"id": f"lead{i}", "supervisor": "head1", "role": "team_lead", "email": email}
        )
    people.append({"id": "e1", "supervisor": "lead1", "robot": robot})
    return people


@asynccontextmanager
async def notifier(
    settings: NotifierSettings, clock: Clock | None = None, **kw: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A notifier running as of `clock` (as of DAY when not given)."""
    async with running(create_app(settings, clock=clock or as_of(DAY), **kw)) as client:
        yield client


async def alerts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    body: dict[str, Any] = (await client.get("/v1/alerts")).json()
    return list(body["alerts"])


async def test_robot_digest_is_split_within_4096_bytes_and_mentions_the_supervisor(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin(valid_keys={"k1"}) as wecom:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        long = "长" * 150
        breaches = [breach(f"e{i:03d}", summary=f"e{i:03d} {long}") for i in range(40)]
        await publish(infra, topics.breaches, breaches)
        settings = make_settings(infra, topics, database, tmp_path, robot_config())
        async with notifier(settings) as client:

            async def sent() -> list[Any]:
                rows = await query(
                    infra, database, "SELECT state FROM notice_outbox WHERE channel = 'robot'"
                )
                return [r["state"] for r in rows]

            await eventually(sent, lambda s: len(s) == 40 and set(s) == {"sent"})
            assert len(await alerts(client)) == 40
        parts = wecom.messages_for("k1")
        assert len(parts) > 1  # 40 × ~470 bytes cannot fit one message
        assert all(len(p.content.encode()) <= 4096 for p in parts)
        assert all("<@lead1>" in p.content for p in parts)
        assert all(f"({i}/{len(parts)})" in p.content for i, p in enumerate(parts, start=1))
        text = "\n".join(p.content for p in parts)
        assert all(f"e{i:03d} " in text for i in range(40))
        digests = await query(infra, database, "SELECT parts_sent, state FROM notice_digest")
        assert [(d["parts_sent"], d["state"]) for d in digests] == [(len(parts), "sent")]


async def test_robot_stays_within_its_window_and_backs_off_on_45009(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    # 5 messages per 2-second window stand in for WeCom's 20 a minute, on both sides
    async with wecom_standin(valid_keys={"k1"}, per_minute=5, window_seconds=2.0) as wecom:
        wecom.force_45009 = 1
        await seed_org(infra, database, team(wecom.robot_url("k1"), leads=12))
        # one breach per supervisor: twelve digests for the same robot
        await publish(
            infra, topics.breaches, [breach(f"e{i}", supervisor=f"lead{i}") for i in range(1, 13)]
        )
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            robot_config(),
            robot_messages_per_window=5,
            robot_window_seconds=2.0,
        )
        async with notifier(settings):
            await eventually(lambda: _count(wecom), lambda n: n == 12, timeout=40)
        answers = wecom.robot_answers
        assert answers.count(45009) == 1  # only the forced one: we never exceeded the limit
        times = sorted(m.at for m in wecom.robot_messages)
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u - t < 2.0) <= 5
        log = await query(
            infra, database, "SELECT outcome, count(*) AS n FROM notice_delivery_log GROUP BY 1"
        )
        outcomes = {r["outcome"]: r["n"] for r in log}
        assert outcomes["sent"] == 12 and outcomes["rate_limited"] >= 1


async def _count(wecom: WeComStandIn) -> int:
    return len(wecom.robot_messages)


async def test_invalid_robot_key_disables_the_route_and_tells_ops(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin(valid_keys=set()) as wecom:
        await seed_org(infra, database, team(wecom.robot_url("revoked")))
        config = {**robot_config(group_wait_seconds=0), "ops_recipients": ["ops_duty"]}
        settings = make_settings(infra, topics, database, tmp_path, config)
        async with notifier(settings) as client:
            await publish(infra, topics.breaches, [breach("e1")])

            async def states() -> list[str]:
                return [n["state"] for a in await alerts(client) for n in a["notices"]]

            await eventually(states, lambda s: s == ["dead"])
            await publish(infra, topics.breaches, [breach("e2")])
            await eventually(states, lambda s: s == ["dead", "dead"])

            async def ops_told() -> list[asyncpg.Record]:
                return await query(
                    infra,
                    database,
                    "SELECT recipient, state, snapshot FROM notice_digest WHERE kind = 'ops'",
                )

            # ops are told through the outbox on their channel (log here), once per ops notice
            # (route disabled once; a dead letter for each of the two digests)
            told = await eventually(
                ops_told, lambda t: len(t) == 3 and all(r["state"] == "sent" for r in t)
            )
        assert wecom.robot_answers == [93000]  # the second digest never reached WeCom
        disabled = await query(
            infra, database, "SELECT channel, destination FROM disabled_destination"
        )
        assert [r["channel"] for r in disabled] == ["robot"]
        assert "revoked" not in disabled[0]["destination"]  # the key is a secret
        ops = await query(infra, database, "SELECT kind, detail FROM ops_notice ORDER BY 1")
        assert [r["kind"] for r in ops].count("route_disabled") == 1
        assert all("revoked" not in r["detail"] for r in ops)
        assert len(told) == len(ops) and {t["recipient"] for t in told} == {"ops_duty"}
        kinds = sorted(orjson.loads(t["snapshot"])["kind"] for t in told)
        assert kinds == sorted(r["kind"] for r in ops) and "route_disabled" in kinds


async def test_app_message_uses_a_cached_token_and_renews_it(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin() as wecom:
        await seed_org(infra, database, team(None, leads=2))
        config = {
            "timing": FAST,
            "routes": [{"channels": ["app"]}],
            "wecom_app": {"agent_id": 1000002},
        }
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            config,
            wecom_api_base=wecom.base,
            wecom_corp_id=wecom.corp_id,
            notifier_wecom_app_secret=SecretStr(wecom.corp_secret),
        )
        async with notifier(settings) as client:
            await publish(infra, topics.breaches, [breach("e1"), breach("e2", supervisor="lead2")])
            await eventually(lambda: _app_count(wecom), lambda n: n == 2)
            assert wecom.token_fetches == 1
            mine = await client.get("/v1/alerts", params={"supervisor_id": "lead2"})
            assert [a["employee_id"] for a in mine.json()["alerts"]] == ["e2"]
            wecom.expire_tokens()
            await publish(infra, topics.breaches, [breach("e3")])
            await eventually(lambda: _app_count(wecom), lambda n: n == 3)
            assert wecom.token_fetches == 2
        assert sorted(m["touser"] for m in wecom.app_messages) == ["lead1", "lead1", "lead2"]
        assert all(m["agentid"] == 1000002 for m in wecom.app_messages)


async def _told(wecom: WeComStandIn) -> dict[str, int]:
    """How many robot messages told of each employee's closed target."""
    return {e: sum(f"{e} closed" in m.content for m in wecom.robot_messages) for e in ("e1", "e2")}


async def _app_count(wecom: WeComStandIn) -> int:
    return len(wecom.app_messages)


async def test_email_plain_and_html_and_anomalies_reach_risk_compliance(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    with smtp_standin() as smtp:
        officer = {"id": "officer1", "role": "risk_officer", "email": "officer1@bank.example"}
        await seed_org(infra, database, [*team(None, email="lead1@bank.example"), officer])
        config = {
            # e1 and e2 may land on different partitions: a longer wait gathers both even
            # when the broker is slow to hand out one of them
            "timing": {**FAST, "group_wait_seconds": 3.0},
            "routes": [{"channels": ["email"]}],
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "sender": "alerts@bank.example"},
            "risk_compliance": {
                "recipients": ["risk@bank.example"],
                "roles": ["risk_officer"],  # the branch's officers, from the org data
                "channels": ["email"],
            },
        }
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            config,
            notifier_ack_secret=SecretStr(ACK_SECRET),
            notifier_external_url="http://notifier.test",
        )
        async with notifier(settings):
            await publish(
                infra,
                topics.breaches,
                [breach("e1"), breach("e2", alertname=AlertName.ANOMALY_FLAGGED)],
            )
            await smtp.wait_for(3)
        assert len(smtp.messages) == 3  # one mail to each
        by_rcpt = {r[0]: m for r, m in zip(smtp.recipients, smtp.messages, strict=True)}
        assert set(by_rcpt) == {"lead1@bank.example", "risk@bank.example", "officer1@bank.example"}
        officer_mail = str(by_rcpt["officer1@bank.example"])
        assert "e2" in officer_mail and "e1 closed" not in officer_mail
        lead = by_rcpt["lead1@bank.example"]
        types = [p.get_content_type() for p in lead.walk()]
        assert "text/plain" in types and "text/html" in types
        plain = next(p for p in lead.walk() if p.get_content_type() == "text/plain")
        payload = plain.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode()
        assert "e1 closed" in text and "e2" in text  # one digest for both alerts of lead1
        assert "http://notifier.test/v1/ack?token=" in text
        risk = by_rcpt["risk@bank.example"]
        assert "e2" in str(risk) and "e1 closed" not in str(risk)


async def test_one_notice_per_identity_across_restarts(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin(valid_keys={"k1"}) as wecom, webhook_sink() as sink:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        group = unique("notifier")
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            robot_config(),
            group=group,
            notifier_webhook_url=sink.url,
        )
        async with notifier(settings):
            await publish(infra, topics.breaches, [breach("e1"), breach("e2")])
            await sink.wait_for(2)
            # one robot message for both, or two when the second breach reached the grouper
            # after the first group's wait ended (a loaded machine): each employee told once
            await eventually(lambda: _told(wecom), lambda n: n == {"e1": 1, "e2": 1})
        # the same breaches again (a scorer replay) and a re-close under a new event id
        replay = [breach("e1"), breach("e2"), breach("e1", event_id="breach:reclosed-e1")]
        await publish(infra, topics.breaches, replay)
        async with notifier(settings) as client:
            await eventually(
                lambda: alerts(client), lambda a: len(a) == 3
            )  # the new event id is recorded

            async def consumed() -> int:
                rows = await query(
                    infra,
                    database,
                    "SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offset "
                    "WHERE consumer_group = $1",
                    group,
                )
                return int(rows[0]["n"])

            await eventually(consumed, lambda n: n == 5)

            async def pending() -> list[Any]:
                return await query(
                    infra,
                    database,
                    "SELECT 1 FROM notice_outbox WHERE state IN ('pending', 'queued')",
                )

            await eventually(pending, lambda rows: rows == [])
            assert len(await alerts(client)) == 3
        assert len(sink.received) == 2 and await _told(wecom) == {"e1": 1, "e2": 1}
        keys = [h["idempotency-key"] for h in sink.headers]
        assert len(set(keys)) == 2


async def test_silenced_notices_are_recorded_not_sent(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin(valid_keys={"k1"}) as wecom:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        settings = make_settings(infra, topics, database, tmp_path, robot_config())
        clock = as_of(DAY)
        async with notifier(settings, clock) as client:
            now = clock()
            body = {
                "matchers": [{"name": "employee_id", "value": "e2"}],
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "lead1",
                "comment": "e2 is on leave",
            }
            created = await client.post("/v1/silences", json=body)
            assert created.status_code == 201, created.text
            silence_id = created.json()["silenceID"]
            bad = await client.post("/v1/silences", json={**body, "endsAt": now.isoformat()})
            assert bad.status_code == 422 and "endsAt" in bad.text
            await publish(infra, topics.breaches, [breach("e1"), breach("e2")])

            async def states() -> dict[str, str]:
                return {
                    a["employee_id"]: a["notices"][0]["state"]
                    for a in await alerts(client)
                    if a["notices"]
                }

            await eventually(states, lambda s: s == {"e1": "sent", "e2": "silenced"})
            listed = (await client.get("/v1/silences")).json()["silences"]
            assert [s["status"]["state"] for s in listed] == ["active"]
            gone = await client.delete(f"/v1/silences/{silence_id}")
            assert gone.json()["status"]["state"] == "expired"
            await publish(infra, topics.breaches, [breach("e3")])
            await eventually(states, lambda s: s.get("e3") == "sent")
        text = "\n".join(m.content for m in wecom.robot_messages)
        assert "e1 closed" in text and "e3 closed" in text and "e2 closed" not in text


@pytest.mark.parametrize("day", AS_OF)
async def test_quiet_hours_hold_notices_until_allowed(
    infra: Infra, topics: Topics, database: str, tmp_path: Path, day: datetime
) -> None:
    tz = BusinessCalendar().tz
    clock = as_of(day)
    local = clock().astimezone(tz)
    start = (local - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    quiet = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    async with wecom_standin(valid_keys={"k1"}) as wecom, webhook_sink() as sink:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            robot_config(quiet_hours=quiet),
            notifier_webhook_url=sink.url,
        )
        async with notifier(settings, clock):
            await publish(infra, topics.breaches, [breach("e1")])
            await sink.wait_for(1)  # machines are not held

            async def held() -> list[asyncpg.Record]:
                return await query(
                    infra,
                    database,
                    "SELECT state, next_attempt_at, held_reason FROM notice_outbox "
                    "WHERE channel = 'robot'",
                )

            rows = await eventually(held, lambda r: len(r) == 1 and r[0]["held_reason"] is not None)
        assert rows[0]["state"] == "pending"  # held, not dropped
        release = rows[0]["next_attempt_at"].astimezone(tz)
        assert release.time() == end and release > local
        assert wecom.robot_messages == []


def always_working(today: datetime) -> BusinessCalendar:
    """A calendar where now is working time, so escalation can be seen in seconds."""
    overrides = CalendarOverrides.model_validate(
        {"working_days": [today.date().isoformat(), (today + timedelta(days=1)).date().isoformat()]}
    )
    return BusinessCalendar(
        overrides, working_hours=WorkingHours(start=time(0, 0), end=time(23, 59, 59))
    )


@pytest.mark.parametrize("day", AS_OF)
async def test_unacknowledged_alert_escalates_up_the_chain_until_acknowledged(
    infra: Infra, topics: Topics, database: str, tmp_path: Path, day: datetime
) -> None:
    await seed_org(infra, database, team(None))
    config = {
        "timing": {
            **FAST,
            "escalate_after_working_hours": 0.0005,  # 1.8 working seconds
            "max_escalation_levels": 3,
        },
        "routes": [{"channels": ["log"]}],
    }
    settings = make_settings(infra, topics, database, tmp_path, config)
    clock = as_of(day)
    calendar = always_working(clock().astimezone(BusinessCalendar().tz))
    async with notifier(settings, clock, calendar=calendar) as client:
        await publish(infra, topics.breaches, [breach("e1"), breach("e2")])

        async def levels() -> dict[str, list[tuple[int, str]]]:
            return {
                a["employee_id"]: sorted((n["level"], n["recipient"]) for n in a["notices"])
                for a in await alerts(client)
            }

        first = await eventually(levels, lambda s: len(s) == 2 and all(s.values()))
        e1_id = next(a["alert_id"] for a in await alerts(client) if a["employee_id"] == "e1")
        assert first["e1"] == [(0, "lead1")]
        lead1 = await issue_token(infra.app_dsn(database), Role.SUPERVISOR, "lead1")
        ack = await client.post(f"/v1/alerts/{e1_id}/ack", headers=bearer(lead1))
        assert ack.status_code == 200  # recorded as the authenticated supervisor
        assert ack.json()["acknowledged_by"].startswith("test-supervisor-")
        assert "(lead1) [supervisor]" in ack.json()["acknowledged_by"]
        final = await eventually(levels, lambda s: len(s["e2"]) == 3, timeout=40)
        assert final["e2"] == [(0, "lead1"), (1, "head1"), (2, "top1")]  # top of the chain
        assert final["e1"] == [(0, "lead1")]  # acknowledged: never escalated
        assert (await client.post("/v1/alerts/999999/ack")).status_code == 404


async def test_signed_ack_link(infra: Infra, topics: Topics, database: str, tmp_path: Path) -> None:
    await seed_org(infra, database, team(None))
    config = {"timing": FAST}
    settings = make_settings(
        infra, topics, database, tmp_path, config, notifier_ack_secret=SecretStr(ACK_SECRET)
    )
    clock = as_of(DAY)
    async with notifier(settings, clock) as client:
        await publish(infra, topics.breaches, [breach("e1")])
        found = await eventually(lambda: alerts(client), lambda a: len(a) == 1)
        alert_id = found[0]["alert_id"]
        from services.notifier.app import ack_links_from

        links = ack_links_from(settings)
        assert links is not None
        token = links.token(alert_id, "lead1", clock())
        expired = links.token(alert_id, "lead1", clock() - timedelta(days=15))
        assert (await client.get("/v1/ack", params={"token": expired})).status_code == 403
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert (await client.get("/v1/ack", params={"token": forged})).status_code == 403
        ok = await client.get("/v1/ack", params={"token": token})
        assert ok.status_code == 200 and "Acknowledged" in ok.text
        acked = (await client.get("/v1/alerts", params={"status": "acknowledged"})).json()
        by = [a["acknowledged_by"] for a in acked["alerts"]]
        assert by == ["ack-link:lead1 (lead1) [supervisor]"]  # the link's recipient
    # without the secret the service starts, and refuses links rather than trusting them
    plain = make_settings(infra, topics, database, tmp_path, config)
    async with notifier(plain) as client:
        assert (await client.get("/v1/ack", params={"token": token})).status_code == 503
        assert (await client.get("/readyz")).status_code == 200


async def test_resolved_breach_tells_who_heard_and_supersedes_unsent(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with wecom_standin(valid_keys={"k1"}) as wecom:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        settings = make_settings(infra, topics, database, tmp_path, robot_config())
        async with notifier(settings) as client:
            await publish(infra, topics.breaches, [breach("e1")])
            await eventually(lambda: _count(wecom), lambda n: n == 1)
            await publish(infra, topics.breaches, [breach("e1", status="resolved")])
            await eventually(lambda: _count(wecom), lambda n: n == 2)
            # firing and resolved in one batch: the supervisor never heard, hears nothing
            await publish(infra, topics.breaches, [breach("e5"), breach("e5", status="resolved")])
            found = await eventually(
                lambda: alerts(client),
                lambda a: (
                    len(a) == 4 and all(n["state"] != "pending" for x in a for n in x["notices"])
                ),
            )
        assert "已恢复 resolved" in wecom.robot_messages[1].content
        e5 = [a for a in found if a["employee_id"] == "e5"]
        assert {a["status"] for a in e5} == {"firing", "resolved"}
        assert [n["state"] for a in e5 for n in a["notices"]] == ["superseded"]
        assert _count_sync(wecom) == 2
        e1 = next(a for a in found if a["employee_id"] == "e1" and a["status"] == "firing")
        assert e1["resolved_at"] is not None


async def test_a_condition_raised_again_after_it_cleared_is_told_again(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    """An anomaly flag that cleared and rose again is a new episode: its firing and its resolved
    notices go out again (not collapsed into the first episode's); a repeated firing within one
    episode still notifies once."""
    flag = AlertName.ANOMALY_FLAGGED
    async with wecom_standin(valid_keys={"k1"}) as wecom:
        await seed_org(infra, database, team(wecom.robot_url("k1")))
        settings = make_settings(infra, topics, database, tmp_path, robot_config())
        async with notifier(settings):
            await publish(infra, topics.breaches, [breach("e1", flag)])
            await eventually(lambda: _count(wecom), lambda n: n == 1)
            again = breach("e1", flag, event_id="again-within-episode")
            await publish(infra, topics.breaches, [again, breach("e1", flag, status="resolved")])
            await eventually(lambda: _count(wecom), lambda n: n == 2)
            second = BreachEvent.make_id(flag, "e1", "2026-10#1", "firing")
            await publish(infra, topics.breaches, [breach("e1", flag, event_id=second)])
            await eventually(lambda: _count(wecom), lambda n: n == 3)
            cleared = BreachEvent.make_id(flag, "e1", "2026-10#1", "resolved")
            await publish(
                infra, topics.breaches, [breach("e1", flag, status="resolved", event_id=cleared)]
            )
            await eventually(lambda: _count(wecom), lambda n: n == 4)
        contents = [m.content for m in wecom.robot_messages]
        assert ["已恢复 resolved" in c for c in contents] == [False, True, False, True]


def _count_sync(wecom: WeComStandIn) -> int:
    return len(wecom.robot_messages)


async def test_failures_retry_with_backoff_then_dead_letter(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    async with webhook_sink() as sink:
        sink.fail_next = 100
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            {"timing": FAST},
            notifier_webhook_url=sink.url,
            delivery_max_attempts=2,
        )
        async with notifier(settings) as client:
            await publish(infra, topics.breaches, [breach("e1")])

            async def webhook_state() -> list[dict[str, Any]]:
                return [
                    n
                    for a in await alerts(client)
                    for n in a["notices"]
                    if n["channel"] == "webhook"
                ]

            dead = await eventually(
                webhook_state, lambda n: bool(n) and n[0]["state"] == "dead", timeout=30
            )
        # the second try may meet the keep-alive connection the sink closed after 5 s idle:
        # it is then sent again at once on a new one (tests/.../test_notifier_keepalive.py),
        # so the last error is always the sink's own answer
        assert dead[0]["attempts"] == 2 and "503" in dead[0]["last_error"]
        log = await query(
            infra,
            database,
            "SELECT outcome FROM notice_delivery_log l JOIN notice_digest d USING (digest_id) "
            "WHERE d.channel = 'webhook' ORDER BY log_id",
        )
        assert [r["outcome"] for r in log] == ["retry", "dead"]
        ops = await query(infra, database, "SELECT kind FROM ops_notice")
        assert [r["kind"] for r in ops] == ["dead_letter"]

"""The daily digest per supervisor on real PostgreSQL and Kafka, delivered to the WeCom robot
and SMTP stand-ins: once the configured local time of a working day has passed, each
supervisor gets the team's table (robot markdown mentioning them) and the attainment chart
(robot image message, md5 checked by the stand-in; inline CID image in an HTML mail with a
plain-text alternative), exactly once: a restart, or a second notifier process, sends nothing
again. It runs as of each instant of `tests.clocks.AS_OF` (the first and last days of a month
and of a year)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from services.notifier.daily import DailyDigests
from services.notifier.daily_chart import attainment_chart
from services.notifier.domain.config import NotifierConfig
from services.notifier.domain.daily import DailyContent
from shared.calendar import BusinessCalendar, PeriodKind, period_of
from shared.db import create_pool
from shared.settings import Topics
from tests.apps import eventually
from tests.clocks import AS_OF
from tests.infra import Infra
from tests.integration.test_notifier_delivery import (
    FAST,
    always_working,
    as_of,
    breach,
    make_settings,
    notifier,
    publish,
    query,
    seed_org,
)
from tests.standins.smtp import smtp_standin
from tests.standins.wecom_robot import WeComStandIn, wecom_standin

pytestmark = pytest.mark.integration

FIGURES = {"e1": (3, 10), "e2": (12, 12), "e3": (0, None), "e9": (7, 10)}


async def seed_scores(infra: Infra, database: str, period: str) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        for employee, (valid, target) in FIGURES.items():
            supervisor, team = ("lead2", "t2") if employee == "e9" else ("lead1", "t1")
            await conn.execute(
                """INSERT INTO employee_period_score (employee_id, period, branch_id, team_id,
                        supervisor_id, role, target, gross_adds, first_adds, new_to_bank,
                        valid_adds, pending_adds, removed_adds, quality, computed_at)
                   VALUES ($1, $2, 'b1', $3, $4, 'customer_manager', $5, $6, $6, 0, $6, 0, 0,
                           '{}'::jsonb, now())""",
                employee,
                period,
                team,
                supervisor,
                target,
                valid,
            )
    finally:
        await conn.close()


def org(robot: str) -> list[dict[str, Any]]:
    return [
        {"id": "head1", "role": "branch_head"},
        {"id": "lead1", "supervisor": "head1", "role": "team_lead", "email": "lead1@bank.example"},
        {"id": "lead2", "supervisor": "head1", "role": "team_lead", "email": "lead2@bank.example"},
        {"id": "e1", "supervisor": "lead1", "robot": robot},
        {"id": "e2", "supervisor": "lead1"},
        {"id": "e3", "supervisor": "lead1"},
        {"id": "e9", "supervisor": "lead2", "team": "t2"},  # team t2 has no robot
    ]


def mail_parts(mail: Message) -> dict[str, Message]:
    return {p.get_content_type(): p for p in mail.walk()}


async def _robot(wecom: WeComStandIn) -> int:
    return len(wecom.robot_messages)


@pytest.mark.parametrize("day", AS_OF)
async def test_daily_digest_reaches_robot_and_mail_once_and_a_restart_sends_nothing(
    infra: Infra, topics: Topics, database: str, tmp_path: Path, day: datetime
) -> None:
    clock = as_of(day)
    today = clock().astimezone(BusinessCalendar().tz)
    calendar = always_working(today)  # today is a working day, whatever the date
    period = period_of(PeriodKind.MONTH, today.date()).key
    async with wecom_standin(valid_keys={"k1"}) as wecom:
        with smtp_standin() as smtp:
            await seed_org(infra, database, org(wecom.robot_url("k1")))
            await seed_scores(infra, database, period)
            config = {
                "timing": FAST,
                "routes": [{"channels": ["robot"]}],
                "smtp": {"host": "127.0.0.1", "port": smtp.port, "sender": "daily@bank.example"},
                # the time has passed when the notifier starts: a late start still sends today's
                "daily_digest": {"at": "00:00", "channels": ["robot", "email"]},
            }
            settings = make_settings(
                infra, topics, database, tmp_path, config, daily_digest_interval_seconds=0.2
            )
            async with notifier(settings, clock, calendar=calendar):
                await eventually(lambda: _robot(wecom), lambda n: n == 2)
                await smtp.wait_for(2)

                async def digests() -> list[asyncpg.Record]:
                    return await query(
                        infra,
                        database,
                        "SELECT channel, recipient, destination, state, last_error, snapshot "
                        "FROM notice_digest WHERE kind = 'daily' ORDER BY digest_id",
                    )

                rows = await eventually(
                    digests, lambda r: len(r) == 3 and all(d["state"] != "pending" for d in r)
                )
            # lead2's team has no group robot: lead2 gets the e-mail only
            got = {(d["channel"], d["recipient"], d["destination"], d["state"]) for d in rows}
            assert got == {
                ("robot", "lead1", "team:b1/t1", "sent"),
                ("email", "lead1", "employee:lead1", "sent"),
                ("email", "lead2", "employee:lead2", "sent"),
            }
            table, image = wecom.robot_messages
            assert table.msgtype == "markdown" and "<@lead1>" in table.content
            assert "| e1 | 3 | 10 | 30% |" in table.content and "e9" not in table.content
            assert "| **合计 total** | 15 | 22 | 68% |" in table.content
            assert image.msgtype == "image" and image.image is not None
            robot_content = next(
                d["snapshot"] for d in rows if d["channel"] == "robot" and d["recipient"] == "lead1"
            )
            expected = attainment_chart(DailyContent.from_json(_json(robot_content)))
            assert hashlib.md5(image.image).digest() == hashlib.md5(expected).digest()

            by_rcpt = {r[0]: m for r, m in zip(smtp.recipients, smtp.messages, strict=True)}
            mail = by_rcpt["lead1@bank.example"]
            parts = mail_parts(mail)
            assert mail.get_content_type() == "multipart/alternative"
            assert {"text/plain", "multipart/related", "text/html", "image/png"} <= set(parts)
            html = parts["text/html"].get_payload(decode=True)
            png = parts["image/png"].get_payload(decode=True)
            assert isinstance(html, bytes) and isinstance(png, bytes)
            assert parts["image/png"]["Content-ID"] == "<attainment-chart@wecom-notifier>"
            assert b"cid:attainment-chart@wecom-notifier" in html
            assert png.startswith(b"\x89PNG")
            plain = parts["text/plain"].get_payload(decode=True)
            assert isinstance(plain, bytes) and b"e3" in plain and b"attainment" in plain
            assert b"e9" in by_rcpt["lead2@bank.example"].as_bytes()

            # a restart: the day was planned once; nothing is sent again
            async with notifier(settings, clock, calendar=calendar):
                # another notifier process looking at the same day plans nothing
                pool = await create_pool(infra.app_dsn(database), 2)
                try:
                    again = DailyDigests(
                        lambda: pool,
                        _daily(settings.routing()),
                        settings.routing().timing,
                        calendar,
                        clock,
                    )
                    assert await again.run_once() == 0
                finally:
                    await pool.close()
                # the restarted notifier is working: an alert goes through after it
                await publish(infra, topics.breaches, [breach("e1")])
                await eventually(lambda: _robot(wecom), lambda n: n == 3)
            assert [m.msgtype for m in wecom.robot_messages] == ["markdown", "image", "markdown"]
            assert "daily digest" not in wecom.robot_messages[2].content
            assert len(smtp.messages) == 2
            days = await query(infra, database, "SELECT day, digests FROM daily_digest_day")
            assert [(d["day"], d["digests"]) for d in days] == [(today.date(), 3)]


def _json(value: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(value) if isinstance(value, str) else value
    return data


def _daily(config: NotifierConfig) -> Any:
    assert config.daily_digest is not None
    return config.daily_digest

"""Closing a period: final figures, then a `TargetMissed` breach for each employee below
target. Breach ids are deterministic, so closing twice (or a crash between publishing and
recording the close) publishes the same ids again and the notifier sends one notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from services.scorer import repository
from services.scorer.scores import score_row
from shared.calendar import BusinessCalendar, Period
from shared.schemas import AlertName, BreachEvent


def target_missed(score: dict[str, Any], period: Period, at: datetime) -> BreachEvent:
    return BreachEvent(
        event_id=BreachEvent.make_id(
            AlertName.TARGET_MISSED, score["employee_id"], period.key, "firing"
        ),
        occurred_at=at,
        alertname=AlertName.TARGET_MISSED,
        employee_id=score["employee_id"],
        period=period.key,
        supervisor_id=score["supervisor_id"],
        team_id=score["team_id"],
        branch_id=score["branch_id"],
        summary=(
            f"{score['employee_id']} closed {period.key} with {score['valid_adds']} valid adds "
            f"against a target of {score['target']}"
        ),
        values={k: score[k] for k in ("target", "valid_adds", "gross_adds", "attainment")},
    )


async def close_period(
    pool: Callable[[], asyncpg.Pool],
    broker: KafkaBroker,
    breaches_topic: str,
    calendar: BusinessCalendar,
    period: Period,
    closed_by: str,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    rows = await repository.fetch_period_rows(pool(), period.key)
    scores = [score_row(r, period, calendar, now, closed=True) for r in rows]
    missed = [s for s in scores if s["status"] == "missed"]
    at = min(now, period.end_at(calendar.tz))
    futures = [
        await broker.publish(
            target_missed(s, period, at).to_json(),
            breaches_topic,
            key=s["employee_id"].encode(),
            no_confirm=True,
        )
        for s in missed
    ]
    await asyncio.gather(*futures)
    await repository.record_close(pool(), period.key, closed_by)
    return {
        "period": period.key,
        "closed": True,
        "employees": len(scores),
        "target_missed": len(missed),
    }

"""What the scorer feeds the anomaly domain beside the relations, on real PostgreSQL: the
segment an `employee` record states (migration 0023) and each contact's one-to-one message
metadata in a fixed order (domain/cadence.py, domain/segment.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.scorer import inputs
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import as_consumed, feed, scoring

pytestmark = pytest.mark.integration
ADDED = f.at("2026-10-12", 10)


def message(
    n: int, employee_id: str, contact: str, minutes: float, direction: str, kind: str = "one_to_one"
) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": f"m{n}",
        "employee_id": employee_id,
        "external_userid": contact,
        "direction": direction,
        "kind": kind,
        "sent_at": (ADDED + timedelta(minutes=minutes)).isoformat(),
    }


async def test_stated_segments_and_chat_traces_are_read_for_the_period(infra: Infra) -> None:
    records = [
        f.employee("e1", segment="acquisition"),
        f.employee("e2"),
        f.add("e1", "wm-1", ADDED),
        f.add("e2", "wm-2", ADDED),
        f.profile("wm-1"),
        f.profile("wm-2"),
        message(3, "e1", "wm-1", 3, "from_customer"),
        message(1, "e1", "wm-1", 1, "to_customer"),
        message(2, "e1", "wm-1", 5, "to_customer"),
        message(4, "e1", "wm-1", 30, "to_customer", "mass"),
    ]
    clock = ManualClock(ADDED + timedelta(days=1))
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(records), [])
        period = parse_period("2026-10")
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:
            assert await inputs.stated_segments(conn, ["e1", "e2"]) == {"e1": "acquisition"}
            traces = await inputs.chat_traces(conn, period, ["e1", "e2"], tz)
    assert set(traces) == {"e1"}
    trace = traces["e1"]["wm-1"]
    # one-to-one only, in time order, each with its side
    assert [(at - ADDED, mine) for at, mine in trace.messages] == [
        (timedelta(minutes=1), False),
        (timedelta(minutes=3), True),
        (timedelta(minutes=5), False),
    ]

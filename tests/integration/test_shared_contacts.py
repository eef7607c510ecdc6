"""Contacts added by more than one employee (`contact.shared`), on real PostgreSQL: kept by the
batches whatever the order and split of the adds, and the anomaly rules' cross-team overlap
read through them equals the same overlap read from every relation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scorer import inputs
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import (
    EMPLOYEES,
    PERIODS,
    START,
    as_consumed,
    feed,
    scoring,
    streams,
)

pytestmark = pytest.mark.integration

# the overlap as it was read before the flag: every relation's contact among all relations
REFERENCE_SQL = """
SELECT DISTINCT r.employee_id, r.external_userid, o.employee_id AS other
  FROM employee_contact r
  JOIN employee_contact o ON o.external_userid = r.external_userid
                         AND o.employee_id <> r.employee_id AND o.first_added_at IS NOT NULL
  LEFT JOIN employee er ON er.employee_id = r.employee_id
  LEFT JOIN employee eo ON eo.employee_id = o.employee_id
 WHERE r.first_added_at >= $1 AND r.first_added_at < $2
   AND er.team_id IS DISTINCT FROM eo.team_id
"""
TEAMS = {"e1": "t1", "e2": "t2", "e3": "t2"}


async def shared_flags(pool: Any) -> set[str]:
    rows = await pool.fetch("SELECT external_userid FROM contact WHERE shared")
    return {r["external_userid"] for r in rows}


async def added_by_many(pool: Any) -> set[str]:
    rows = await pool.fetch(
        """SELECT external_userid FROM employee_contact WHERE first_added_at IS NOT NULL
            GROUP BY 1 HAVING count(*) > 1"""
    )
    return {r["external_userid"] for r in rows}


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams(), cuts=st.lists(st.integers(0, 60), max_size=6))
async def test_the_overlap_through_shared_contacts_equals_the_full_read(
    infra: Infra, stream: list[dict[str, Any]], cuts: list[int]
) -> None:
    teams = [f.employee(e, TEAMS[e]) for e in EMPLOYEES]
    records = as_consumed(teams + [r for r in stream if r["type"] != "employee"])
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, records, cuts)
        assert await shared_flags(pool) == await added_by_many(pool)
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:
            for key in PERIODS:
                period = parse_period(key)
                kept = await inputs.cross_team_overlap(conn, period, list(EMPLOYEES), tz, 1)
                rows = await conn.fetch(REFERENCE_SQL, period.start_at(tz), period.end_at(tz))
                want: dict[str, dict[str, int]] = {}
                for r in rows:
                    by_contact = want.setdefault(r["employee_id"], {})
                    by_contact[r["external_userid"]] = by_contact.get(r["external_userid"], 0) + 1
                assert {e: o.shared for e, o in kept.items()} == want


async def test_a_contact_is_shared_once_a_second_employee_adds_it(infra: Infra) -> None:
    clock = ManualClock(START)
    at = START + timedelta(hours=1)
    records = as_consumed(
        [
            f.employee("e1", "t1"),
            f.employee("e2", "t2"),
            *(f.add("e1", f"wm-{i}", at) for i in range(4)),
            *(f.add("e2", f"wm-{i}", at + timedelta(minutes=5)) for i in range(3)),
        ]
    )
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, records, [4])
        assert await shared_flags(pool) == {"wm-0", "wm-1", "wm-2"}
        async with pool.acquire() as conn:
            found = await inputs.cross_team_overlap(
                conn, parse_period("2026-09"), ["e1", "e2"], scorer.calendar.tz
            )
        assert found["e1"].partners == {"e2": 3}
        assert set(found["e2"].shared) == {"wm-0", "wm-1", "wm-2"}

"""Scores brought to rest after a backlog (services/scorer/at_rest.py) are marked employee by
employee, every open row and no closed one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.scorer import at_rest
from services.scorer.at_rest import Rest
from services.scorer.refresh import Refresher
from shared.clock import ManualClock
from tests.infra import Infra
from tests.integration.test_quota_tally import as_consumed, feed, scoring
from tests.integration.test_refresh_round import FIRST, stream

pytestmark = pytest.mark.integration
EMPLOYEES = ["e1", "e2", "e3", "e4"]


async def test_at_rest_each_employees_open_rows_are_marked_together(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows brought to rest are marked employee by employee, so that a refresh round claims an
    employee's periods together and reads its relations once for them (refresh.covers)."""
    monkeypatch.setattr(at_rest, "SLICE_EMPLOYEES", 3)  # slices of three employees
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    async with scoring(infra, clock) as (db, scorer):
        await feed(db, scorer, clock, as_consumed(stream()), [])
        refresher = Refresher(lambda: db, scorer, settle=timedelta(0))
        while await refresher.run_once():  # every row exists and nothing is dirty
            pass
        await db.execute("INSERT INTO period_close (period, closed_by) VALUES ('2026-Q3', 't')")
        now = [0.0]
        rest = Rest(lambda: db, "", quiet_seconds=1.0, monotonic=lambda: now[0])
        assert not await rest.run_once()  # the inputs' version seen
        now[0] = 2.0
        assert await rest.run_once()
        marked = [
            (r["employee_id"], r["period"])
            for r in await db.fetch("SELECT * FROM score_dirty ORDER BY marked_at")
        ]
        open_rows = await db.fetch(
            "SELECT employee_id, period FROM employee_period_score WHERE period <> '2026-Q3'"
        )
        assert sorted(marked) == sorted((r[0], r[1]) for r in open_rows)
        assert len({e for e, _ in marked}) == len(EMPLOYEES)
        assert marked == sorted(marked)  # employee by employee, in key order

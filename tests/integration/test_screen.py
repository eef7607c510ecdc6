"""The anomaly screen on real PostgreSQL: each relation's standing keeps its signs, a period's
reads count them per employee, and only employees for whom a signal can fire have their
relations read and judged. The scores are exactly those of a full assessment of everyone; the
verifier lists every screen count that differs from the relations, and a standing judged before
its signs were kept sends its employee to the full assessment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.scorer import inputs
from services.scorer.verify import Difference, verify_period
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_purge_plans import plan_of
from tests.integration.test_quota_tally import START, as_consumed, feed, scoring
from tests.integration.test_stored_lookups import customer_message

pytestmark = pytest.mark.integration

MONTH = parse_period("2026-09")
MINUTE = timedelta(minutes=1)
IDS = ["e1", "e2", "e3", "e4", "e5", "e6"]
EARLY = START - timedelta(days=20)
"""Well before the month's last working week: no pile-up can be judged there."""


def screened(outcome: str) -> float:
    return REGISTRY.get_sample_value("scorer_anomaly_screened_total", {"outcome": outcome}) or 0.0


def month_records() -> list[dict[str, Any]]:
    """e1 and e4 honest; e2 adds two staff of a peer bank, e3 a colleague's own WeChat, e5 nine
    silent contacts through one QR code within minutes (a burst the screen must look at), e6
    twelve such besides five contacts who wrote twice (too few messages to test a script: the
    chats close `SCRIPTED_CHAT`, and the burst behind it must still be counted)."""
    talkers = [f"wm-6t{i}" for i in range(5)]
    adds = [
        *(f.add("e1", f"wm-1{i}", START + i * MINUTE, "qr-e1") for i in range(3)),
        *(f.add("e2", f"wm-2{i}", START + i * MINUTE) for i in range(3)),
        f.add("e3", "wm-30", START),
        *(f.add("e4", f"wm-4{i}", START + i * 30 * MINUTE) for i in range(4)),
        *(f.add("e5", f"wm-5{i}", START + i * MINUTE, "qr-e5") for i in range(9)),
        *(f.add("e6", f"wm-6{i:02d}", EARLY + i * MINUTE, "qr-e6") for i in range(12)),
        *(f.add("e6", c, EARLY + 3 * 60 * MINUTE) for c in talkers),
    ]
    return [
        *(f.employee(e) for e in IDS),
        f.staff_account("e1", external_userid="wm-30"),
        *adds,
        *(f.profile(c) for c in ("wm-10", "wm-11", "wm-12", "wm-22", "wm-30")),
        *(f.profile(c) for c in ("wm-40", "wm-41", "wm-42", "wm-43")),
        *(f.profile(f"wm-5{i}") for i in range(9)),
        *(f.profile(f"wm-6{i:02d}") for i in range(12)),
        *(f.profile(c) for c in talkers),
        *(
            customer_message(100 + 2 * i + k, "e6", c, EARLY + (4 * 60 + k) * MINUTE)
            for i, c in enumerate(talkers)
            for k in range(2)
        ),
        *(f.profile(c, 2, "某某银行股份有限公司") for c in ("wm-20", "wm-21")),
    ]


async def test_only_loud_employees_are_assessed_and_scores_are_unchanged(infra: Infra) -> None:
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(month_records()), [])
        clock.advance(timedelta(days=3))
        now, tz = scorer.clock(), scorer.calendar.tz
        async with pool.acquire() as conn:
            signs = {
                r["external_userid"]: (r["channel"], r["hollow"], r["silent"], r["peer"])
                for r in await conn.fetch(
                    "SELECT * FROM relation_standing WHERE employee_id IN ('e1', 'e2')"
                )
            }
            assert signs["wm-10"] == ("qr-e1", True, True, False)
            assert signs["wm-20"][3] and signs["wm-21"][3] and not signs["wm-22"][3]
            assert await verify_period(conn, scorer, MONTH) == []
            counted = await inputs.screens(conn, MONTH, IDS, tz, scorer.pileup_start(MONTH, now))
            assert (counted["e5"].hollow, counted["e5"].burst_hollow) == (9, 9)
            assert counted["e1"].burst_hollow == 0  # too few hollow adds to count bursts

            quiet, assessed = screened("quiet"), screened("assessed")
            async with conn.transaction(isolation="repeatable_read"):
                rows = {
                    r["employee_id"]: r for r in await scorer.compute(conn, MONTH, IDS, now, True)
                }
                # every employee assessed in full, the screen aside
                baseline = await scorer.baseline(conn, MONTH, now, fresh=True)
                relations = await inputs.relations(conn, MONTH, IDS, tz)
                full = {}
                for e in IDS:
                    verdicts = scorer.verdicts([r for r in relations if r.employee_id == e], now)
                    found = await scorer.anomaly(conn, MONTH, e, verdicts, baseline, now)
                    full[e] = (found.score, found.reasons)
            assert (screened("quiet") - quiet, screened("assessed") - assessed) == (2, 4)
            assert {e: (r["anomaly_score"], r["reasons"]) for e, r in rows.items()} == full
            assert {r["code"] for r in rows["e2"]["reasons"]} == {"PEER_INSTITUTION"}
            assert {r["code"] for r in rows["e3"]["reasons"]} == {"STAFF_ACCOUNT"}
            assert "QR_BATCH_BURST" in {r["code"] for r in rows["e6"]["reasons"]}
            assert rows["e1"]["reasons"] == rows["e4"]["reasons"] == []

            # a sign changed by hand: the verifier lists the count it moves
            await conn.execute(
                "UPDATE relation_standing SET peer = true WHERE external_userid = 'wm-22'"
            )
            assert [
                d for d in await verify_period(conn, scorer, MONTH) if "screen" in d.figure
            ] == [Difference("2026-09", "e2", "screen peer", 3, 2)]

            # a standing judged before the signs were kept: its employee is assessed in full,
            # and the verifier has nothing to compare
            await conn.execute(
                "UPDATE relation_standing SET silent = NULL WHERE external_userid = 'wm-10'"
            )
            before = screened("assessed")
            async with conn.transaction(isolation="repeatable_read"):
                again = await scorer.compute(conn, MONTH, ["e1"], now, True)
            assert screened("assessed") - before == 1
            assert again[0]["reasons"] == []
            assert not [
                d
                for d in await verify_period(conn, scorer, MONTH)
                if d.employee_id == "e1" and "screen" in d.figure
            ]


async def test_the_screen_reads_one_employees_period_by_its_index(infra: Infra) -> None:
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    for sql, args in (
        (inputs.SCREEN_SQL, (end,)),
        (inputs.BURSTS_SQL, (timedelta(hours=2), 8)),
    ):
        plan = await plan_of(infra, sql, ["e1"], start, end, *args)
        assert "Seq Scan" not in plan, plan
        assert "relation_standing_employee_added" in plan, plan
    # the close's: every employee's at once, by the standings' first add
    plan = await plan_of(infra, inputs.BANK_SCREEN_SQL, None, start, end, end)
    assert "Seq Scan" not in plan and "relation_standing_added" in plan, plan

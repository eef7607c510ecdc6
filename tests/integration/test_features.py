"""The anomaly features kept by deltas on real PostgreSQL: each relation's standing keeps its
signs, the batch moves them into its bucket of `add_bucket`, a period's read sums them per
employee, and only employees whose evidence names contacts (or needs their chats) have their
relations read and judged. The scores are exactly those of a full assessment of everyone; the
verifier lists every bucket count that differs from the relations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.scorer import buckets, inputs
from services.scorer.verify import verify_period
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
    silent contacts through one QR code within minutes (a burst), e6 twelve such besides five
    contacts who wrote twice (too few messages to test a script, and their exchanges decide the
    segment's evidence: its relations are read)."""
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


async def test_only_employees_whose_evidence_names_contacts_are_assessed(infra: Infra) -> None:
    clock = ManualClock(START)
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(month_records()), [])
        clock.advance(timedelta(days=3))
        now, tz = scorer.clock(), scorer.calendar.tz
        async with pool.acquire() as conn:
            bits = {
                r["external_userid"]: (r["channel"], r["feature_bits"])
                for r in await conn.fetch(
                    "SELECT * FROM relation_standing WHERE employee_id IN ('e1', 'e2')"
                )
            }
            # an add, hollow, silent, not a customer
            assert bits["wm-10"] == ("qr-e1", 0b111 | 1 << 14)
            assert await verify_period(conn, scorer, MONTH) == []
            kept = await buckets.features(conn, MONTH, IDS, tz)
            assert (kept["e5"].total("adds"), kept["e5"].total("hollow")) == (9, 9)
            assert {b.channel for b in kept["e5"].buckets} == {"qr-e5"}
            assert kept["e2"].total("peer") == 2

            before = {o: screened(o) for o in ("quiet", "features", "assessed")}
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
            # e1 and e4 quiet; e5's burst from its features alone; the others' evidence names
            # contacts (e2, e3), or the segment's needs their chats (e6)
            assert {o: screened(o) - n for o, n in before.items()} == {
                "quiet": 2,
                "features": 1,
                "assessed": 3,
            }
            assert {e: (r["anomaly_score"], r["reasons"]) for e, r in rows.items()} == full
            assert {r["code"] for r in rows["e2"]["reasons"]} == {"PEER_INSTITUTION"}
            assert {r["code"] for r in rows["e3"]["reasons"]} == {"STAFF_ACCOUNT"}
            assert "QR_BATCH_BURST" in {r["code"] for r in rows["e6"]["reasons"]}
            assert rows["e1"]["reasons"] == rows["e4"]["reasons"] == []

            # a bucket changed by hand: the verifier lists the count it moves
            await conn.execute(
                "UPDATE add_bucket SET peer = peer + 1 WHERE employee_id = 'e2' AND peer > 0"
            )
            [moved] = [
                d for d in await verify_period(conn, scorer, MONTH) if "features" in d.figure
            ]
            assert (moved.employee_id, moved.figure.split()[-1], moved.kept, moved.recounted) == (
                "e2",
                "peer",
                3,
                2,
            )


async def test_the_features_are_read_by_their_indexes(infra: Infra) -> None:
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    plan = await plan_of(infra, buckets.FEATURES_SQL, ["e1"], start, end)
    assert "Seq Scan" not in plan and "add_bucket_pkey" in plan, plan
    # the close's and the verifier's: every employee's at once, by the buckets' start
    plan = await plan_of(infra, buckets.BANK_FEATURES_SQL, None, start, end)
    assert "Seq Scan" not in plan and "add_bucket_span" in plan, plan

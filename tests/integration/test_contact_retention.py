"""The retention purge (PIPL; SECURITY.md, "Personal data"), on real Kafka and PostgreSQL, as of
2026-12-15 with CONTACT_DATA_RETENTION_MONTHS=24 (the cutoff: 2024-12-01, Shanghai):

- October 2024, closed and then revised by a late add, and November 2026, closed: the scorer's
  schedule purges every row about October 2024's contacts (events, messages, removals,
  relations, standings, contacts; their ids quoted as anomaly evidence) and none of 2026's;
- the figures of both closed periods (score rows, counters, outcomes, revisions) stay exactly
  as they were, also after an HR record marks every period of an employee for recomputation;
- `python -m services.scorer.verify` skips the purged periods and says so, and finds no
  difference in the others;
- a replay of the source topics from their start (offsets reset) stores none of it again: the
  records about the purged time are counted `expired`.

And the notifier: an alert older than the retention loses the contact ids its evidence quoted,
a newer one keeps them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.scorer.app import create_app as scorer_app
from services.scorer.pipeline import RECORDS
from shared.clock import ManualClock, offset_to
from shared.schemas import BreachEvent
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.clocks import shanghai
from tests.infra import ROOT, Infra, unique
from tests.integration.conftest import scorer_settings
from tests.integration.test_contact_erasure import FIGURES, consumed, query, tables_holding
from tests.integration.test_notifier_delivery import make_settings, notifier, publish
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration

NOW = shanghai(2026, 12, 15, 10)
CUTOFF = shanghai(2024, 12, 1, 0)
OLD = ("wmOld1", "wmOld2", "wmOld3", "wmOld4")


def records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(bank records, contact events) of October 2024 and November 2026. wmOld1 is HR's record
    of e1's own WeChat (by unionid): e1's October score quotes it as evidence."""

    def at(day: str) -> str:
        return f"{day}T11:00:00+08:00"

    org = [
        {**f.employee(e, supervisor_id=s, role=r), "occurred_at": at("2024-09-01")}
        for e, s, r in (("lead1", None, "team_lead"), ("e1", "lead1", "cm"), ("e2", "lead1", "cm"))
    ]
    bank = [
        *org,
        f.target("team", "t1", "2024-10", 2),
        f.target("team", "t1", "2026-11", 1),
        {**f.profile("wmOld1", unionid="unStaffOld"), "occurred_at": at("2024-10-08")},
        {**f.profile("wmOld2"), "occurred_at": at("2024-10-09")},
        {**f.profile("wmOld3"), "occurred_at": at("2024-10-10")},
        {**f.profile("wmNew1"), "occurred_at": at("2026-11-10")},
        f.staff_account("e1", unionid="unStaffOld"),
        message("m-old", "e2", "wmOld3", at("2024-10-11")),
        message("m-new", "e1", "wmNew1", at("2026-11-11")),
    ]
    events = [
        f.add("e1", "wmOld1", f.at("2024-10-08")),
        f.add("e1", "wmOld2", f.at("2024-10-09")),
        f.add("e2", "wmOld3", f.at("2024-10-10")),
        {**f.add("e1", "wmOld2", f.at("2024-10-20")), "ChangeType": "del_follow_user"},
        f.add("e1", "wmNew1", f.at("2026-11-10")),
    ]
    return bank, events


def message(message_id: str, employee: str, contact: str, sent_at: str) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": message_id,
        "employee_id": employee,
        "external_userid": contact,
        "direction": "from_customer",
        "kind": "one_to_one",
        "sent_at": sent_at,
    }


@asynccontextmanager
async def scorer_on(
    infra: Infra, topics: Topics, database: str, group: str, months: int
) -> AsyncIterator[httpx.AsyncClient]:
    settings = scorer_settings(
        infra,
        topics,
        database,
        contact_data_retention_months=months,
        schedule_interval_seconds=0.5,
    ).model_copy(update={"scorer_group_id": group})
    async with running(scorer_app(settings, clock=ManualClock(NOW))) as client:
        yield client


NEW_ROWS = """
SELECT 'event', event_id, occurred_at::text FROM contact_event WHERE external_userid = 'wmNew1'
UNION ALL SELECT 'relation', employee_id, row(c.*)::text FROM employee_contact c
 WHERE external_userid = 'wmNew1'
UNION ALL SELECT 'message', message_id, sent_at::text FROM message WHERE external_userid = 'wmNew1'
UNION ALL SELECT 'contact', external_userid, row(k.*)::text FROM contact k
 WHERE external_userid = 'wmNew1'
UNION ALL SELECT 'standing', employee_id, row(s.*)::text FROM relation_standing s
 WHERE external_userid = 'wmNew1'
ORDER BY 1, 2
"""
REVISIONS = (
    "SELECT period, employee_id, revision, old_valid_adds, new_valid_adds FROM period_revision"
)


async def snapshot(infra: Infra, database: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "2024-10": [tuple(r) for r in await query(infra, database, FIGURES, "2024-10")],
        "2026-11": [tuple(r) for r in await query(infra, database, FIGURES, "2026-11")],
        "revisions": [tuple(r) for r in await query(infra, database, REVISIONS)],
        "new rows": [tuple(r) for r in await query(infra, database, NEW_ROWS)],
    }


def verify(infra: Infra, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": infra.app_dsn(database),
        "CLOCK_OFFSET_SECONDS": str(offset_to(NOW)),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.scorer.verify", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_old_contact_data_is_purged_and_closed_figures_stay(
    infra: Infra, topics: Topics, database: str
) -> None:
    bank, events = records()
    await produce(infra, topics.bank_records, bank, key="bank")
    await produce(infra, topics.contact_events, events, key="events")
    group = unique("scorer")
    total = len(bank) + len(events)
    async with scorer_on(infra, topics, database, group, months=1200) as scorer:
        await eventually(lambda: consumed(infra, database, group), lambda n: n == total)
        for period in ("2024-10", "2026-11"):
            closed = await scorer.post(f"/v1/periods/{period}/close", params={"force": "true"})
            assert closed.status_code == 200, closed.text
        # a late add of October 2024 after its close: a revision
        late = [{**f.profile("wmOld4"), "occurred_at": "2024-10-15T11:00:00+08:00"}]
        await produce(infra, topics.bank_records, late, key="bank")
        await produce(infra, topics.contact_events, [f.add("e2", "wmOld4", f.at("2024-10-15"))])
        total += 2
        await eventually(lambda: query(infra, database, REVISIONS), lambda r: len(r) == 1)
        before = await snapshot(infra, database)
    evidence = await query(
        infra,
        database,
        "SELECT reasons::text AS r FROM employee_period_score "
        "WHERE period = '2024-10' AND employee_id = 'e1'",
    )
    assert "wmOld1" in evidence[0]["r"]  # quoted as an example of STAFF_ACCOUNT
    held = {c: await tables_holding(infra, database, c) for c in OLD}
    assert {"contact_event", "employee_contact", "contact"} <= set(held["wmOld1"])
    assert "contact_removal" in held["wmOld2"] and "message" in held["wmOld3"]

    async with scorer_on(infra, topics, database, group, months=24):

        async def purged() -> list[asyncpg.Record]:
            return await query(infra, database, "SELECT * FROM contact_governance")

        state = await eventually(
            purged,
            lambda r: (
                r[0]["purge_done_before"] is not None and (r[0]["purge_done_before"] == CUTOFF)
            ),
        )
        assert state[0]["purged_before"] == CUTOFF
        for contact in OLD:
            assert await tables_holding(infra, database, contact) == {}, contact
        frozen = {r["period"] for r in await query(infra, database, "SELECT * FROM purged_period")}
        assert {"2024-10", "2024-Q4", "2024-W41", "2024-10-08"} <= frozen
        assert not {p for p in frozen if p.startswith(("2024-12", "2025", "2026"))}
        assert await snapshot(infra, database) == before
        evidence = await query(
            infra,
            database,
            "SELECT reasons::text AS r FROM employee_period_score "
            "WHERE period = '2024-10' AND employee_id = 'e1'",
        )
        assert (
            '"code": "STAFF_ACCOUNT"' in evidence[0]["r"] and '"examples": []' in evidence[0]["r"]
        )

        # HR's record marks every period of e1 for recomputation: the purged ones stay
        hr = {
            **f.employee("e1", supervisor_id="lead1", role="cm"),
            "occurred_at": "2026-12-14T09:00:00+08:00",
        }
        await produce(infra, topics.bank_records, [hr], key="bank")
        total += 1
        await eventually(lambda: consumed(infra, database, group), lambda n: n == total)
        dirty = "SELECT * FROM score_dirty WHERE period = '2026-11' OR period LIKE '2024%'"
        await eventually(lambda: query(infra, database, dirty), lambda r: r == [])
        assert await snapshot(infra, database) == before

    # the verifier skips the purged periods, says so, and finds nothing else
    every = verify(infra, database, "--all")
    assert every.returncode == 0, every.stdout + every.stderr
    assert "0 difference(s)" in every.stdout
    assert "2024-10: skipped, its contact data before 2024-11-30T16:00:00+00:00 was purged" in (
        every.stdout
    )
    one = verify(infra, database, "--period", "2024-10", "--period", "2026-11")
    assert one.returncode == 0 and "2024-10: skipped" in one.stdout
    assert "2026-11: 0 difference(s)" in one.stdout

    # a replay of the source topics from their start: nothing about the purged time comes back
    expired = RECORDS.labels("expired")._value.get()
    await query(
        infra,
        database,
        "UPDATE consumer_offset SET next_offset = 0 WHERE consumer_group = $1",
        group,
    )
    async with scorer_on(infra, topics, database, group, months=24):
        await eventually(lambda: consumed(infra, database, group), lambda n: n == total)
    # October 2024's 5 contact events, 4 profiles and 1 message
    assert RECORDS.labels("expired")._value.get() - expired == 10
    for contact in OLD:
        assert await tables_holding(infra, database, contact) == {}, contact
    assert await snapshot(infra, database) == before


def anomaly(period: str, starts: datetime) -> BreachEvent:
    return f.anomaly_breach(period, starts, "STAFF_ACCOUNT", 15.0, [f"wm-{period}"])


async def test_the_notifier_drops_old_alerts_contact_ids(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    """Two alerts recorded as of 2026-10-15, both within the retention then; as of 2026-12-15
    the purge at start blanks the one of November 2024 and keeps December 2026's; a breach of
    October 2024 replayed then is recorded without its examples."""
    await publish(
        infra,
        topics.breaches,
        [
            anomaly("2024-10", datetime(2024, 11, 1, 2, tzinfo=UTC)),
            anomaly("2026-11", datetime(2026, 12, 1, 2, tzinfo=UTC)),
        ],
    )
    group = unique("notifier")
    settings = make_settings(infra, topics, database, tmp_path, {}, group=group)

    async def details() -> dict[str, str]:
        rows = await query(infra, database, "SELECT period, details::text AS d FROM alert")
        return {r["period"]: r["d"] for r in rows}

    async with notifier(settings, clock=ManualClock(shanghai(2026, 10, 15, 10))):
        found = await eventually(details, lambda d: len(d) == 2)
    assert '"examples": ["wm-2024-10"]' in found["2024-10"]

    async with notifier(settings, clock=ManualClock(NOW)):
        found = await eventually(details, lambda d: "wm-2024-10" not in d["2024-10"])
        assert '"examples": []' in found["2024-10"] and '"contacts": 1' in found["2024-10"]
        assert '"examples": ["wm-2026-11"]' in found["2026-11"]
        await publish(
            infra, topics.breaches, [anomaly("2024-09", datetime(2024, 10, 1, 2, tzinfo=UTC))]
        )
        found = await eventually(details, lambda d: len(d) == 3)
    assert '"examples": []' in found["2024-09"] and "wm-2024-09" not in found["2024-09"]

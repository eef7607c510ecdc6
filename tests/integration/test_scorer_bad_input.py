"""Bad input on the scorer's topics, each with its defined outcome, on real Kafka and
PostgreSQL:

- a record of an unknown schema version → the dead-letter topic with a clear error, and the
  records after it are applied (the same record is refused with 422 at /v1/events:
  tests/integration/test_slice.py);
- a contact event for an employee not known yet → kept, its scores deferred with a growing
  back-off (counted in `scorer_deferred_scores`), and counted as soon as the employee record
  arrives (also tests/integration/test_scorer_rules.py, e9);
- an event from the far future or the far past → kept, counted in its own period, and
  visible in `scorer_events_odd_time_total{kind}`;
- the reconciliation's corrective delete (time = when the walk saw the relation gone) makes
  an add invalid only when that moment is inside the retention window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.ingestor.reconciliation import removal_event
from services.scorer.refresh import DEFAULT_SETTLE
from shared.calendar import PeriodKind, local_date, period_of
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually
from tests.infra import Infra
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


async def scores(client: httpx.AsyncClient, period: str, check: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        body = (await client.get("/v1/scores", params={"period": period})).json()
        return {e["employee_id"]: e for e in body["employees"]}

    return await eventually(probe, check, timeout=30)


def odd_times(kind: str) -> float:
    return REGISTRY.get_sample_value("scorer_events_odd_time_total", {"kind": kind}) or 0.0


async def test_unknown_schema_version_is_dead_lettered_and_the_rest_applied(
    infra: Infra, topics: Topics, scorer: httpx.AsyncClient
) -> None:
    ahead = {**f.add("e1", "wm-v2", f.at("2026-09-07")), "schema_version": 2}
    await produce(infra, topics.bank_records, [f.employee("e1"), f.profile("wm-ok")])
    await produce(
        infra, topics.contact_events, [ahead, f.add("e1", "wm-ok", f.at("2026-09-08"))], key="e1"
    )
    month = await scores(scorer, "2026-09", lambda s: s.get("e1", {}).get("gross_adds") == 1)
    assert month["e1"]["valid_adds"] == 1  # wm-ok; the unknown version is not guessed at
    [dead] = await read_topic(infra, topics.dlq(topics.contact_events), expect=1)
    assert "unsupported schema_version 2 (supported: 1)" in dead["error"]
    assert dead["topic"] == topics.contact_events and dead["offset"] == 0
    assert '"wm-v2"' in dead["value"]  # the record itself, for a replay once understood


async def test_an_event_for_an_unknown_employee_counts_once_the_employee_arrives(
    infra: Infra, topics: Topics, database: str, scorer: httpx.AsyncClient
) -> None:
    await produce(infra, topics.contact_events, [f.add("e7", "wm-1", f.at("2026-09-07"))])
    await produce(infra, topics.bank_records, [f.employee("e1"), f.profile("wm-1")])
    month = await scores(scorer, "2026-09", lambda s: "e1" in s)
    assert "e7" not in month  # not scored yet: no org, no team to report to...
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        # ...deferred with a back-off that grows (an id HR never sends must not spin)...
        deferred = await eventually(
            lambda: conn.fetch(
                "SELECT deferrals, marked_at - clock_timestamp() AS wait FROM score_dirty "
                "WHERE employee_id = 'e7'"
            ),
            lambda rows: len(rows) == 4 and all(r["deferrals"] >= 1 for r in rows),
            timeout=30,
        )
        # 5 s, then twice as long each time; a row whose back-off has run is claimed again
        # once its kind's settle has passed too (at most 10 s: the quarter's), by the next round
        late = max(DEFAULT_SETTLE.values()) + timedelta(seconds=5)
        for r in deferred:
            assert -late < r["wait"] <= timedelta(seconds=5 * 2 ** (r["deferrals"] - 1))
        await conn.execute("UPDATE score_dirty SET deferrals = 8 WHERE employee_id = 'e7'")
        gauge = await eventually(
            lambda: scorer.get("/metrics"),
            lambda r: "scorer_deferred_scores 4.0" in r.text,
            timeout=30,
        )
        assert "scorer_deferred_scores 4.0" in gauge.text
        # the next deferral would be 10 minutes away: the employee record must end the wait
        await conn.execute(
            "UPDATE score_dirty SET marked_at = clock_timestamp() + interval '10 minutes', "
            "claimed_at = NULL WHERE employee_id = 'e7'"
        )
        await produce(infra, topics.bank_records, [f.employee("e7", team_id="t9")])
        await eventually(  # recomputed by the refresh at once, not when the back-off ends
            lambda: conn.fetchval("SELECT count(*) FROM score_dirty WHERE employee_id = 'e7'"),
            lambda n: n == 0,
            timeout=30,
        )
    finally:
        await conn.close()
    month = await scores(scorer, "2026-09", lambda s: s.get("e7", {}).get("valid_adds") == 1)
    assert (month["e7"]["team_id"], month["e7"]["gross_adds"]) == ("t9", 1)  # ...but kept


async def test_far_future_and_far_past_events_are_kept_and_counted_in_a_metric(
    infra: Infra, topics: Topics, scorer: httpx.AsyncClient
) -> None:
    future, past = odd_times("future"), odd_times("past")
    now = datetime.now(UTC)
    ahead = now + timedelta(days=40)  # a sender's clock, or a bug
    behind = now - timedelta(days=500)  # a replay of old history
    await produce(infra, topics.bank_records, [f.employee("e1")])
    await produce(
        infra,
        topics.contact_events,
        [
            f.add("e1", "wm-ahead", ahead),
            f.add("e1", "wm-behind", behind),
            f.add("e1", "wm-now", now - timedelta(minutes=5)),
        ],
        key="e1",
    )
    for at in (ahead, behind):
        month = period_of(PeriodKind.MONTH, local_date(at)).key
        kept = await scores(scorer, month, lambda s: s.get("e1", {}).get("gross_adds") == 1)
        assert kept["e1"]["gross_adds"] == 1
    assert odd_times("future") == future + 1
    assert odd_times("past") == past + 1
    metrics = (await scorer.get("/metrics")).text
    assert 'scorer_events_odd_time_total{kind="future"}' in metrics


async def test_a_corrective_delete_counts_only_when_seen_inside_the_window(
    infra: Infra, topics: Topics, scorer: httpx.AsyncClient
) -> None:
    corp = "ww-test-corp"
    inside_add, after_add = f.at("2026-09-07"), f.at("2026-09-08")
    await produce(
        infra,
        topics.bank_records,
        [f.employee("e1"), f.profile("wm-inside"), f.profile("wm-after")],
    )
    await produce(
        infra,
        topics.contact_events,
        [
            f.add("e1", "wm-inside", inside_add),
            f.add("e1", "wm-after", after_add),
            # the nightly walks saw them gone: on day 3 (surely inside 7 days), on day 10
            removal_event(
                corp, ("e1", "wm-inside"), int(inside_add.timestamp()), f.at("2026-09-10", 9)
            ).to_json(),
            removal_event(
                corp, ("e1", "wm-after"), int(after_add.timestamp()), f.at("2026-09-18", 9)
            ).to_json(),
        ],
        key="e1",
    )
    month = await scores(scorer, "2026-09", lambda s: s.get("e1", {}).get("removed_adds") == 1)
    assert (month["e1"]["gross_adds"], month["e1"]["valid_adds"]) == (2, 1)
    contacts = (await scorer.get("/v1/employees/e1/contacts", params={"period": "2026-09"})).json()
    status = {c["external_userid"]: (c["status"], c["facts"]) for c in contacts}
    # seen gone by the nightly walk: counted as the customer's removal, a fact, no accusation
    assert status["wm-inside"] == ("invalid", ["CUSTOMER_DELETED"])
    assert status["wm-after"][0] == "valid"  # may have ended in the window: benefit of doubt

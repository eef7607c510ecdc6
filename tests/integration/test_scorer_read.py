"""The read side on real Kafka and PostgreSQL: /v1/scores filtered by branch and team and paged,
an employee who moved team kept in the old team's past period, and the SQL views for
dashboards giving the same figures as the API."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually
from tests.infra import Infra
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


async def ids(client: httpx.AsyncClient, **params: str) -> list[str]:
    body = (await client.get("/v1/scores", params=params)).json()
    return [e["employee_id"] for e in body["employees"]]


async def test_filters_pages_org_history_and_views_agree(
    infra: Infra, topics: Topics, database: str, scorer: httpx.AsyncClient
) -> None:
    moved = {**f.employee("e1", team_id="t2"), "occurred_at": "2026-10-05T09:00:00+08:00"}
    await produce(
        infra,
        topics.bank_records,
        [
            {**f.employee("e1"), "occurred_at": "2026-08-01T09:00:00+08:00"},
            f.employee("e2"),
            f.employee("e3", team_id="t2", branch_id="b2"),
            f.employee("e4", team_id="t3", branch_id="b2"),
            moved,  # e1 moves to t2 in October
            f.target("team", "t1", "2026-09", 2),
            f.target("branch", "b2", "2026-09", 1),
        ],
        key="org",
    )
    adds = [
        f.add(e, f"wm-{e}-{i}", f.at(f"2026-09-{7 + i:02d}"))
        for e in ("e1", "e2", "e3", "e4")
        for i in range(int(e[1]))
    ]
    adds.append(f.add("e1", "wm-oct", f.at("2026-10-12")))
    await produce(infra, topics.bank_records, f.profiles_for(adds), key="profiles")
    await produce(infra, topics.contact_events, adds, key="e")

    async def month() -> dict[str, Any]:
        body = (await scorer.get("/v1/scores", params={"period": "2026-09"})).json()
        return {e["employee_id"]: e for e in body["employees"]}

    september = await eventually(month, lambda s: s.get("e4", {}).get("valid_adds") == 4)

    # the team as it was in each period: September in t1, October in t2
    assert september["e1"]["team_id"] == "t1"
    assert await ids(scorer, period="2026-09", team_id="t1") == ["e1", "e2"]
    assert await ids(scorer, period="2026-10", team_id="t2") == ["e1", "e3"]
    assert await ids(scorer, period="2026-09", branch_id="b2") == ["e3", "e4"]
    assert await ids(scorer, period="2026-09", branch_id="b2", team_id="t3") == ["e4"]

    # pages: limit + after, each employee once, next_after absent on the last page
    seen: list[str] = []
    params = {"period": "2026-09", "limit": "3"}
    while True:
        page = (await scorer.get("/v1/scores", params=params)).json()
        seen += [e["employee_id"] for e in page["employees"]]
        if "next_after" not in page:
            break
        params["after"] = page["next_after"]
    assert seen == ["e1", "e2", "e3", "e4"]
    assert (
        await scorer.get("/v1/scores", params={"period": "2026-09", "limit": "0"})
    ).status_code == 400

    # the dashboards' views read the same figures the API serves, once the refresh has
    # written the rows' copies (the API computes them from the counters at once)
    async def views() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        conn = await asyncpg.connect(infra.owner_dsn(database))
        try:
            rows = await conn.fetch(
                """SELECT employee_id, team_id, target, valid_adds, status, quality_score, closed
                     FROM v_employee_period_scores WHERE period = '2026-09'
                    ORDER BY employee_id"""
            )
            teams = await conn.fetch(
                """SELECT team_id, employees, target, valid_adds FROM v_team_period_summary
                    WHERE period = '2026-09' ORDER BY team_id"""
            )
        finally:
            await conn.close()
        return [tuple(r) for r in rows], [tuple(r) for r in teams]

    shown = [
        (
            e["employee_id"],
            e["team_id"],
            e["target"],
            e["valid_adds"],
            e["status"],
            e["quality_score"],
            False,
        )
        for e in (september[k] for k in sorted(september))
    ]
    teams = [("t1", 2, 4, 3), ("t2", 1, 1, 3), ("t3", 1, 1, 4)]
    await eventually(views, lambda got: got == (shown, teams))

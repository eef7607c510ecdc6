"""An add is not valid until it is known to be (issue 17), end to end through the scorer on
real Kafka and PostgreSQL: waiting for the contact's profile, unverified adds, inherited
customers and HR's staff accounts, with the scorer's clock set to a fixed day."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.scorer.app import create_app
from shared.clock import ManualClock, offset_to
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra
from tests.integration.conftest import scorer_settings
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration

NOW = f.at("2026-09-20", 12)  # the scorer runs as of this moment
PERIOD = "2026-09"
RECENT = f.at("2026-09-19", 10)  # 26 hours before NOW: still waiting for a profile
OLD = f.at("2026-09-15", 10)  # 5 days before NOW
PROFILE_WAIT = timedelta(hours=72)


@asynccontextmanager
async def scorer_as_of(
    infra: Infra, topics: Topics, database: str, clock: ManualClock | None = None, **rules: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A scorer whose clock reads NOW (or what `clock` reads, which the test moves), with a
    one-day retention window so that a known add is decided within the test."""
    settings = scorer_settings(
        infra,
        topics,
        database,
        clock_offset_seconds=offset_to(NOW),
        retention_days=1,
        **rules,
    )
    async with running(create_app(settings, clock=clock)) as client:
        yield client


async def scores(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    body = (await client.get("/v1/scores", params={"period": PERIOD})).json()
    return {e["employee_id"]: e for e in body["employees"]}


async def settled(
    client: httpx.AsyncClient, check: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]]:
        return await scores(client)

    return await eventually(probe, check, timeout=30)


async def contacts(client: httpx.AsyncClient, employee: str) -> dict[str, dict[str, Any]]:
    body = (
        await client.get(f"/v1/employees/{employee}/contacts", params={"period": PERIOD})
    ).json()
    return {c["external_userid"]: c for c in body}


def transfer_delete(employee: str, contact: str, at: datetime) -> dict[str, Any]:
    return {
        **f.add(employee, contact, at),
        "ChangeType": "del_external_contact",
        "Source": "DELETE_BY_TRANSFER",
    }


async def test_an_add_waits_for_its_profile_and_is_unverified_without_one(
    infra: Infra, topics: Topics, database: str
) -> None:
    clock = ManualClock(NOW)
    async with scorer_as_of(infra, topics, database, clock) as scorer:
        await produce(infra, topics.bank_records, [f.employee("e1")])
        await produce(infra, topics.contact_events, [f.add("e1", "wm-never", OLD)])
        # an add waits for its profile from when it was stored, however old it is
        stored = await settled(scorer, lambda s: s.get("e1", {}).get("first_adds") == 1)
        assert (stored["e1"]["profile_unknown_adds"], stored["e1"]["unverified_adds"]) == (1, 0)
        clock.advance(PROFILE_WAIT + timedelta(hours=1))  # and waits no longer than this
        await produce(
            infra,
            topics.contact_events,
            [f.add("e1", "wm-late", RECENT), f.add("e1", "wm-peer", RECENT)],
        )
        # the wait's end is a timer, run beside the batches: wait for both
        first = await settled(
            scorer,
            lambda s: s.get("e1", {}).get("first_adds") == 3 and s["e1"]["unverified_adds"] == 1,
        )
        e1 = first["e1"]
        assert (e1["valid_adds"], e1["pending_adds"]) == (0, 2)
        assert (e1["profile_unknown_adds"], e1["unverified_adds"]) == (2, 1)
        by_contact = await contacts(scorer, "e1")
        assert by_contact["wm-late"]["reasons"] == ["profile_unknown"]
        assert (by_contact["wm-never"]["status"], by_contact["wm-never"]["reasons"]) == (
            "invalid",
            ["unverified"],
        )

        # the profiles arrive: one a plain WeChat user, one another bank's staff
        await produce(
            infra,
            topics.bank_records,
            [f.profile("wm-late"), f.profile("wm-peer", 2, "某某农村商业银行")],
        )
        later = await settled(scorer, lambda s: s["e1"]["profile_unknown_adds"] == 0)
        e1 = later["e1"]
        assert (e1["valid_adds"], e1["pending_adds"], e1["unverified_adds"]) == (1, 0, 1)
        by_contact = await contacts(scorer, "e1")
        assert by_contact["wm-late"]["status"] == "valid"
        assert (by_contact["wm-peer"]["status"], by_contact["wm-peer"]["flags"]) == (
            "invalid",
            ["PEER_INSTITUTION"],
        )

        # WeCom's "no such contact" ends the wait: judged by the other rules, and flagged
        await produce(infra, topics.bank_records, [f.profile("wm-never", found=False)])
        last = await settled(scorer, lambda s: s["e1"]["unverified_adds"] == 0)
        assert last["e1"]["valid_adds"] == 2
        flagged = (await contacts(scorer, "e1"))["wm-never"]
        assert (flagged["status"], flagged["flags"]) == ("valid", [])  # a fact, no accusation
        assert flagged["facts"] == ["PROFILE_NOT_FOUND"]

        # the dashboards' view: the row's copy, written by the refresh once the row settled
        await eventually(
            lambda: _view_row(infra, database, "e1"),
            lambda v: (v["profile_unknown_adds"], v["unverified_adds"]) == (0, 0),
        )


async def _view_row(infra: Infra, database: str, employee: str) -> asyncpg.Record:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        row = await conn.fetchrow(
            "SELECT * FROM v_employee_period_scores WHERE period = $1 AND employee_id = $2",
            PERIOD,
            employee,
        )
        team = await conn.fetchrow(
            "SELECT * FROM v_team_period_summary WHERE period = $1 AND team_id = 't1'", PERIOD
        )
    finally:
        await conn.close()
    assert row is not None and team is not None
    assert {"profile_unknown_adds", "unverified_adds", "inherited_adds"} <= set(team.keys())
    return row


async def test_the_bank_can_count_unverified_and_inherited_adds_as_valid(
    infra: Infra, topics: Topics, database: str
) -> None:
    clock = ManualClock(NOW)
    async with scorer_as_of(
        infra,
        topics,
        database,
        clock,
        count_unverified_as_valid=True,
        count_inherited_as_valid=True,
    ) as scorer:
        await produce(
            infra,
            topics.bank_records,
            [f.employee("e1"), f.profile("wm-assigned", employee_id="e1", add_way=202)],
        )
        await produce(
            infra,
            topics.contact_events,
            [f.add("e1", "wm-never", OLD), f.add("e1", "wm-assigned", OLD)],
        )
        await settled(scorer, lambda s: s.get("e1", {}).get("profile_unknown_adds") == 1)
        clock.advance(PROFILE_WAIT + timedelta(hours=1))
        await produce(infra, topics.bank_records, [f.employee("e1")])  # scored again
        month = await settled(scorer, lambda s: s.get("e1", {}).get("valid_adds") == 2)
        e1 = month["e1"]
        assert (e1["unverified_adds"], e1["inherited_adds"], e1["pending_adds"]) == (1, 1, 0)


async def test_inherited_customers_are_not_new_valid_adds(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with scorer_as_of(infra, topics, database) as scorer:
        await produce(
            infra,
            topics.bank_records,
            [
                f.employee("e1"),
                f.employee("e2"),
                f.employee("e3"),
                f.profile("wm-assigned", employee_id="e1", add_way=202),
                f.profile("wm-shared", employee_id="e1", add_way=201),
                f.profile("wm-handed"),
            ],
        )
        # e2 receives wm-handed in e1's handover; the handover's delete arrives after the add
        await produce(
            infra,
            topics.contact_events,
            [
                f.add("e1", "wm-handed", f.at("2026-09-01")),
                f.add("e1", "wm-assigned", OLD),
                f.add("e1", "wm-shared", OLD),
                f.add("e2", "wm-handed", OLD),
                # e3 won the same customer on her own, three hours before the handover
                f.add("e3", "wm-handed", OLD - timedelta(hours=3)),
            ],
        )
        await settled(scorer, lambda s: s.get("e2", {}).get("valid_adds") == 1)
        await produce(infra, topics.contact_events, [transfer_delete("e1", "wm-handed", OLD)])
        month = await settled(scorer, lambda s: s["e2"]["inherited_adds"] == 1)
        e1, e2 = month["e1"], month["e2"]
        assert (e2["valid_adds"], e2["inherited_adds"]) == (0, 1)
        # e1 keeps its own add of wm-handed (a handover is not churn) and wm-shared (201)
        assert (e1["valid_adds"], e1["inherited_adds"]) == (2, 1)
        assert (month["e3"]["valid_adds"], month["e3"]["inherited_adds"]) == (1, 0)
        by_contact = await contacts(scorer, "e1")
        assert by_contact["wm-assigned"]["reasons"] == ["inherited"]


async def test_a_staff_account_is_never_a_valid_add_whenever_hr_says_so(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with scorer_as_of(infra, topics, database) as scorer:
        # before the add: by external_userid
        await produce(
            infra,
            topics.bank_records,
            [
                f.employee("e1"),
                f.employee("e2"),
                f.employee("e3"),
                f.staff_account("e3", external_userid="wm-staff-a"),
                f.profile("wm-staff-a"),
                f.profile("wm-staff-b", unionid="union-b"),
                f.profile("wm-ok"),
            ],
        )

        async def stored() -> int:
            conn = await asyncpg.connect(infra.owner_dsn(database))
            try:
                return int(await conn.fetchval("SELECT count(*) FROM staff_account"))
            finally:
                await conn.close()

        await eventually(stored, lambda n: n == 1)
        await produce(
            infra,
            topics.contact_events,
            [
                f.add("e1", "wm-staff-a", OLD),
                f.add("e1", "wm-staff-b", OLD),
                f.add("e2", "wm-staff-b", OLD),
                f.add("e1", "wm-ok", OLD),
            ],
        )
        before = await settled(
            scorer, lambda s: s.get("e1", {}).get("valid_adds") == 2 and "e2" in s
        )
        assert before["e2"]["valid_adds"] == 1
        by_contact = await contacts(scorer, "e1")
        assert (by_contact["wm-staff-a"]["status"], by_contact["wm-staff-a"]["reasons"]) == (
            "invalid",
            ["staff_account"],
        )
        assert "STAFF_ACCOUNT" in by_contact["wm-staff-a"]["flags"]

        # after the adds, by the unionid of the contact's profile, for an employee HR has not
        # sent yet: kept, counted, and every add of that account judged again
        await produce(infra, topics.bank_records, [f.staff_account("e-new", unionid="union-b")])

        def staff_evidence(s: dict[str, Any]) -> Any:
            found = [r for r in s["e1"]["reasons"] if r["code"] == "STAFF_ACCOUNT"]
            return found[0]["evidence"]["accounts_of_employees"] if found else None

        # the quota figures move with the batch; the evidence with the refresh that follows it
        after = await settled(
            scorer,
            lambda s: s["e1"]["valid_adds"] == 1 and staff_evidence(s) == ["e-new", "e3"],
        )
        assert after["e2"]["valid_adds"] == 0
        metrics = (await scorer.get("/metrics")).text
        assert 'scorer_unmatched_records_total{kind="staff_account",reason="unknown_employee"}' in (
            metrics
        )


async def test_a_profile_for_a_contact_nobody_added_is_kept_and_counted(
    infra: Infra, topics: Topics, database: str
) -> None:
    async with scorer_as_of(infra, topics, database) as scorer:
        await produce(
            infra,
            topics.bank_records,
            [f.employee("e1"), f.profile("wm-nobody", 2, "某某银行"), f.profile("wm-a")],
        )
        await produce(infra, topics.contact_events, [f.add("e1", "wm-a", OLD)])
        month = await settled(scorer, lambda s: s.get("e1", {}).get("valid_adds") == 1)
        assert month["e1"]["first_adds"] == 1
        metrics = (await scorer.get("/metrics")).text
        assert (
            'scorer_unmatched_records_total{kind="contact_profile",reason="contact_not_added"}'
            in metrics
        )

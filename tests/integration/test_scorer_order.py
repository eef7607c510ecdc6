"""The same events in two different orders, one of them with duplicates and spread over
partitions, through two scorers on real Kafka and PostgreSQL: every figure the API serves must
be the same. (The pure domain's side of it: tests/unit/test_order_independence.py.)"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.scorer import at_rest
from services.scorer.app import create_app
from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually, running
from tests.infra import Infra, create_database, drop_database, unique
from tests.integration.conftest import scorer_settings
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration
EMPLOYEES = ["e1", "e2", "e3"]
PERIODS = ["2026-09", "2026-Q3", "2026-W37", "2026-W38", "2026-09-08", "2026-09-14"]


def workload(seed: int = 11) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(bank records, contact events) of one month: adds, both kinds of delete, handovers,
    re-adds, the same contact added by two employees, peers, customer links, chats."""
    rng = random.Random(seed)
    bank: list[dict[str, Any]] = [
        f.employee("e1"),
        f.employee("e2"),
        f.employee("e3", team_id="t2"),
        f.target("team", "t1", "2026-09", 6),
        f.target("employee", "e3", "2026-09", 2),
        f.target("role", "customer_manager", "2026-09-08", 1),
    ]
    events: list[dict[str, Any]] = []
    for n in range(60):
        who = rng.choice(EMPLOYEES)
        contact = f"wm{rng.randrange(30):02d}"
        day = f"2026-09-{rng.randrange(1, 29):02d}"
        add = f.add(who, contact, f.at(day, hour=rng.randrange(9, 18)), state=f"qr{n % 3}")
        add["CreateTime"] += n  # distinct facts
        events.append(add)
        roll = rng.random()
        if roll < 0.3:
            delete = {
                **add,
                "ChangeType": rng.choice(["del_follow_user", "del_external_contact"]),
                "CreateTime": add["CreateTime"] + rng.randrange(3600, 12 * 86_400),
            }
            if rng.random() < 0.25:
                delete["Source"] = "DELETE_BY_TRANSFER"
            events.append(delete)
        if roll < 0.5:
            sent = add["CreateTime"] + rng.randrange(60, 3 * 86_400)
            for k, (direction, kind) in enumerate(
                [
                    ("from_customer", "one_to_one"),
                    ("to_customer", rng.choice(["one_to_one", "mass"])),
                ]
            ):
                bank.append(
                    {
                        "type": "message",
                        "message_id": f"m{n}-{k}",
                        "employee_id": who,
                        "external_userid": contact,
                        "direction": direction,
                        "kind": kind,
                        "sent_at": datetime.fromtimestamp(sent + k * 600, UTC).isoformat(),
                    }
                )
    # a ring: all three add the same six silent contacts on the month's last days (in time
    # order they come last, after the dense-block pass has already run on the month)
    for k in range(6):
        for who in EMPLOYEES:
            events.append(f.add(who, f"ring{k}", f.at("2026-09-28", hour=10 + k)))
    for i in range(0, 30, 4):
        bank.append(
            {
                "type": "contact_profile",
                "external_userid": f"wm{i:02d}",
                "contact_type": 2,
                "corp_name": "某某农村商业银行" if i % 8 == 0 else "某某科技有限公司",
            }
        )
    for i in range(1, 30, 3):
        bank.append(
            {"type": "customer_link", "external_userid": f"wm{i:02d}", "is_customer": i % 2 == 1}
        )
    return bank, events


def topics_named(prefix: str) -> Topics:
    suffix = unique(prefix)
    return Topics(
        contact_events=f"wecom.contact-events.{suffix}",
        bank_records=f"bank.records.{suffix}",
        breaches=f"scoring.breaches.{suffix}",
        raw_callbacks=f"wecom.raw-events.{suffix}",
    )


@asynccontextmanager
async def scorer(infra: Infra, topics: Topics, database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = scorer_settings(
        infra,
        topics,
        database,
        scorer_batch_max_records=17,
        scores_rest_after_seconds=1.0,
        scores_rest_min_interval_seconds=0.0,
    )
    async with running(create_app(settings)) as client:
        yield client


async def settled(infra: Infra, database: str, records: int) -> None:
    """Every record applied (offsets stored with the data), the scores brought to rest on
    them (at_rest.py) and no score left to recompute."""

    async def state() -> tuple[int, bool]:
        conn = await asyncpg.connect(infra.owner_dsn(database))
        try:
            applied = await conn.fetchval(
                "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offset"
            )
            group = await conn.fetchval("SELECT min(consumer_group) FROM consumer_offset")
            return int(applied), group is not None and await at_rest.settled(conn, group)
        finally:
            await conn.close()

    await eventually(state, lambda s: s == (records, True), timeout=90)


async def everything(client: httpx.AsyncClient) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for period in PERIODS:
        body = (await client.get("/v1/scores", params={"period": period})).json()
        out[period] = sorted(
            ({k: v for k, v in e.items() if k != "as_of"} for e in body["employees"]),
            key=lambda e: e["employee_id"],
        )
        for employee in EMPLOYEES:
            contacts = await client.get(
                f"/v1/employees/{employee}/contacts", params={"period": period}
            )
            out[f"{period}/{employee}"] = sorted(
                contacts.json(), key=lambda c: c["external_userid"]
            )
    return out


async def test_two_orders_with_duplicates_give_identical_figures(infra: Infra) -> None:
    bank, events = workload()
    rng = random.Random(5)
    ordered, shuffled = topics_named("o"), topics_named("s")
    first, second = await create_database(infra), await create_database(infra)
    try:
        # order 1: the org first, then events in time order, one partition; the ring's adds
        # only once the scorer has scored the rest (its dense-block pass found no ring then)
        await produce(infra, ordered.bank_records, bank, key="all")
        in_time = sorted(events, key=lambda e: e["CreateTime"])
        late = [e for e in in_time if e["ExternalUserID"].startswith("ring")]
        early = [e for e in in_time if e not in late]
        await produce(infra, ordered.contact_events, early, key="all")
        ordered_total = len(bank) + len(events)

        # order 2: events shuffled, a third duplicated, spread over partitions; messages and
        # profiles before their adds; the employee records last of all
        again = events + rng.sample(events, len(events) // 3)
        rng.shuffle(again)
        org = [r for r in bank if r["type"] == "employee"]
        rest = [r for r in bank if r["type"] != "employee"]
        rest = rest + rng.sample(rest, len(rest) // 3)
        rng.shuffle(rest)
        for i in range(4):
            await produce(infra, shuffled.bank_records, rest[i::4], key=f"k{i}")
            await produce(infra, shuffled.contact_events, again[i::4], key=f"k{i}")
        await produce(infra, shuffled.bank_records, org, key="org")
        shuffled_total = len(again) + len(rest) + len(org)

        async with (
            scorer(infra, ordered, first) as one,
            scorer(infra, shuffled, second) as two,
        ):
            await settled(infra, first, ordered_total - len(late))
            await produce(infra, ordered.contact_events, late, key="all")
            await settled(infra, first, ordered_total)
            await settled(infra, second, shuffled_total)
            figures_one, figures_two = await everything(one), await everything(two)
    finally:
        await drop_database(infra, first)
        await drop_database(infra, second)

    month = {e["employee_id"]: e for e in figures_one["2026-09"]}
    assert set(month) == set(EMPLOYEES)
    # the workload exercises what can go wrong: removals, pending-free validity, engagement
    assert sum(e["removed_adds"] for e in month.values()) > 0
    assert sum(e["valid_adds"] for e in month.values()) > 0
    assert any(e["quality"].get("engagement") for e in month.values())
    # the ring is judged on the whole month in both orders, though the dense-block pass had
    # run before it formed (its result is reused for 30 s while records arrive)
    assert all("dense_block" in json.dumps(e) for e in month.values()), month
    for key in figures_one:
        assert figures_two[key] == figures_one[key], (
            key,
            differences(figures_one[key], figures_two[key]),
        )


def differences(one: Any, two: Any, at: str = "") -> list[str]:
    """Where two decoded JSON values differ: paths with both sides (for a failure's message)."""
    if isinstance(one, dict) and isinstance(two, dict):
        return [
            d
            for k in sorted(set(one) | set(two), key=str)
            for d in differences(one.get(k), two.get(k), f"{at}.{k}")
        ]
    if isinstance(one, list) and isinstance(two, list) and len(one) == len(two):
        return [
            d
            for i, (a, b) in enumerate(zip(one, two, strict=True))
            for d in differences(a, b, f"{at}[{i}]")
        ]
    return [] if one == two else [f"{at}: {one!r} != {two!r}"]

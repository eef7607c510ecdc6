"""The benchmark's seeded workloads: the org, and a month of mixed scorer input (contact adds
and removals, chat metadata, customer links) as the ingestor would publish it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tests import factories as f

MONTH = "2026-09"


def staff(employees: int, teams: int = 50, branches: int = 10) -> list[dict[str, Any]]:
    return [
        f.employee(
            employee_id(i),
            team_id=f"t{i % teams:03d}",
            branch_id=f"b{i % teams % branches:02d}",
            supervisor_id=f"lead{i % teams:03d}",
        )
        for i in range(employees)
    ]


def employee_id(i: int) -> str:
    return f"m{i:06d}"


def mixed(events: int, employees: int, seed: int, shared: float = 0.03) -> Iterator[dict[str, Any]]:
    """~70 % contact adds, ~10 % removals, ~15 % chat metadata, ~5 % customer links, spread
    over one month's working hours (event time, not arrival order), as a bank's stream has
    them: each add a new contact except a `shared` share that was added before (by another
    employee: a customer with two managers, or a ring; rarely by the same one: a re-add);
    removals, messages and links about relations added before them (in event time, within the
    month)."""
    rng = random.Random(seed)
    relations: list[tuple[str, str, datetime]] = []
    month_end = f.at(f"{MONTH}-30", hour=18)
    for n in range(events):
        who = employee_id(rng.randrange(employees))
        at = f.at(f"{MONTH}-{rng.randrange(1, 29):02d}", hour=rng.randrange(9, 18))
        at += timedelta(seconds=n % 3600)
        roll = rng.random()
        if roll < 0.70 or not relations:
            shares = relations and rng.random() < shared
            contact = rng.choice(relations)[1] if shares else f"wm{n:08d}"
            relations.append((who, contact, at))
            yield f.add(who, contact, at, state=f"s{rng.randrange(20)}")
            continue
        owner, contact, added = rng.choice(relations)
        later = min(added + timedelta(minutes=rng.randrange(1, 60 * 24 * 10)), month_end)
        if roll < 0.80:
            record = f.add(owner, contact, later)
            record["ChangeType"] = rng.choice(["del_follow_user", "del_external_contact"])
            yield record
        elif roll < 0.95:
            yield {
                "type": "message",
                "message_id": f"msg{n:09d}",
                "employee_id": owner,
                "external_userid": contact,
                "direction": rng.choice(["to_customer", "from_customer"]),
                "kind": rng.choice(["one_to_one", "mass", "group"]),
                "sent_at": later.isoformat(),
            }
        else:
            yield {
                "type": "customer_link",
                "external_userid": contact,
                "is_customer": rng.random() < 0.5,
                "customer_tier": rng.choice(["mass", "affluent", "private"]),
                "assigned_employee_id": owner,
                "occurred_at": later.isoformat(),
            }


def now_add(employee: str, contact: str, at: datetime | None = None) -> dict[str, Any]:
    """An add happening now (the end-to-end benchmark's live traffic)."""
    return f.add(employee, contact, at or datetime.now(UTC))

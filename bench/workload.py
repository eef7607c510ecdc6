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


def mixed(events: int, employees: int, seed: int) -> Iterator[dict[str, Any]]:
    """~70 % contact adds, ~10 % removals, ~15 % chat metadata, ~5 % customer links, spread
    over one month's working hours (event time, not arrival order)."""
    rng = random.Random(seed)
    contacts = max(1, events // 3)
    for n in range(events):
        who = employee_id(rng.randrange(employees))
        contact = f"wm{rng.randrange(contacts):08d}"
        at = f.at(f"{MONTH}-{rng.randrange(1, 29):02d}", hour=rng.randrange(9, 18))
        at += timedelta(seconds=n % 3600)
        roll = rng.random()
        if roll < 0.70:
            yield f.add(who, contact, at, state=f"s{rng.randrange(20)}")
        elif roll < 0.80:
            record = f.add(who, contact, at)
            record["ChangeType"] = rng.choice(["del_follow_user", "del_external_contact"])
            yield record
        elif roll < 0.95:
            yield {
                "type": "message",
                "message_id": f"msg{n:09d}",
                "employee_id": who,
                "external_userid": contact,
                "direction": rng.choice(["to_customer", "from_customer"]),
                "kind": rng.choice(["one_to_one", "mass", "group"]),
                "sent_at": at.isoformat(),
            }
        else:
            yield {
                "type": "customer_link",
                "external_userid": contact,
                "is_customer": rng.random() < 0.5,
                "customer_tier": rng.choice(["mass", "affluent", "private"]),
                "assigned_employee_id": who,
                "occurred_at": at.isoformat(),
            }


def now_add(employee: str, contact: str, at: datetime | None = None) -> dict[str, Any]:
    """An add happening now (the end-to-end benchmark's live traffic)."""
    return f.add(employee, contact, at or datetime.now(UTC))

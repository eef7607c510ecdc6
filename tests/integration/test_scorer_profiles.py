"""Contact profiles into PostgreSQL: one batch may hold two profiles of the same follower (a
contact re-added within seconds, or enriched twice); the batch must apply, latest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.scorer import repository
from shared.schemas import ContactProfileRecord
from tests.infra import Infra

pytestmark = pytest.mark.integration
AT = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)


def profile(employee: str, contact: str, state: str, minutes: int) -> ContactProfileRecord:
    return ContactProfileRecord.model_validate(
        {
            "type": "contact_profile",
            "external_userid": contact,
            "contact_type": 1,
            "employee_id": employee,
            "add_way": 1,
            "state": state,
            "oper_userid": contact,
            "occurred_at": AT + timedelta(minutes=minutes),
        }
    )


async def test_two_profiles_of_one_follower_in_a_batch_apply_latest_first(
    infra: Infra, database: str
) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        await repository.upsert_profiles(
            conn,
            [
                profile("e1", "wm-a", "first_code", 0),
                profile("e2", "wm-a", "other_code", 1),
                profile("e1", "wm-a", "second_code", 2),
            ],
        )
        rows = await conn.fetch(
            "SELECT employee_id, state FROM employee_contact WHERE external_userid = 'wm-a' "
            "ORDER BY employee_id"
        )
    finally:
        await conn.close()
    assert [(r["employee_id"], r["state"]) for r in rows] == [
        ("e1", "second_code"),
        ("e2", "other_code"),
    ]


def answer(
    contact: str, minutes: int, found: bool, corp: str | None = None
) -> ContactProfileRecord:
    return ContactProfileRecord.model_validate(
        {
            "type": "contact_profile",
            "external_userid": contact,
            "contact_type": 2 if corp else 1,
            "corp_name": corp,
            "found": found,
            "occurred_at": AT + timedelta(minutes=minutes),
        }
    )


async def test_no_such_contact_ends_the_wait_but_erases_no_known_profile(
    infra: Infra, database: str
) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        # not found, then an earlier found profile arriving late: its facts are kept
        await repository.upsert_profiles(conn, [answer("wm-a", 5, False)])
        await repository.upsert_profiles(conn, [answer("wm-a", 1, True, "某某银行")])
        # found, then a later "no such contact" (in one batch): the facts stay
        await repository.upsert_profiles(
            conn, [answer("wm-b", 1, True, "某某银行"), answer("wm-b", 5, False)]
        )
        await repository.upsert_profiles(conn, [answer("wm-c", 1, False)])
        rows = {
            r["external_userid"]: (r["profile_found"], r["contact_type"], r["corp_name"])
            for r in await conn.fetch(
                "SELECT external_userid, profile_found, contact_type, corp_name FROM contact"
            )
        }
    finally:
        await conn.close()
    assert rows == {
        "wm-a": (True, 2, "某某银行"),
        "wm-b": (True, 2, "某某银行"),
        "wm-c": (False, None, None),
    }

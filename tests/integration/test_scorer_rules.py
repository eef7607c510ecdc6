"""The quota rules end to end through the scorer's pipeline, on real Kafka and PostgreSQL:
records go onto the topics, figures come out of the read API."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from shared.settings import Topics
from tests import factories as f
from tests.apps import eventually
from tests.infra import Infra
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


def delete(
    employee: str, contact: str, day: str, by: str = "customer", source: str | None = None
) -> dict[str, Any]:
    change = "del_follow_user" if by == "customer" else "del_external_contact"
    record = {**f.add(employee, contact, f.at(day)), "ChangeType": change}
    if source:
        record["Source"] = source
    return record


async def scores(client: httpx.AsyncClient, period: str) -> dict[str, dict[str, Any]]:
    body = (await client.get("/v1/scores", params={"period": period})).json()
    return {e["employee_id"]: e for e in body["employees"]}


async def settled(client: httpx.AsyncClient, period: str, check: Any) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]]:
        return await scores(client, period)

    return await eventually(probe, check, timeout=30)


def message(message_id: str, direction: str, kind: str, sent_at: str) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": message_id,
        "employee_id": "e1",
        "external_userid": "wm-a",
        "direction": direction,
        "kind": kind,
        "sent_at": sent_at,
    }


CONTACT_EVENTS = [
    f.add("e1", "wm-a", f.at("2026-09-07")),
    f.add("e1", "wm-peer", f.at("2026-09-07")),
    f.add("e1", "wm-quick", f.at("2026-09-08")),
    delete("e1", "wm-quick", "2026-09-10", by="customer"),
    f.add("e1", "wm-late-del", f.at("2026-09-08")),
    delete("e1", "wm-late-del", "2026-09-20", by="employee"),
    f.add("e1", "wm-transfer", f.at("2026-09-09")),
    delete("e1", "wm-transfer", "2026-09-10", by="employee", source="DELETE_BY_TRANSFER"),
    f.add("e1", "wm-readd", f.at("2026-09-10")),
    delete("e1", "wm-readd", "2026-09-20", by="employee"),
    f.add("e1", "wm-readd", f.at("2026-09-25")),
    f.add("e2", "wm-a", f.at("2026-09-15")),
    delete("e2", "wm-ooo", "2026-09-17", by="employee"),  # the removal arrives before its add
    f.add("e2", "wm-ooo", f.at("2026-09-16")),
    f.add("e9", "wm-e9", f.at("2026-09-05")),  # e9 is not known yet
]


async def test_quota_rules_case_by_case(
    infra: Infra, topics: Topics, scorer: httpx.AsyncClient
) -> None:
    await produce(
        infra,
        topics.bank_records,
        [
            f.employee("e1"),
            f.employee("e2"),
            {
                "type": "contact_profile",
                "external_userid": "wm-peer",
                "contact_type": 2,
                "corp_name": "某某农村商业银行",
            },
            *f.profiles_for(e for e in CONTACT_EVENTS if e["ExternalUserID"] != "wm-peer"),
            f.target("team", "t1", "2026-09", 5),
            f.target("role", "customer_manager", "2026-09-19", 1),  # a Saturday
            f.target("role", "customer_manager", "2026-09-20", 1),  # a make-up working Sunday
        ],
    )
    await produce(infra, topics.contact_events, CONTACT_EVENTS)
    await produce(infra, topics.contact_events, CONTACT_EVENTS)  # duplicates change nothing
    chats = [
        message("m1", "from_customer", "one_to_one", "2026-09-07T10:00:00+08:00"),
        message("m2", "to_customer", "one_to_one", "2026-09-07T10:30:00+08:00"),
        message("m3", "to_customer", "mass", "2026-09-08T10:30:00+08:00"),
        message("m4", "from_customer", "one_to_one", "2026-09-09T21:00:00+08:00"),  # unanswered
    ]
    await produce(infra, topics.bank_records, chats + chats)
    await produce(infra, topics.bank_records, [b"{not json", {"type": "employee"}])  # poison
    await produce(infra, topics.bank_records, [f.employee("e9", team_id="t2")])

    month = await settled(
        scorer,
        "2026-09",
        lambda s: (
            s.get("e9", {}).get("valid_adds") == 1
            and s.get("e2", {}).get("gross_adds") == 2
            and s["e1"]["quality"].get("responsiveness") == 0.5
        ),
    )
    e1, e2, e9 = month["e1"], month["e2"], month["e9"]
    assert (
        e1["gross_adds"],
        e1["first_adds"],
        e1["valid_adds"],
        e1["pending_adds"],
        e1["removed_adds"],
        e1["new_to_bank"],
    ) == (7, 6, 4, 0, 1, 6)
    assert (
        e2["gross_adds"],
        e2["first_adds"],
        e2["valid_adds"],
        e2["removed_adds"],
        e2["new_to_bank"],
    ) == (2, 2, 1, 1, 1)
    assert (e9["gross_adds"], e9["valid_adds"], e9["target"]) == (1, 1, None)
    assert e1["target"] == 5
    quality = e1["quality"]
    assert quality["responsiveness"] == 0.5  # one of two customer-initiated chat days answered
    assert quality["median_first_reply_seconds"] == 1800
    assert quality["personal_touch"] == 0.5
    assert quality["engagement"] == pytest.approx(1 / 5)  # wm-a wrote; peers excluded
    assert 0 < e1["quality_score"] < 100
    assert e1["attainment"] == 0.8
    assert e1["status"] == "missed"  # the month is over

    contacts = (await scorer.get("/v1/employees/e1/contacts", params={"period": "2026-09"})).json()
    by_contact = {c["external_userid"]: c for c in contacts}
    assert by_contact["wm-peer"]["status"] == "invalid"
    assert by_contact["wm-peer"]["flags"] == ["PEER_INSTITUTION"]
    # removed by the customer within the window: invalid, and a fact, not an accusation
    assert (by_contact["wm-quick"]["status"], by_contact["wm-quick"]["flags"]) == ("invalid", [])
    assert by_contact["wm-quick"]["facts"] == ["CUSTOMER_DELETED"]
    assert by_contact["wm-quick"]["removed_by"] == "customer"
    assert {
        c: by_contact[c]["status"] for c in ("wm-a", "wm-late-del", "wm-transfer", "wm-readd")
    } == dict.fromkeys(("wm-a", "wm-late-del", "wm-transfer", "wm-readd"), "valid")

    # removed by the employee within the window, but e2 is not flagged: the removal is in the
    # contact's reasons and removed_by, and accuses nothing (a pattern accuses only a flagged
    # employee's adds)
    assert not e2["flagged"]
    others = (await scorer.get("/v1/employees/e2/contacts", params={"period": "2026-09"})).json()
    ooo = next(c for c in others if c["external_userid"] == "wm-ooo")
    assert (ooo["status"], ooo["flags"], ooo["removed_by"]) == ("invalid", [], "employee")
    assert "QUICK_DELETE" in ooo["reasons"]

    saturday = await scores(scorer, "2026-09-19")
    sunday = await scores(scorer, "2026-09-20")
    assert saturday["e1"]["target"] is None
    assert sunday["e1"]["target"] == 1

    dead = await read_topic(infra, topics.dlq(topics.bank_records), expect=2)
    assert len(dead) == 2
    assert all(d["error"] and d["topic"] == topics.bank_records for d in dead)


async def test_a_late_event_after_close_revises_and_flips(
    infra: Infra, topics: Topics, database: str, scorer: httpx.AsyncClient
) -> None:
    await produce(
        infra,
        topics.bank_records,
        [
            f.employee("e1"),
            f.target("employee", "e1", "2026-09", 2),
            f.profile("wm-1"),
            f.profile("wm-2"),
        ],
    )
    await produce(infra, topics.contact_events, [f.add("e1", "wm-1", f.at("2026-09-07"))])
    await settled(scorer, "2026-09", lambda s: s.get("e1", {}).get("valid_adds") == 1)
    closed = (await scorer.post("/v1/periods/2026-09/close?force=true")).json()
    assert closed["target_missed"] == 1
    assert (await scorer.post("/v1/periods/2026-09/close?force=true")).json()[
        "already_closed"
    ] is True

    await produce(infra, topics.contact_events, [f.add("e1", "wm-2", f.at("2026-09-29"))])
    month = await settled(scorer, "2026-09", lambda s: s["e1"]["valid_adds"] == 2)
    assert month["e1"]["status"] == "met"
    breaches = await read_topic(infra, topics.breaches, expect=3)
    # closing twice repeats the firing breach with the same id; the notifier keeps one
    distinct = {b["event_id"]: (b["alertname"], b["status"]) for b in breaches}
    assert sorted(distinct.values()) == [("TargetMissed", "firing"), ("TargetMissed", "resolved")]

    # later still: the customer had deleted wm-2 a day after the add; missed again, and said
    await produce(infra, topics.contact_events, [delete("e1", "wm-2", "2026-09-30")])
    month = await settled(scorer, "2026-09", lambda s: s["e1"]["valid_adds"] == 1)
    assert month["e1"]["status"] == "missed"
    breaches = await read_topic(infra, topics.breaches, expect=4)
    distinct = {b["event_id"]: (b["alertname"], b["status"]) for b in breaches}
    assert sorted(distinct.values()) == [
        ("TargetMissed", "firing"),
        ("TargetMissed", "firing"),  # a new id: the notifier must not take it for the close's
        ("TargetMissed", "resolved"),
    ]
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        revisions = await conn.fetch(
            """SELECT revision, old_valid_adds, new_valid_adds, old_status, new_status,
                      outcome_flipped FROM period_revision
                WHERE period = '2026-09' AND employee_id = 'e1' ORDER BY revision"""
        )
        outcome = await conn.fetchrow(
            "SELECT status, revision FROM period_outcome WHERE period = '2026-09'"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in revisions] == [
        (1, 1, 2, "missed", "met", True),
        (2, 2, 1, "met", "missed", True),
    ]
    assert outcome is not None and tuple(outcome) == ("missed", 2)

"""The replay's reading of records (tools/evaluate/replay.py): what the scorer's tables would
hold, from a handful of records in the `/v1/events` shapes; pure, no stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scorer.domain.validity import Removal
from tools.evaluate.replay import main, month_inputs
from tools.simulator import records as shapes

START = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # October in Shanghai
END = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
AT = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)


def employee(eid: str, team: str) -> dict[str, object]:
    return shapes.employee(eid, eid, "b1", team, None, "客户经理", None, f"{eid}@x", START)


def profile(
    ext: str, employee_id: str, add_way: int, unionid: str | None = None
) -> dict[str, object]:
    return {
        "type": "contact_profile",
        "external_userid": ext,
        "contact_type": 1,
        "corp_name": None,
        "unionid": unionid,
        "employee_id": employee_id,
        "add_way": add_way,
        "state": "qr_e1",
        "oper_userid": ext,
        "createtime": int(AT.timestamp()),
        "occurred_at": shapes.rfc3339(AT),
    }


def records() -> list[dict[str, object]]:
    return [
        employee("e1", "t1"),
        employee("e2", "t2"),
        {"type": "staff_account", "employee_id": "e2", "unionid": "u-staff", "occurred_at": "x"},
        shapes.add_event("corp", "e1", "wm-a", AT, state="qr_e1", welcome_code=None),
        profile("wm-a", "e1", 1),
        shapes.add_event(
            "corp", "e2", "wm-a", AT + timedelta(hours=1), state="", welcome_code=None
        ),
        shapes.delete_event("corp", "e2", "wm-a", AT + timedelta(hours=3), by_customer=True),
        shapes.message("m1", "e1", "wm-a", "from_customer", "one_to_one", AT + timedelta(hours=1)),
        shapes.message("m2", "e1", "wm-a", "to_customer", "one_to_one", AT + timedelta(hours=2)),
        shapes.message("m3", "e1", "wm-a", "from_customer", "one_to_one", AT + timedelta(hours=4)),
        shapes.message("m4", "e1", "wm-a", "to_customer", "mass", AT + timedelta(days=2)),
        {
            "type": "customer_link",
            "external_userid": "wm-a",
            "is_customer": True,
            "customer_tier": "大众",
            "assigned_employee_id": "e1",
            "verified_at": shapes.rfc3339(AT),
            "occurred_at": shapes.rfc3339(AT),
        },
        shapes.add_event("corp", "e1", "wm-s", AT, state="", welcome_code=None),
        profile("wm-s", "e1", 2, unionid="u-staff"),
        shapes.add_event(
            "corp", "e1", "wm-sept", START - timedelta(days=2), state="", welcome_code=None
        ),
    ]


def test_records_become_the_relations_facts_as_the_scorer_stores_them() -> None:
    inputs = month_inputs(records(), START, END)
    assert inputs.teams == {"e1": "t1", "e2": "t2"}
    by = {(f.employee_id, f.external_userid): f for fs in inputs.facts.values() for f in fs}
    assert set(by) == {("e1", "wm-a"), ("e2", "wm-a"), ("e1", "wm-s")}  # September's left out
    a = by[("e1", "wm-a")]
    assert (a.add_way, a.state, a.is_customer, a.customer_tier) == (1, "qr_e1", True, "大众")
    assert (a.customer_msgs, a.one_to_one_msgs, a.mass_msgs) == (2, 1, 1)
    assert a.first_customer_msg_at == AT + timedelta(hours=1)
    assert a.new_to_bank and not by[("e2", "wm-a")].new_to_bank
    assert by[("e2", "wm-a")].removals == (Removal(AT + timedelta(hours=3), "customer"),)
    assert by[("e1", "wm-s")].staff_account_of == "e2"  # HR's record, by unionid
    # the contact's profile is the contact's; add_way and state are each follower's own
    assert by[("e2", "wm-a")].profile_found is True and by[("e2", "wm-a")].add_way is None
    trace = inputs.chats["e1"]["wm-a"]
    assert [from_contact for _, from_contact in trace.messages] == [True, False, True]
    # shared across teams, both ways round; three shared contacts make a partner, one does not
    assert inputs.overlaps["e1"].shared == {"wm-a": 1}
    assert inputs.overlaps["e1"].partners == {}


def test_the_replay_is_for_tuning_seeds_only() -> None:
    with pytest.raises(SystemExit):
        main(["--seeds", "101"])

"""The simulator's rule computation of valid adds (docs/product.md, Quota) on hand-built cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.calendar import parse_period
from tests.factories import add, at, employee, profiles_for, staff_account
from tools.simulator import AddStatus, ExpectedQuota, contact_statuses, expected_quota

OCTOBER = parse_period("2026-10")
AS_OF = at("2026-10-31", 23)


def delete(
    employee_id: str,
    ext: str,
    when: datetime,
    *,
    by_customer: bool = False,
    source: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "contact_event",
        "ToUserName": "ww-test-corp",
        "ChangeType": "del_follow_user" if by_customer else "del_external_contact",
        "UserID": employee_id,
        "ExternalUserID": ext,
        "CreateTime": int(when.timestamp()),
    }
    if source:
        event["Source"] = source
    return event


def profile(ext: str, contact_type: int, corp_name: str | None) -> dict[str, Any]:
    return {
        "type": "contact_profile",
        "external_userid": ext,
        "contact_type": contact_type,
        "corp_name": corp_name,
    }


def profiled(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with a plain WeChat user's profile for every added contact that has none:
    an add is valid only once its contact's profile is known."""
    known = {r["external_userid"] for r in records if r["type"] == "contact_profile"}
    events = [r for r in records if r["type"] == "contact_event"]
    return records + [p for p in profiles_for(events) if p["external_userid"] not in known]


def status(records: list[dict[str, Any]], as_of: datetime = AS_OF) -> dict[str, AddStatus]:
    return {ext: s for (_, ext), s in contact_statuses(profiled(records), as_of, OCTOBER).items()}


def test_an_add_that_survived_seven_days_is_valid_and_a_recent_one_pending() -> None:
    records = [add("e1", "wm_old", at("2026-10-12")), add("e1", "wm_new", at("2026-10-28"))]
    assert status(records) == {"wm_old": "valid", "wm_new": "pending"}
    assert status(records, as_of=at("2026-11-05", 11)) == {"wm_old": "valid", "wm_new": "valid"}


def test_peers_are_invalid_but_companies_and_wechat_users_are_not() -> None:
    records = [
        add("e1", "wm_bank", at("2026-10-12")),
        profile("wm_bank", 2, "宁波农商银行"),
        add("e1", "wm_insurer", at("2026-10-12", 11)),
        profile("wm_insurer", 2, "恒信人寿保险"),
        add("e1", "wm_factory", at("2026-10-12", 12)),
        profile("wm_factory", 2, "杭州恒信科技有限公司"),
        add("e1", "wm_wechat", at("2026-10-12", 13)),
        profile("wm_wechat", 1, "某某银行"),  # a WeChat user is never a peer by corp_name
        employee("colleague01"),
        add("e1", "colleague01", at("2026-10-12", 14)),  # a known employee's own account
    ]
    assert status(records) == {
        "wm_bank": "invalid",
        "wm_insurer": "invalid",
        "wm_factory": "valid",
        "wm_wechat": "valid",
        "colleague01": "invalid",
    }


def test_a_delete_by_either_side_inside_the_window_voids_the_add_later_ones_do_not() -> None:
    day = at("2026-10-08")
    records = [
        add("e1", "wm_a", day),
        delete("e1", "wm_a", day + timedelta(days=2), by_customer=True),
        add("e1", "wm_b", day),
        delete("e1", "wm_b", day + timedelta(hours=3)),
        add("e1", "wm_c", day),
        delete("e1", "wm_c", day + timedelta(days=8)),
        add("e1", "wm_d", day),
        delete("e1", "wm_d", day + timedelta(days=7)),  # window is [0, 7d)
    ]
    assert status(records) == {
        "wm_a": "invalid",
        "wm_b": "invalid",
        "wm_c": "valid",
        "wm_d": "valid",
    }


def test_a_handover_is_not_churn_and_the_heir_gets_a_first_add() -> None:
    day = at("2026-10-20")
    moved = day + timedelta(days=2)
    records = [
        add("giver", "wm_x", day),
        delete("giver", "wm_x", moved, source="DELETE_BY_TRANSFER"),
        add("heir", "wm_x", moved + timedelta(seconds=1)),
    ]
    statuses = contact_statuses(profiled(records), at("2026-11-30"), OCTOBER)
    # the heir inherited the customer: not a new valid add of theirs
    assert statuses == {("giver", "wm_x"): "valid", ("heir", "wm_x"): "invalid"}


def test_re_adds_are_gross_adds_only_and_keep_the_first_adds_fate() -> None:
    day = at("2026-10-09")
    records = [
        add("e1", "wm_r", day),
        delete("e1", "wm_r", day + timedelta(hours=5)),
        add("e1", "wm_r", day + timedelta(days=2)),
        add("e1", "wm_sept", at("2026-09-15")),
        delete("e1", "wm_sept", at("2026-09-16"), by_customer=True),
        add("e1", "wm_sept", at("2026-10-12")),  # first added in September: not October's
    ]
    quota = expected_quota(profiled(records), AS_OF, OCTOBER)
    assert quota["e1"] == ExpectedQuota(gross_adds=3, first_adds=1, invalid_adds=1)


def test_only_facts_known_at_as_of_count() -> None:
    day = at("2026-10-26")
    records = [
        add("e1", "wm_p", day),
        delete("e1", "wm_p", day + timedelta(days=3)),
        add("e1", "wm_future", at("2026-10-30")),
    ]
    assert status(records, as_of=day + timedelta(days=1)) == {"wm_p": "pending"}
    assert status(records, as_of=day + timedelta(days=4)) == {
        "wm_p": "invalid",
        "wm_future": "pending",
    }


def test_employees_without_adds_are_listed_with_zeros_and_period_is_local_time() -> None:
    # 23:30 on 30 September in UTC is 07:30 on 1 October in Shanghai: an October add.
    early = datetime(2026, 9, 30, 23, 30, tzinfo=UTC)
    records = [employee("idle01"), add("e1", "wm_early", early)]
    quota = expected_quota(profiled(records), AS_OF, OCTOBER)
    assert quota["idle01"] == ExpectedQuota()
    assert quota["e1"] == ExpectedQuota(gross_adds=1, first_adds=1, valid_adds=1)


def test_an_add_without_a_profile_waits_then_is_unverified() -> None:
    day = at("2026-10-20")
    records = [add("e1", "wm_unknown", day)]
    by_contact = contact_statuses(records, day + timedelta(hours=71), OCTOBER)
    assert by_contact == {("e1", "wm_unknown"): "pending"}
    assert contact_statuses(records, AS_OF, OCTOBER) == {("e1", "wm_unknown"): "invalid"}


def test_assigned_customers_and_staff_accounts_are_not_valid_adds() -> None:
    day = at("2026-10-12")
    records = [
        add("e1", "wm_assigned", day),
        {**profiles_for([add("e1", "wm_assigned", day)])[0], "employee_id": "e1", "add_way": 202},
        add("e1", "wm_shared", day),
        {**profiles_for([add("e1", "wm_shared", day)])[0], "employee_id": "e1", "add_way": 201},
        add("e1", "wm_staff", day),
        {**profiles_for([add("e1", "wm_staff", day)])[0], "unionid": "u-staff"},
        staff_account("e2", unionid="u-staff"),
        add("e1", "wm_staff2", day),
        staff_account("e3", external_userid="wm_staff2"),
    ]
    assert status(records) == {
        "wm_assigned": "invalid",
        "wm_shared": "valid",
        "wm_staff": "invalid",
        "wm_staff2": "invalid",
    }

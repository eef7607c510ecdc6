"""The quota rules of docs/product.md, case by case, on the pure classification."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.scorer.domain.quality import ChatStats, quality
from services.scorer.domain.rules import QualityWeights, ScoringRules
from services.scorer.domain.tally import standing_of
from services.scorer.domain.validity import (
    ContactFacts,
    ContactStatus,
    ContactVerdict,
    Removal,
    apply_state_cap,
    classify,
)

ADDED = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
LATER = ADDED + timedelta(days=20)
RULES = ScoringRules()


def facts(**kw: object) -> ContactFacts:
    base: dict[str, object] = {
        "employee_id": "e1",
        "external_userid": "wm1",
        "first_added_at": ADDED,
        "profile_found": True,
    }
    return ContactFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_a_first_add_kept_past_the_window_is_valid() -> None:
    assert classify(facts(), RULES, LATER).status is ContactStatus.VALID


def test_inside_the_window_it_is_pending() -> None:
    verdict = classify(facts(), RULES, ADDED + timedelta(days=6, hours=23))
    assert verdict.status is ContactStatus.PENDING


def test_peer_institution_by_corp_name() -> None:
    for corp in ("招商银行", "某某农商银行", "平安保险", "华泰证券", "XX农村信用社"):
        verdict = classify(facts(contact_type=2, corp_name=corp), RULES, LATER)
        assert verdict.status is ContactStatus.INVALID, corp
        assert "PEER_INSTITUTION" in verdict.flags
    # a WeChat user (type 1) is never a peer by name; a WeCom user of a shop is not a peer
    assert (
        classify(facts(contact_type=1, corp_name="招商银行"), RULES, LATER).status
        is ContactStatus.VALID
    )
    assert (
        classify(facts(contact_type=2, corp_name="美宜佳便利店"), RULES, LATER).status
        is ContactStatus.VALID
    )


def test_configured_own_corp_and_patterns() -> None:
    rules = ScoringRules(peer_corp_patterns=("券商",), own_corp_names=("本行科技公司",))
    assert (
        classify(facts(contact_type=2, corp_name="本行科技公司"), rules, LATER).status
        is ContactStatus.INVALID
    )
    assert (
        classify(facts(contact_type=2, corp_name="招商银行"), rules, LATER).status
        is ContactStatus.VALID
    )


def test_an_employees_own_account_is_a_peer() -> None:
    assert classify(facts(is_employee_account=True), RULES, LATER).status is ContactStatus.INVALID


def test_delete_inside_the_window_by_either_side_invalidates() -> None:
    for by in ("employee", "customer"):
        removal = Removal(ADDED + timedelta(days=3), by)
        verdict = classify(facts(removals=(removal,)), RULES, LATER)
        assert verdict.status is ContactStatus.INVALID
        assert verdict.removed_in_window == removal
        assert "QUICK_DELETE" in verdict.flags


def test_delete_after_the_window_keeps_it_valid() -> None:
    removal = Removal(ADDED + timedelta(days=7, minutes=1), "customer")
    assert classify(facts(removals=(removal,)), RULES, LATER).status is ContactStatus.VALID


def test_a_handover_delete_is_not_churn() -> None:
    removal = Removal(ADDED + timedelta(days=1), "employee", "DELETE_BY_TRANSFER")
    assert classify(facts(removals=(removal,)), RULES, LATER).status is ContactStatus.VALID


def test_a_delete_known_before_the_window_ends_decides_at_once() -> None:
    removal = Removal(ADDED + timedelta(hours=2), "employee")
    verdict = classify(facts(removals=(removal,)), RULES, ADDED + timedelta(hours=3))
    assert verdict.status is ContactStatus.INVALID


def test_optional_bank_rules_are_off_by_default_and_work_when_on() -> None:
    unmatched = facts(is_customer=False, assigned_employee_id="e9")
    assert classify(unmatched, RULES, LATER).status is ContactStatus.VALID
    strict = ScoringRules(require_customer_match=True, require_assignment=True)
    assert classify(unmatched, strict, LATER).status is ContactStatus.INVALID
    ok = facts(is_customer=True, assigned_employee_id="e1")
    assert classify(ok, strict, LATER).status is ContactStatus.VALID


def test_state_cap_per_day() -> None:
    verdicts = [
        classify(
            facts(
                external_userid=f"wm{i}", state="qr1", first_added_at=ADDED + timedelta(minutes=i)
            ),
            RULES,
            LATER,
        )
        for i in range(5)
    ]
    capped = apply_state_cap(verdicts, 3, lambda t: t.date())
    assert [v.status for v in capped].count(ContactStatus.VALID) == 3
    assert apply_state_cap(verdicts, None, lambda t: t.date()) == verdicts


def test_engagement_and_retention_count_open_windows_as_pending() -> None:
    def parts(verdicts: list[ContactVerdict], now: datetime) -> dict[str, object]:
        return quality(verdicts, ChatStats(), RULES, now)[1]

    wrote = classify(facts(first_customer_msg_at=ADDED + timedelta(days=1)), RULES, LATER)
    silent = classify(facts(external_userid="wm2"), RULES, LATER)
    assert parts([wrote, silent], LATER)["engagement"] == 0.5
    assert parts([wrote, silent], LATER)["engagement_pending"] == 0
    early = ADDED + timedelta(days=2)
    waiting = parts([classify(facts(), RULES, early)], early)
    assert (waiting["engagement"], waiting["engagement_pending"]) == (None, 1)
    churned = classify(
        facts(removals=(Removal(ADDED + timedelta(days=10), "customer"),)), RULES, LATER
    )
    assert (parts([churned], LATER)["retention"], parts([churned], LATER)["retention_pending"]) == (
        0.0,
        0,
    )
    kept = parts([classify(facts(), RULES, LATER)], LATER)
    assert (kept["retention"], kept["retention_pending"]) == (None, 1)


def test_quality_score_weighs_the_components_that_exist() -> None:
    verdicts = [
        classify(
            facts(
                external_userid=f"wm{i}",
                is_customer=i < 3,
                first_customer_msg_at=ADDED + timedelta(hours=1) if i < 2 else None,
            ),
            RULES,
            ADDED + timedelta(days=40),
        )
        for i in range(4)
    ]
    chats = ChatStats(
        customer_chats=4,
        answered_same_day=3,
        median_first_reply_seconds=600,
        one_to_one_sent=9,
        mass_sent=1,
    )
    score, parts = quality(verdicts, chats, RULES, ADDED + timedelta(days=40))
    assert parts["customer_match"] == 0.75
    assert parts["engagement"] == 0.5
    assert parts["retention"] == 1.0
    assert parts["responsiveness"] == 0.75
    assert parts["personal_touch"] == 0.9
    expected = 100 * (0.75 * 0.25 + 0.5 * 0.25 + 1.0 * 0.2 + 0.75 * 0.2 + 0.9 * 0.1)
    assert score == pytest.approx(expected, abs=0.06)
    assert quality([], ChatStats(), RULES, LATER)[0] is None
    assert RULES.quality_weights == QualityWeights()


# An add is not valid until it is known to be (issue 17).
WAITED = ADDED + timedelta(hours=72)


def test_while_the_profile_is_unknown_the_add_is_pending_never_valid() -> None:
    for now in (ADDED + timedelta(hours=1), WAITED - timedelta(seconds=1)):
        verdict = classify(facts(profile_found=None), RULES, now)
        assert (verdict.status, verdict.reasons) == (ContactStatus.PENDING, ("profile_unknown",))
    # past the retention window too: still waiting for the profile, not valid
    short = ScoringRules(retention_days=0)
    verdict = classify(facts(profile_found=None), short, ADDED + timedelta(hours=1))
    assert verdict.status is ContactStatus.PENDING


def test_a_profile_never_answered_makes_the_add_unverified() -> None:
    verdict = classify(facts(profile_found=None), RULES, WAITED)
    assert (verdict.status, verdict.reasons) == (ContactStatus.INVALID, ("unverified",))
    assert verdict.flags == ["UNVERIFIED"]
    shorter = ScoringRules(profile_wait_hours=1)
    assert (
        classify(facts(profile_found=None), shorter, ADDED + timedelta(hours=1)).status
        is ContactStatus.INVALID
    )


def test_the_bank_can_count_unverified_adds_as_valid() -> None:
    lenient = ScoringRules(count_unverified_as_valid=True)
    verdict = classify(facts(profile_found=None), lenient, LATER)
    assert (verdict.status, verdict.reasons) == (ContactStatus.VALID, ("unverified",))
    # the other rules still hold: inside the retention window it is pending, a delete refuses
    inside = classify(facts(profile_found=None), lenient, WAITED)
    assert inside.status is ContactStatus.PENDING
    removed = facts(profile_found=None, removals=(Removal(ADDED + timedelta(days=1), "customer"),))
    assert classify(removed, lenient, LATER).status is ContactStatus.INVALID


def test_a_known_reason_to_refuse_does_not_wait_for_the_profile() -> None:
    removed = facts(profile_found=None, removals=(Removal(ADDED + timedelta(hours=1), "customer"),))
    verdict = classify(removed, RULES, ADDED + timedelta(hours=2))
    assert (verdict.status, verdict.reasons) == (ContactStatus.INVALID, ("QUICK_DELETE",))


def test_no_such_contact_ends_the_wait_and_is_flagged() -> None:
    verdict = classify(facts(profile_found=False), RULES, LATER)
    assert (verdict.status, verdict.flags) == (ContactStatus.VALID, ["PROFILE_NOT_FOUND"])
    early = classify(facts(profile_found=False), RULES, ADDED + timedelta(hours=1))
    assert (early.status, early.reasons) == (
        ContactStatus.PENDING,
        ("retention_window_open", "profile_not_found"),
    )


def test_a_peer_known_only_from_a_late_profile_is_refused_once_known() -> None:
    before = classify(facts(profile_found=None), RULES, ADDED + timedelta(hours=5))
    after = classify(
        facts(contact_type=2, corp_name="某某农商银行"), RULES, ADDED + timedelta(hours=5)
    )
    assert before.status is ContactStatus.PENDING
    assert (after.status, after.flags) == (ContactStatus.INVALID, ["PEER_INSTITUTION"])


def test_inherited_customers_are_counted_apart() -> None:
    for inherited in (facts(add_way=202), facts(handed_over=True)):
        verdict = classify(inherited, RULES, LATER)
        assert (verdict.status, verdict.reasons) == (ContactStatus.INVALID, ("inherited",))
    assert classify(facts(add_way=201), RULES, LATER).status is ContactStatus.VALID
    assert classify(facts(add_way=1), RULES, LATER).status is ContactStatus.VALID


def test_switches_count_inherited_as_valid_and_shared_as_inherited() -> None:
    counted = ScoringRules(count_inherited_as_valid=True)
    verdict = classify(facts(add_way=202), counted, LATER)
    assert (verdict.status, verdict.reasons) == (ContactStatus.VALID, ("inherited",))
    shared = ScoringRules(inherit_shared_by_colleague=True)
    assert classify(facts(add_way=201), shared, LATER).reasons == ("inherited",)
    assert classify(facts(add_way=201), shared, LATER).status is ContactStatus.INVALID


def test_a_staff_account_is_never_valid_for_anyone() -> None:
    for employee in ("e1", "e2"):
        verdict = classify(facts(employee_id=employee, staff_account_of="e1"), RULES, LATER)
        assert (verdict.status, verdict.reasons) == (ContactStatus.INVALID, ("staff_account",))
        assert verdict.flags == ["STAFF_ACCOUNT"]
    # known by its external_userid, it needs no profile
    early = classify(facts(profile_found=None, staff_account_of="e1"), RULES, ADDED)
    assert early.status is ContactStatus.INVALID


def test_scores_count_waiting_unverified_and_inherited_adds() -> None:
    now = ADDED + timedelta(hours=80)
    verdicts = [
        classify(facts(external_userid="a", profile_found=None), RULES, now),
        classify(facts(external_userid="b", profile_found=None, first_added_at=now), RULES, now),
        classify(facts(external_userid="c", add_way=202), RULES, now),
        classify(facts(external_userid="d"), RULES, now),
    ]
    counted = sum((standing_of(v, RULES, now).counts() for v in verdicts), Counter())
    apart = ("profile_unknown_adds", "unverified_adds", "inherited_adds")
    assert {k: counted[k] for k in apart} == dict.fromkeys(apart, 1)


def test_a_reviewers_verdict_overrides_the_suspicions_not_the_rules() -> None:
    gamed = classify(facts(review="gamed", is_customer=True), RULES, LATER)
    assert gamed.status is ContactStatus.INVALID and "REVIEWED_GAMED" in gamed.flags
    peer = facts(corp_name="某某农村商业银行", contact_type=2)
    assert classify(peer, RULES, LATER).status is ContactStatus.INVALID
    genuine = classify(
        facts(corp_name="某某农村商业银行", contact_type=2, review="genuine"), RULES, LATER
    )
    assert genuine.status is ContactStatus.VALID and "REVIEWED_GENUINE" in genuine.flags
    waiting = classify(facts(profile_found=None, review="genuine"), RULES, LATER)
    assert waiting.status is ContactStatus.VALID  # no wait for a profile a reviewer vouched for
    # whose add it is and its removal stay the rules' own
    inherited = classify(facts(add_way=202, review="genuine"), RULES, LATER)
    assert inherited.status is ContactStatus.INVALID and "inherited" in inherited.reasons
    removed = facts(review="genuine", removals=(Removal(ADDED + timedelta(days=1), "customer"),))
    assert classify(removed, RULES, LATER).status is ContactStatus.INVALID

"""The quota rules of PRODUCT.md, case by case, on the pure classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scorer.domain.quality import ChatStats, engagement, quality, retention
from services.scorer.domain.rules import QualityWeights, ScoringRules
from services.scorer.domain.validity import (
    ContactFacts,
    ContactStatus,
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
    wrote = classify(facts(first_customer_msg_at=ADDED + timedelta(days=1)), RULES, LATER)
    silent = classify(facts(external_userid="wm2"), RULES, LATER)
    assert engagement([wrote, silent], 7, LATER) == (0.5, 0)
    early = ADDED + timedelta(days=2)
    assert engagement([classify(facts(), RULES, early)], 7, early) == (None, 1)
    churned = classify(
        facts(removals=(Removal(ADDED + timedelta(days=10), "customer"),)), RULES, LATER
    )
    assert retention([churned], 30, LATER) == (0.0, 0)
    assert retention([classify(facts(), RULES, LATER)], 30, LATER) == (None, 1)


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
    score, parts = quality(verdicts, chats, QualityWeights(), 7, 30, ADDED + timedelta(days=40))
    assert parts["customer_match"] == 0.75
    assert parts["engagement"] == 0.5
    assert parts["retention"] == 1.0
    assert parts["responsiveness"] == 0.75
    assert parts["personal_touch"] == 0.9
    expected = 100 * (0.75 * 0.25 + 0.5 * 0.25 + 1.0 * 0.2 + 0.75 * 0.2 + 0.9 * 0.1)
    assert score == pytest.approx(expected, abs=0.06)
    assert quality([], ChatStats(), QualityWeights(), 7, 30, LATER)[0] is None

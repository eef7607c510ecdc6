"""A contact's accusations kept apart from facts (domain/contact_flags.py): pure, no I/O."""

from __future__ import annotations

from datetime import timedelta

from services.scorer.domain.contact_flags import split
from services.scorer.domain.validity import ContactFacts, Removal, classify
from tests.unit.test_validity import ADDED, LATER, RULES, facts


def removed(by: str, **kw: object) -> ContactFacts:
    return facts(removals=(Removal(ADDED + timedelta(hours=3), by),), **kw)


def test_silence_accuses_only_when_the_employee_is_flagged_for_it() -> None:
    silent = classify(facts(), RULES, LATER)
    assert split(silent, ["NO_ENGAGEMENT"], employee_flagged=False) == ([], ["NO_MESSAGE_YET"])
    assert split(silent, ["NO_ENGAGEMENT"], employee_flagged=True) == (["NO_ENGAGEMENT"], [])


def test_a_customers_delete_is_a_fact_an_employees_an_accusation() -> None:
    by_customer = classify(removed("customer", is_customer=True), RULES, LATER)
    assert split(by_customer, ["QUICK_DELETE"], True) == ([], ["CUSTOMER_DELETED"])
    talked = classify(removed("customer", customer_msgs=3), RULES, LATER)
    assert split(talked, ["QUICK_DELETE"], True) == ([], ["CUSTOMER_DELETED"])
    by_employee = classify(removed("employee"), RULES, LATER)
    assert split(by_employee, ["QUICK_DELETE"], True) == (["QUICK_DELETE"], [])


def test_a_hollow_adds_own_quick_removal_is_the_pattern_when_it_is_shown() -> None:
    """A contact with nothing real behind the add (no match, no conversation) who removed the
    employee within the window is accused with the quick-delete pattern it is part of; that
    the contact removed it stays a fact. Below the threshold it is a fact only."""
    hollow = classify(removed("customer", is_customer=False, customer_msgs=1), RULES, LATER)
    assert split(hollow, ["QUICK_DELETE"], True) == (["QUICK_DELETE"], ["CUSTOMER_DELETED"])
    assert split(hollow, ["QUICK_DELETE"], False) == ([], ["CUSTOMER_DELETED"])


def test_a_pattern_accuses_only_when_its_employee_is_flagged() -> None:
    """Below the threshold a pattern is not shown to be gaming, nor any add in it: the removal
    stays in the contact's reasons and `removed_by`, the pattern in the employee's reasons."""
    by_employee = classify(removed("employee"), RULES, LATER)
    assert split(by_employee, ["QUICK_DELETE"], False) == ([], [])
    assert "QUICK_DELETE" in by_employee.reasons
    plain = classify(facts(), RULES, LATER)
    patterns = ["PERIOD_END_PILEUP", "QR_BATCH_BURST", "SCRIPTED_CHAT"]
    assert split(plain, patterns, False) == ([], [])
    assert split(plain, patterns, True) == (sorted(patterns), [])


def test_profile_facts_and_a_reviewers_vouching_accuse_nobody() -> None:
    not_found = classify(facts(profile_found=False), RULES, LATER)
    assert split(not_found, [], False) == ([], ["PROFILE_NOT_FOUND"])
    vouched = classify(facts(review="genuine"), RULES, LATER)
    assert split(vouched, [], False) == ([], ["REVIEWED_GENUINE"])
    peer = classify(facts(is_employee_account=True), RULES, LATER)
    # what the contact is accuses it whatever the employee's score; the sharing pattern not
    assert split(peer, ["SHARED_CONTACTS"], False) == (["PEER_INSTITUTION"], [])
    assert split(peer, ["SHARED_CONTACTS"], True) == (["PEER_INSTITUTION", "SHARED_CONTACTS"], [])
    staff = classify(facts(staff_account_of="e9"), RULES, LATER)
    assert split(staff, [], False) == (["STAFF_ACCOUNT"], [])


def test_what_the_contact_is_accuses_it_alone_only_when_it_is_that() -> None:
    """A staff account is accused whatever the employee's score; a hollow add the staff-account
    signal accuses for being made on the padding's days is a pattern: only when flagged."""
    staff = classify(facts(staff_account_of="e9"), RULES, LATER)
    assert split(staff, ["STAFF_ACCOUNT"], False)[0] == ["STAFF_ACCOUNT"]
    beside = classify(facts(), RULES, LATER)
    for code in ("STAFF_ACCOUNT", "PEER_INSTITUTION"):
        assert split(beside, [code], False) == ([], [])
        assert split(beside, [code], True) == ([code], [])

"""Message schemas: versions, ids, event time, and the bank records' validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.schemas import (
    AlertName,
    BreachEvent,
    ChangeType,
    ContactEvent,
    ContactProfileRecord,
    EmployeeRecord,
    MessageRecord,
    TargetRecord,
    contact_event_id,
    parse_record,
    parse_topic_record,
)
from tests import factories as f


def test_contact_event_accepts_the_callback_field_names_and_derives_the_retry_id() -> None:
    event = parse_record(f.add("zhangsan", "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA", f.at("2026-10-15")))
    assert isinstance(event, ContactEvent)
    assert event.change_type is ChangeType.ADD
    assert event.employee_id == "zhangsan"
    assert event.occurred_at == datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    assert event.event_id == contact_event_id(
        "ww-test-corp",
        "add_external_contact",
        "zhangsan",
        "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
        int(f.at("2026-10-15").timestamp()),
    )
    assert event.origin == "bank"


def test_contact_event_snake_case_and_rfc3339() -> None:
    event = ContactEvent.model_validate(
        {
            "change_type": "del_external_contact",
            "employee_id": "e1",
            "external_userid": "wo1",
            "occurred_at": "2026-10-15T09:00:00+08:00",
            "source": "DELETE_BY_TRANSFER",
        }
    )
    assert event.occurred_at == datetime(2026, 10, 15, 1, 0, tzinfo=UTC)
    assert event.source == "DELETE_BY_TRANSFER"
    assert not event.is_add


def test_same_fact_same_id_different_fact_different_id() -> None:
    a = parse_record(f.add("e1", "wo1", f.at("2026-10-15")))
    b = parse_record(f.add("e1", "wo1", f.at("2026-10-15")))
    c = parse_record(f.add("e1", "wo1", f.at("2026-10-16")))
    assert a.event_id == b.event_id != c.event_id
    # ambiguity by concatenation cannot collide
    assert contact_event_id("c", "t", "ab", "c", 1) != contact_event_id("c", "t", "a", "bc", 1)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ContactEvent.model_validate(
            {
                "change_type": "add_external_contact",
                "employee_id": "e1",
                "external_userid": "wo1",
                "occurred_at": "2026-10-15T09:00:00",
            }
        )


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="unsupported schema_version 2"):
        parse_record({**f.employee("e1"), "schema_version": 2})


def test_bank_record_ids_are_content_derived_and_stable() -> None:
    first = parse_record(f.employee("e1"))
    again = parse_record(f.employee("e1"))
    moved = parse_record(f.employee("e1", team_id="t9"))
    assert isinstance(first, EmployeeRecord)
    assert first.event_id == again.event_id != moved.event_id
    given = parse_record({**f.employee("e1"), "event_id": "hr-123"})
    assert given.event_id == "hr-123"


@pytest.mark.parametrize("period", ["2026-10-15", "2026-W42", "2026-10", "2026-Q4"])
def test_target_periods(period: str) -> None:
    record = parse_record(f.target("team", "t1", period, 10))
    assert isinstance(record, TargetRecord)
    assert record.period == period


@pytest.mark.parametrize("bad", ["2026-Q5", "Oct 2026", "2026/10", ""])
def test_target_period_keys_are_checked(bad: str) -> None:
    with pytest.raises(ValidationError, match="period must be"):
        parse_record(f.target("team", "t1", bad, 10))


def test_negative_target_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_record(f.target("team", "t1", "2026-10", -1))


def test_message_records_never_carry_content() -> None:
    base = {
        "type": "message",
        "message_id": "m1",
        "employee_id": "e1",
        "external_userid": "wo1",
        "direction": "from_customer",
        "kind": "one_to_one",
        "sent_at": "2026-10-15T09:00:00+08:00",
    }
    record = parse_record(base)
    assert isinstance(record, MessageRecord)
    assert record.occurred_at == record.sent_at
    for field in ("text", "content", "Content"):
        with pytest.raises(ValueError, match="metadata only"):
            parse_record({**base, field: "hello"})


def test_unknown_type_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown type 'bogus'; expected one of employee"):
        parse_record({"type": "bogus"})


def test_breach_ids_are_deterministic() -> None:
    one = BreachEvent.make_id(AlertName.TARGET_MISSED, "e1", "2026-10", "firing")
    assert one == BreachEvent.make_id(AlertName.TARGET_MISSED, "e1", "2026-10", "firing")
    assert one != BreachEvent.make_id(AlertName.TARGET_MISSED, "e1", "2026-10", "resolved")
    event = BreachEvent(
        event_id=one,
        occurred_at=datetime.now(UTC),
        alertname=AlertName.TARGET_MISSED,
        employee_id="e1",
        period="2026-10",
    )
    assert BreachEvent.model_validate_json(event.to_json()) == event


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\u202e", "\u2066", "\u200f", "\x9b"])
def test_hostile_characters_are_refused_in_ids_and_names(bad: str) -> None:
    employee = {
        "type": "employee",
        "employee_id": f"e{bad}1",
        "name": "n",
        "branch_id": "b",
        "team_id": "t",
        "role": "customer_manager",
    }
    with pytest.raises(ValueError, match="employee_id"):
        parse_record(employee)
    with pytest.raises(ValueError, match="name"):
        parse_record({**employee, "employee_id": "e1", "name": f"Li{bad}Si"})
    with pytest.raises(ValueError, match="external_userid"):
        parse_record(
            {
                "type": "contact_event",
                "change_type": "add_external_contact",
                "employee_id": "e1",
                "external_userid": f"wm{bad}",
                "occurred_at": "2026-10-01T00:00:00Z",
            }
        )


def test_hostile_characters_in_wecom_free_text_are_dropped_not_refused() -> None:
    """A company name or a channel state from WeCom is kept (a direction mark in an Arabic
    company name is no reason to lose a profile), without the characters."""
    profile = parse_record(
        {
            "type": "contact_profile",
            "external_userid": "wm1",
            "contact_type": 2,
            "corp_name": "\u200f某某银行\u202e",
            "state": "qr\x00-7",
        }
    )
    assert isinstance(profile, ContactProfileRecord)
    assert (profile.corp_name, profile.state) == ("某某银行", "qr-7")


def test_only_the_ingestor_names_who_sent_a_target() -> None:
    sent = {
        "type": "target",
        "scope": "team",
        "scope_id": "t1",
        "period": "2026-10",
        "value": 10,
        "submitted_by": {"name": "someone-else", "role": "admin"},
    }
    with pytest.raises(ValueError, match="submitted_by is set by the ingestor"):
        parse_record(sent)
    stamped = parse_topic_record({**sent, "event_id": "t-1"})  # from our own topic
    assert isinstance(stamped, TargetRecord)
    assert stamped.submitted_by is not None and stamped.submitted_by.name == "someone-else"

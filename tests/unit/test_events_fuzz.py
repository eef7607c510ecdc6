"""Property-based and fuzz tests of every `/v1/events` record type (docs/contract.md): whatever a
bank system sends, the intake answers with records or with readable per-record errors — it
never raises, never loses the index of a bad record, never accepts chat text.
(Callback decryption and XML parsing are fuzzed in test_wecom_crypto.py / test_wecom_events.py.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingestor.intake import BodyError, decode_body, validate
from shared.schemas import MessageRecord, parse_record
from tests import factories as f

VALID: dict[str, dict[str, Any]] = {
    "employee": f.employee("m01", email="m01@bank.example", robot_webhook=None),
    "target": f.target("team", "t1", "2026-10", 40),
    "customer_link": {
        "type": "customer_link",
        "external_userid": "wmC1",
        "is_customer": True,
        "customer_tier": "gold",
        "assigned_employee_id": "m01",
        "verified_at": "2026-10-01T09:00:00+08:00",
    },
    "message": {
        "type": "message",
        "message_id": "msg1",
        "employee_id": "m01",
        "external_userid": "wmC1",
        "direction": "from_customer",
        "kind": "one_to_one",
        "sent_at": "2026-10-15T09:00:00+08:00",
    },
    "contact_profile": {
        "type": "contact_profile",
        "external_userid": "wmC1",
        "contact_type": 1,
        "corp_name": None,
        "unionid": "u1",
        "employee_id": "m01",
        "add_way": 1,
        "state": "branch-7",
        "oper_userid": "m01",
        "createtime": 1_760_000_000,
    },
    "contact_event": f.add("m01", "wmC1", f.at("2026-10-15")),
}

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # orjson reads larger ones as floats
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_every_contract_type_has_a_valid_example() -> None:
    for kind, record in VALID.items():
        assert validate([record]).errors == [], kind


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_records_round_trip_with_a_stable_id(kind: str) -> None:
    """The event_id (the idempotency key) is derived from the content: a resent record, or
    the record as published and read back, keeps it."""
    first = parse_record(VALID[kind])
    again = parse_record(orjson.loads(first.to_json()))
    assert again.event_id == first.event_id == parse_record(VALID[kind]).event_id
    assert type(again) is type(first)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid record of some type with one field dropped, replaced by random JSON, or a
    random field added."""
    kind = draw(st.sampled_from(sorted(VALID)))
    record = dict(VALID[kind])
    field = draw(st.sampled_from(sorted(record)))
    how = draw(st.sampled_from(["drop", "replace", "add"]))
    if how == "drop":
        record.pop(field)
    elif how == "replace":
        record[field] = draw(JSON)
    else:
        record[draw(st.text(min_size=1, max_size=12))] = draw(JSON)
    return kind, record


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_mutated_records_give_records_or_indexed_readable_errors(
    batch: list[tuple[str, dict[str, Any]]],
) -> None:
    items = [record for _, record in batch]
    intake = validate(items)
    assert len(intake.records) + len(intake.errors) == len(items)
    for err in intake.errors:
        assert 0 <= err["index"] < len(items)
        assert isinstance(err["error"], str) and err["error"].strip()
    for record in intake.records:
        if isinstance(record, MessageRecord):
            assert b"text" not in record.to_json() and b"content" not in record.to_json()


@settings(max_examples=150)
@given(JSON)
def test_any_json_value_as_a_record_is_judged_never_raises(value: Any) -> None:
    intake = validate([value])
    assert len(intake.records) + len(intake.errors) == 1


@pytest.mark.parametrize("field", ["text", "content", "Content", "body"])
@given(st.text(min_size=1, max_size=50))
def test_a_message_with_any_text_is_refused(field: str, text: str) -> None:
    intake = validate([{**VALID["message"], field: text}])
    assert intake.records == []
    assert intake.errors and intake.errors[0]["index"] == 0


@settings(max_examples=200)
@given(
    st.binary(max_size=2000) | st.text(max_size=500).map(str.encode),
    st.sampled_from(["application/json", "application/x-ndjson", "text/plain", ""]),
)
def test_any_body_is_decoded_or_refused_as_a_body_error(body: bytes, content_type: str) -> None:
    try:
        items = decode_body(body, content_type, max_records=50)
    except BodyError as exc:
        message = str(exc)
        assert message, "a body error says what is wrong"
        return
    intake = validate(items)
    assert len(intake.records) + len(intake.errors) == len(items) <= 50


@settings(max_examples=200)
@given(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=30), st.booleans())
def test_ndjson_and_arrays_of_valid_records_are_accepted_whole(
    kinds: list[str], ndjson: bool
) -> None:
    records = [VALID[k] for k in kinds]
    if ndjson:
        body = b"\n".join(orjson.dumps(r) for r in records)
        items = decode_body(body, "application/x-ndjson", max_records=100)
    else:
        items = decode_body(orjson.dumps(records), "application/json", max_records=100)
    intake = validate(items)
    assert intake.errors == [] and len(intake.records) == len(records)


def test_too_many_records_is_a_body_error() -> None:
    body = orjson.dumps([VALID["employee"]] * 11)
    with pytest.raises(BodyError, match="limit is 10"):
        decode_body(body, "application/json", max_records=10)

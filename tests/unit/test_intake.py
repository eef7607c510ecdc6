"""Decoding `/v1/events` bodies and listing every invalid record."""

from __future__ import annotations

import orjson
import pytest

from services.ingestor.intake import BodyError, decode_body, validate
from tests import factories as f


def test_json_array_ndjson_and_single_object() -> None:
    records = [f.employee("e1"), f.employee("e2")]
    assert decode_body(orjson.dumps(records), "application/json", 10) == records
    ndjson = b"\n".join(orjson.dumps(r) for r in records) + b"\n\n"
    assert decode_body(ndjson, "application/x-ndjson", 10) == records
    assert decode_body(ndjson, "application/json", 10) == records  # sniffed
    assert decode_body(orjson.dumps(records[0]), "application/json", 10) == [records[0]]


def test_malformed_bodies() -> None:
    with pytest.raises(BodyError, match="empty body"):
        decode_body(b"  ", "application/json", 10)
    with pytest.raises(BodyError, match="malformed JSON"):
        decode_body(b"[1, 2", "application/json", 10)
    with pytest.raises(BodyError, match="limit is 1"):
        decode_body(b"[{}, {}]", "application/json", 1)


def test_every_invalid_record_is_listed_with_its_index() -> None:
    body = b'{"type": "employee"}\nnot json\n' + orjson.dumps(f.employee("e1"))
    intake = validate(decode_body(body, "application/x-ndjson", 10))
    assert [e["index"] for e in intake.errors] == [0, 1]
    assert "employee_id: Field required" in intake.errors[0]["error"]
    assert "line 2: malformed JSON" in intake.errors[1]["error"]
    assert len(intake.records) == 1


def test_non_objects_are_refused() -> None:
    intake = validate([1, "x", None])
    assert len(intake.errors) == 3
    assert all("JSON object" in e["error"] for e in intake.errors)


@pytest.mark.parametrize("hostile", ["e\x001", "e\u202e1"])
def test_hostile_characters_are_refused_naming_index_and_field(hostile: str) -> None:
    intake = validate([f.employee("e1"), f.employee(hostile)])
    [err] = intake.errors
    assert err["index"] == 1 and err["type"] == "employee"
    assert err["error"].startswith("employee_id: ")
    assert ("U+0000" if "\x00" in hostile else "U+202E") in err["error"]


def test_staff_accounts_and_source_watermarks_are_accepted_but_not_wecom_sources() -> None:
    staff = {"type": "staff_account", "employee_id": "e1", "unionid": "oU1"}
    mark = {"type": "source_watermark", "source": "hr", "complete_through": "2026-10-31T16:00Z"}
    ours = {**mark, "source": "wecom.reconciliation"}
    intake = validate([staff, mark, ours])
    assert [type(r).__name__ for r in intake.records] == [
        "StaffAccountRecord",
        "SourceWatermarkRecord",
    ]
    [err] = intake.errors
    assert err["index"] == 2 and "wecom." in err["error"]
    staffless = validate([{"type": "staff_account", "employee_id": "e1"}])
    assert "unionid or an external_userid" in staffless.errors[0]["error"]

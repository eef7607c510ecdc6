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

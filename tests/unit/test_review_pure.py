"""The review loop's pure parts (services/scorer/review): target CSVs judged whole with each bad
line named, target records as `/v1/events` would send them, the months a period overlaps, the
timeline's bars, CSV cells a spreadsheet will not run, the console's escaping."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.scorer.review import cases, chart, targets
from services.scorer.review.console import env
from shared.auth import Identity, Role
from shared.calendar import parse_period

ADMIN = Identity("ops-laptop", Role.ADMIN)
NOW = datetime(2026, 11, 3, 2, tzinfo=UTC)


def test_a_good_csv_becomes_target_records_naming_the_caller() -> None:
    text = (
        "\ufeffperiod,scope,scope_id,metric,value\n"
        "2026-10,team,t1,valid_adds,50\n\n2026-Q4,role,cm,,7\n"
    )
    records = targets.parse_csv(text, ADMIN, NOW)
    assert [(r.scope, r.scope_id, r.period, r.metric, r.value) for r in records] == [
        ("team", "t1", "2026-10", "valid_adds", 50),
        ("role", "cm", "2026-Q4", "valid_adds", 7),
    ]
    assert all(r.occurred_at == NOW and r.type == "target" for r in records)
    assert records[0].submitted_by is not None and records[0].submitted_by.name == "ops-laptop"
    assert records[0].entity_key() == "target:team:t1"
    assert records[0].event_id != records[1].event_id


def test_every_bad_line_is_named_and_none_is_taken() -> None:
    text = (
        "period,scope,scope_id,metric,value\n"
        "2026-10,team,t1,valid_adds,50\n"
        "2026-10,desk,t1,valid_adds,5\n"
        "2026-13,team,t1,valid_adds,5\n"
        "2026-10,team,t1,valid_adds,-3\n"
        "2026-10,team,t1\n"
        "2026-10,team,t1,gross_adds,5\n"
    )
    with pytest.raises(targets.TargetError) as caught:
        targets.parse_csv(text, ADMIN, NOW)
    lines = [e["line"] for e in caught.value.errors]
    assert lines == [3, 4, 5, 6, 7]
    by_line = {e["line"]: e["error"] for e in caught.value.errors}
    assert "scope" in by_line[3] and "period" in by_line[4] and "whole number" in by_line[5]
    assert "fields" in by_line[6] and "metric" in by_line[7]


def test_a_header_is_required_and_the_sender_cannot_be_claimed() -> None:
    with pytest.raises(targets.TargetError, match="invalid") as caught:
        targets.parse_csv("2026-10,team,t1,valid_adds,5\n", ADMIN, NOW)
    assert caught.value.errors[0]["line"] == 1
    forged = {"scope": "team", "scope_id": "t1", "period": "2026-10", "value": 1}
    with pytest.raises(targets.TargetError):
        targets.records_from_items(
            [{**forged, "submitted_by": {"name": "x", "role": "admin"}}], ADMIN, NOW
        )
    with pytest.raises(targets.TargetError):
        targets.records_from_items([{**forged, "type": "employee"}], ADMIN, NOW)
    [one] = targets.records_from_items([forged], ADMIN, NOW)
    assert one.value == 1


def test_the_months_a_period_overlaps() -> None:
    assert cases.months_of(parse_period("2026-Q4")) == ["2026-10", "2026-11", "2026-12"]
    assert cases.months_of(parse_period("2026-W44")) == ["2026-10", "2026-11"]  # Oct 26 - Nov 1
    assert cases.months_of(parse_period("2026-10")) == ["2026-10"]


def test_the_timeline_draws_adds_above_and_removals_below() -> None:
    period = parse_period("2026-10")
    drawn = chart.timeline(period, {date(2026, 10, 5): (4, 0), date(2026, 10, 6): (2, 1)})
    assert (drawn.total_adds, drawn.total_removals, drawn.top) == (6, 1, 4)
    assert [b.count for b in drawn.adds] == [4, 2] and [b.count for b in drawn.removals] == [1]
    tallest = drawn.adds[0]
    assert tallest.y + tallest.height == drawn.axis_y and tallest.y >= 0
    assert drawn.removals[0].y == drawn.axis_y
    assert drawn.adds[0].x < drawn.adds[1].x < drawn.width
    empty = chart.timeline(period, {})
    assert empty.adds == [] and empty.top == 1


def test_csv_cells_never_start_a_formula() -> None:
    assert cases._cell("=HYPERLINK(x)") == "'=HYPERLINK(x)"
    assert cases._cell("@SUM") == "'@SUM" and cases._cell(None) == ""
    assert cases._cell("同行客户") == "同行客户" and cases._cell(55.0) == "55.0"


def test_console_pages_escape_what_they_show() -> None:
    page = env.get_template("error.html").render(
        who=None, csrf="", status_code=403, message="<script>alert(1)</script>"
    )
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_a_console_session_from_sso_ends_with_its_jwt() -> None:
    import base64
    import json
    from datetime import UTC, datetime

    from services.scorer.review.console import _jwt_expiry

    def jwt(claims: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"eyJhbGciOiJSUzI1NiJ9.{body}.sig"

    assert _jwt_expiry(jwt({"sub": "lisi", "exp": 1796000000})) == datetime.fromtimestamp(
        1796000000, UTC
    )
    assert _jwt_expiry(jwt({"sub": "lisi"})) is None
    assert _jwt_expiry("wq_not-a-jwt") is None

"""Builders of valid records for tests: one place that knows the record shapes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from shared.schemas import AlertName, BreachEvent


def employee(
    employee_id: str, team_id: str = "t1", branch_id: str = "b1", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "employee",
        "employee_id": employee_id,
        "name": f"Name {employee_id}",
        "branch_id": branch_id,
        "team_id": team_id,
        "supervisor_id": extra.pop("supervisor_id", "lead1"),
        "role": extra.pop("role", "customer_manager"),
        "active": True,
        **extra,
    }


def target(scope: str, scope_id: str, period: str, value: int) -> dict[str, Any]:
    return {
        "type": "target",
        "scope": scope,
        "scope_id": scope_id,
        "period": period,
        "metric": "valid_adds",
        "value": value,
    }


def add(employee_id: str, external_userid: str, at: datetime, state: str = "") -> dict[str, Any]:
    return {
        "type": "contact_event",
        "ToUserName": "ww-test-corp",
        "ChangeType": "add_external_contact",
        "UserID": employee_id,
        "ExternalUserID": external_userid,
        "CreateTime": int(at.timestamp()),
        "State": state,
    }


def profile(
    external_userid: str,
    contact_type: int = 1,
    corp_name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """WeCom's profile of a contact (`employee_id` with `add_way` etc. for one follower's view;
    `found=False` for WeCom's "no such contact"). An add is valid only once this is known."""
    return {
        "type": "contact_profile",
        "external_userid": external_userid,
        "contact_type": contact_type,
        "corp_name": corp_name,
        **extra,
    }


def profiles_for(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A plain WeChat user's profile for every contact these contact events add."""
    contacts = dict.fromkeys(
        e.get("ExternalUserID") or e["external_userid"]
        for e in events
        if (e.get("ChangeType") or e["change_type"]).startswith("add_")
    )
    return [profile(c) for c in contacts]


def staff_account(
    employee_id: str, unionid: str | None = None, external_userid: str | None = None
) -> dict[str, Any]:
    """From HR: an employee's own personal WeChat."""
    record: dict[str, Any] = {"type": "staff_account", "employee_id": employee_id}
    if unionid is not None:
        record["unionid"] = unionid
    if external_userid is not None:
        record["external_userid"] = external_userid
    return record


def at(day: str, hour: int = 10) -> datetime:
    """A moment on a business day in Shanghai (UTC+8)."""
    y, m, d = map(int, day.split("-"))
    return datetime(y, m, d, hour - 8, 0, tzinfo=UTC)


def anomaly_breach(
    period: str, at: datetime, code: str, contribution: float, examples: list[str]
) -> BreachEvent:
    """An `AnomalyFlagged` for e1 (team t1, branch b1) whose one reason names these contacts."""
    score = 25.0 + contribution
    return BreachEvent(
        event_id=BreachEvent.make_id(AlertName.ANOMALY_FLAGGED, "e1", period, "firing"),
        occurred_at=at,
        alertname=AlertName.ANOMALY_FLAGGED,
        employee_id="e1",
        period=period,
        supervisor_id="lead1",
        team_id="t1",
        branch_id="b1",
        summary=f"e1's adds look gamed (anomaly {score}): {code} (+{contribution})",
        values={
            "anomaly_score": score,
            "reasons": [
                {
                    "code": code,
                    "contribution": contribution,
                    "evidence": {"contacts": len(examples), "examples": examples},
                }
            ],
        },
    )

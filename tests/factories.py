"""Builders of valid records for tests: one place that knows the record shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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


def at(day: str, hour: int = 10) -> datetime:
    """A moment on a business day in Shanghai (UTC+8)."""
    y, m, d = map(int, day.split("-"))
    return datetime(y, m, d, hour - 8, 0, tzinfo=UTC)

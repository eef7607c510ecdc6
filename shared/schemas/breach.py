"""Breach events (`scoring.breaches.v1`): what the scorer tells the notifier.

The id is deterministic per (alert, employee, period, status), so a re-close, a replay or a
restart yields the same id and the notifier sends one notice."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from shared.schemas.base import Message, deterministic_id


class AlertName(StrEnum):
    TARGET_MISSED = "TargetMissed"
    PACE_BEHIND = "PaceBehind"
    ANOMALY_FLAGGED = "AnomalyFlagged"
    DATA_STALE = "DataStale"
    # an ops notice: a period's deadline passed but its inputs are not complete yet
    CLOSE_HELD = "CloseHeld"


class BreachEvent(Message):
    type: Literal["breach"] = "breach"
    alertname: AlertName
    status: Literal["firing", "resolved"] = "firing"
    employee_id: str | None = None
    period: str
    supervisor_id: str | None = None
    team_id: str | None = None
    branch_id: str | None = None
    summary: str = ""
    values: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(alertname: AlertName, employee_id: str | None, period: str, status: str) -> str:
        return deterministic_id("breach", alertname.value, employee_id or "", period, status)

"""Ops notices among the breach events: alerts about the pipeline, not about an employee.

`DataStale` (WeCom stopped sending) and `CloseHeld` (a period's deadline passed but its inputs
are not complete, so its close waits) go to the ops recipients, never to a supervisor: nobody
in the branch can fix a missing bank import or a WeCom outage. A held close says what is held,
why, and how to close anyway, so whoever reads it can act without opening the runbook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.schemas import AlertName

OPS_NOTICES = frozenset({AlertName.DATA_STALE.value, AlertName.CLOSE_HELD.value})

# The scorer's reasons for holding a close: `kind` or `kind:detail`.
_REASONS = {
    "contact_watermark": "WeCom contact events up to the period's end (plus the retention "
    "window) have not all arrived",
    "source_watermark": "bank source {detail} has not declared itself complete through the "
    "period's end (a source_watermark record on /v1/events)",
    "profile_unknown": "{detail} contacts added in the period still wait for their WeCom profile",
    "data_stale": "WeCom data is stale and no reconciliation has completed since the period ended",
}
_UNNAMED = {"source_watermark": "(unnamed)", "profile_unknown": "some"}


def is_ops_notice(alertname: str) -> bool:
    return alertname in OPS_NOTICES


def describe_reason(reason: str) -> str:
    """One reason in words; a reason this notifier does not know yet is shown as sent."""
    kind, _, detail = reason.partition(":")
    text = _REASONS.get(kind)
    if text is None:
        return reason
    return text.format(detail=detail or _UNNAMED.get(kind, ""))


def reasons_of(values: Mapping[str, Any]) -> list[str]:
    """The `reasons` list of a CloseHeld event's values; anything else there is ignored."""
    found = values.get("reasons")
    if not isinstance(found, list):
        return []
    return [r for r in found if isinstance(r, str) and r]


def close_held_summary(period: str, values: Mapping[str, Any], status: str, sent: str) -> str:
    """What ops read: the period, each reason, and the way out. A resolution says the period
    closed (the scorer's own words after it, when it sent any)."""
    if status != "firing":
        closed = f"the close of {period} is no longer held: the period closed"
        return f"{closed} ({sent})" if sent else closed
    reasons = [describe_reason(r) for r in reasons_of(values)]
    why = "; ".join(reasons) if reasons else sent or "the scorer gave no reason"
    return (
        f"the close of {period} is held: {why}. It closes by itself once its inputs "
        f"are complete; POST /v1/periods/{period}/close?force=true closes it anyway."
    )


def notice_summary(
    alertname: str, period: str, values: Mapping[str, Any], status: str, sent: str
) -> str:
    """The summary stored with an alert: the scorer's, except for a held close, whose words
    the notifier composes from its reasons."""
    if alertname == AlertName.CLOSE_HELD.value:
        return close_held_summary(period, values, status, sent)
    return sent

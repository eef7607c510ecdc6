"""Alertmanager's notifications about the pipeline, as ops read them.

Prometheus evaluates deploy/prometheus/rules/alerts.yml; Alertmanager groups, inhibits and
repeats (deploy/alertmanager/alertmanager.yml) and posts each group notification in its webhook
format, version 4, to `POST /v1/alertmanager`. One notification becomes one ops notice: a first
line saying what fired or cleared, then one line per alert. Pure: parsing and wording."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# the most alerts one notice lists; the rest are counted (a message stays readable)
MAX_LISTED = 20


class _Lenient(BaseModel):
    # Alertmanager may add fields in later versions: unknown ones are ignored
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    fingerprint: str = ""


class WebhookNotification(_Lenient):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    alerts: list[WebhookAlert] = Field(min_length=1)


def _labels(labels: Mapping[str, str], skip: set[str]) -> str:
    return ", ".join(f"{k}={labels[k]}" for k in sorted(labels) if k not in skip)


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def alert_line(alert: WebhookAlert) -> str:
    """`firing ServiceDown (job=scorer, instance=…): summary, since …`."""
    name = alert.labels.get("alertname", "(unnamed)")
    where = _labels(alert.labels, {"alertname", "severity", "system"})
    what = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    head = f"{alert.status} {name}" + (f" ({where})" if where else "")
    if alert.status == "resolved" and alert.ends_at is not None and alert.ends_at.year > 1:
        when = f"resolved at {_when(alert.ends_at)}"
    else:
        when = f"since {_when(alert.starts_at)}"
    return f"{head}: {what}, {when}" if what else f"{head}, {when}"


def ops_text(notification: WebhookNotification) -> str:
    """The notice ops read: `[FIRING:2] ServiceDown job=scorer` and a line per alert."""
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    state = f"FIRING:{firing}" if notification.status == "firing" else "RESOLVED"
    group = _labels(notification.group_labels, set())
    lines = [f"[{state}] {group}".rstrip()]
    listed = notification.alerts[:MAX_LISTED]
    lines += [f"- {alert_line(a)}" for a in listed]
    more = len(notification.alerts) - len(listed) + notification.truncated_alerts
    if more:
        lines.append(f"- and {more} more alerts")
    if notification.external_url:
        lines.append(f"Alertmanager: {notification.external_url}")
    return "\n".join(lines)

"""Alertmanager's webhook format, version 4: pure construction, so every Alertmanager webhook
receiver a bank already runs understands our notices."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class AlertView:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: str
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of an alert from its labels (like Alertmanager's 16 hex digits)."""
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _rfc3339(at: datetime | None) -> str:
    return at.isoformat().replace("+00:00", "Z") if at else ZERO_TIME


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_payload(
    receiver: str,
    alerts: Sequence[AlertView],
    group_by: Sequence[str] = ("alertname", "period"),
    external_url: str = "",
) -> dict[str, Any]:
    common_labels = _common([a.labels for a in alerts])
    group_labels = {k: common_labels[k] for k in group_by if k in common_labels}
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}"
    firing = any(a.status == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": _rfc3339(a.starts_at),
                "endsAt": _rfc3339(a.ends_at),
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint(a.labels),
            }
            for a in alerts
        ],
    }

"""The generic webhook speaks Alertmanager's v4 format."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notifier.domain.alertmanager import AlertView, fingerprint, webhook_payload


def view(employee: str, status: str = "firing") -> AlertView:
    return AlertView(
        labels={"alertname": "TargetMissed", "employee_id": employee, "period": "2026-10"},
        annotations={"summary": f"{employee} missed"},
        status=status,
        starts_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_payload_has_every_v4_field() -> None:
    body = webhook_payload("webhook", [view("e1"), view("e2")])
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "webhook"
    assert body["groupLabels"] == {"alertname": "TargetMissed", "period": "2026-10"}
    assert body["commonLabels"] == {"alertname": "TargetMissed", "period": "2026-10"}
    assert body["groupKey"] == '{}:{alertname="TargetMissed", period="2026-10"}'
    assert body["commonAnnotations"] == {}
    alert = body["alerts"][0]
    assert set(alert) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert alert["startsAt"] == "2026-11-01T00:00:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"


def test_resolved_when_every_alert_is() -> None:
    assert webhook_payload("w", [view("e1", "resolved")])["status"] == "resolved"


def test_fingerprint_depends_on_labels_only() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})
    assert len(fingerprint({"a": "1"})) == 16

"""Alertmanager's notifications as ops notices (services/notifier/domain/ops_alerts.py), the
receiver's bearer check, and the repository's Alertmanager config: valid for the real
`amtool`, routing every alert to the notifier, grouping by alert name and service."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from services.notifier.alertmanager_receiver import bearer_matches
from services.notifier.domain.alertmanager import AlertView, webhook_payload
from services.notifier.domain.ops_alerts import MAX_LISTED, WebhookNotification, ops_text
from tests.infra import ROOT

CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
START = datetime(2026, 11, 30, 2, tzinfo=UTC)


def view(job: str, status: str = "firing", ends: datetime | None = None) -> AlertView:
    return AlertView(
        labels={"alertname": "DeadLetters", "job": job, "severity": "warning"},
        annotations={"summary": f"{job} sent 3 records to a dead-letter topic in 15 minutes"},
        status=status,
        starts_at=START,
        ends_at=ends,
    )


def notification(*views: AlertView) -> WebhookNotification:
    payload = webhook_payload("notifier-ops", list(views), ("alertname",))
    return WebhookNotification.model_validate(payload)


def test_a_group_is_one_notice_with_a_line_per_alert() -> None:
    text = ops_text(notification(view("scorer"), view("notifier")))
    lines = text.splitlines()
    assert lines[0] == "[FIRING:2] alertname=DeadLetters"
    assert lines[1] == (
        "- firing DeadLetters (job=scorer): scorer sent 3 records to a dead-letter topic in "
        "15 minutes, since 2026-11-30T02:00:00Z"
    )
    assert lines[2].startswith("- firing DeadLetters (job=notifier)")


def test_a_resolution_says_when() -> None:
    ended = datetime(2026, 11, 30, 3, tzinfo=UTC)
    text = ops_text(notification(view("scorer", "resolved", ended)))
    assert text.startswith("[RESOLVED] alertname=DeadLetters\n- resolved DeadLetters")
    assert text.endswith("resolved at 2026-11-30T03:00:00Z")


def test_a_long_group_is_counted_not_listed() -> None:
    many = [view(f"job{i}") for i in range(MAX_LISTED + 5)]
    payload = webhook_payload("r", many, ("alertname",))
    payload["truncatedAlerts"] = 7
    text = ops_text(WebhookNotification.model_validate(payload))
    assert len(text.splitlines()) == 1 + MAX_LISTED + 1
    assert text.endswith("- and 12 more alerts")


def test_only_a_v4_notification_with_alerts_is_accepted() -> None:
    good = webhook_payload("r", [view("scorer")])
    for bad in ({**good, "version": "3"}, {**good, "alerts": []}, {"version": "4"}):
        with pytest.raises(ValidationError):
            WebhookNotification.model_validate(bad)
    # fields a later Alertmanager may add are ignored
    WebhookNotification.model_validate({**good, "somethingNew": 1})


def test_bearer_token_check() -> None:
    token = SecretStr("s3cret-token")
    assert bearer_matches("Bearer s3cret-token", token)
    assert bearer_matches("bearer s3cret-token", token)
    for header in ("", "s3cret-token", "Bearer ", "Bearer s3cret-tokeN", "Basic s3cret-token"):
        assert not bearer_matches(header, token), header


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: deploy/local/bootstrap.sh installs prometheus-alertmanager"
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def rendered(tmp_path: Path) -> Path:
    """The config as the local stack renders it (its token file must exist for amtool)."""
    token = tmp_path / "token"
    token.write_text("t")
    path = tmp_path / "alertmanager.yml"
    path.write_text(CONFIG.read_text().replace("/run/secrets/alertmanager_token", str(token)))
    return path


def test_amtool_accepts_the_config(tmp_path: Path) -> None:
    result = _amtool("check-config", str(rendered(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_goes_to_the_notifier_grouped_by_name_and_service(tmp_path: Path) -> None:
    config = str(rendered(tmp_path))
    for labels in (["alertname=ServiceDown", "job=scorer"], ["alertname=Anything"]):
        result = _amtool("config", "routes", "test", f"--config.file={config}", *labels)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "notifier-ops"
    route = yaml.safe_load(CONFIG.read_text())["route"]
    assert route["group_by"] == ["alertname", "job"]


def test_service_down_inhibits_its_consequences() -> None:
    rules = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    same_service = rules[0]
    assert same_service["source_matchers"] == ['alertname="ServiceDown"']
    assert same_service["equal"] == ["job"]
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/rules/alerts.yml").read_text())
    names = {r["alert"] for g in alerts["groups"] for r in g["rules"]}
    for rule in rules[1:]:
        for matcher in rule["target_matchers"]:
            if matcher.startswith("alertname=~"):
                named = set(matcher.split("=~", 1)[1].strip('"').split("|"))
                assert named <= names, f"{named - names} are not alerts of alerts.yml"

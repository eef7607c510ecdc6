"""Every secret setting refuses a placeholder (or, where it has one, a too-short value) at
start-up, through shared.settings.require_secret, and never echoes the refused value; an unset
or empty optional secret leaves its feature off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.ingestor.settings import IngestorSettings
from services.notifier.app import create_app
from services.notifier.domain.config import ConfigError
from services.notifier.settings import NotifierSettings
from services.scorer.settings import ScorerSettings
from shared.sealed import new_entry
from shared.settings import PLACEHOLDER_SECRETS

SECRETS: list[tuple[type[Any], str]] = [
    (IngestorSettings, "wecom_callback_token"),
    (IngestorSettings, "wecom_callback_aes_key"),
    (IngestorSettings, "wecom_corp_secret"),
    (IngestorSettings, "ingest_api_tokens"),
    (NotifierSettings, "notifier_ack_secret"),
    (NotifierSettings, "notifier_smtp_password"),
    (NotifierSettings, "notifier_wecom_app_secret"),
    (NotifierSettings, "wecom_corp_secret"),
    (NotifierSettings, "notifier_alertmanager_token"),
    (NotifierSettings, "notifier_robot_keys"),
    (NotifierSettings, "erasure_hmac_key"),
    (ScorerSettings, "erasure_hmac_key"),
    (ScorerSettings, "notifier_robot_keys"),
]


@pytest.mark.parametrize(("settings", "name"), SECRETS)
@pytest.mark.parametrize("placeholder", [*sorted(PLACEHOLDER_SECRETS - {""}), "  Changeme "])
def test_a_placeholder_secret_stops_the_service(
    settings: type[Any], name: str, placeholder: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**{name: placeholder})
    assert name.upper() in str(refused.value)
    assert "input_value" not in str(refused.value)


@pytest.mark.parametrize(("settings", "name"), SECRETS)
def test_an_empty_optional_secret_is_off(settings: type[Any], name: str) -> None:
    assert getattr(settings(**{name: ""}), name) is None
    assert getattr(settings(), name) is None


def test_a_short_secret_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValidationError) as refused:
        NotifierSettings(notifier_ack_secret="myRealAck-9")  # under 16 characters
    assert "NOTIFIER_ACK_SECRET" in str(refused.value)
    assert "myRealAck-9" not in str(refused.value)
    real = "ackSecret-Zx81Lq0Mw7Nv3Kb2"
    assert NotifierSettings(notifier_ack_secret=real).notifier_ack_secret is not None


def test_a_short_erasure_key_is_refused_without_being_echoed() -> None:
    short = "k3y-" + "q" * 27  # 31 characters, one short
    with pytest.raises(ValidationError) as refused:
        ScorerSettings(erasure_hmac_key=short)
    assert "ERASURE_HMAC_KEY" in str(refused.value) and short not in str(refused.value)
    key = short + "q"
    settings = ScorerSettings(erasure_hmac_key=key)
    assert settings.erasure_hmac_key is not None and key in settings.secrets()


def test_the_scorer_takes_the_notifiers_key_ring() -> None:
    entry = new_entry("k1")
    settings = ScorerSettings(notifier_robot_keys=entry)
    keys = settings.robot_keys()
    assert keys is not None and keys.current == "k1"
    assert entry.split(":")[1] in settings.secrets()  # masked in every log line
    with pytest.raises(ValidationError, match="NOTIFIER_ROBOT_KEYS"):
        ScorerSettings(notifier_robot_keys="k1:c2l4dGVlbi1ieXRlLWtleQ")


def test_a_malformed_robot_key_ring_is_refused_without_being_echoed() -> None:
    short = "k1:c2l4dGVlbi1ieXRlLWtleQ"  # 16 bytes, not 32
    with pytest.raises(ValidationError) as refused:
        NotifierSettings(notifier_robot_keys=short)
    assert "NOTIFIER_ROBOT_KEYS" in str(refused.value) and "32 bytes" in str(refused.value)
    assert "c2l4dGVlbi1ieXRlLWtleQ" not in str(refused.value)
    entry = new_entry("k1")
    settings = NotifierSettings(notifier_robot_keys=entry)
    keys = settings.robot_keys()
    assert keys is not None and keys.current == "k1"
    assert entry.split(":")[1] in settings.secrets()  # masked in every log line


def test_routing_to_robots_without_a_key_ring_stops_the_notifier(tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(yaml.safe_dump({"routes": [{"channels": ["robot"]}]}))
    with pytest.raises(ConfigError, match="NOTIFIER_ROBOT_KEYS is not set"):
        create_app(NotifierSettings(notifier_config=str(routing)))
    create_app(NotifierSettings(notifier_config=str(routing), notifier_robot_keys=new_entry("k")))
    create_app(NotifierSettings())  # no robot routed to: no key needed

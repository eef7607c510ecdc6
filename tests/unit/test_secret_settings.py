"""Every secret setting refuses a placeholder (or, where it has one, a too-short value) at
start-up, through shared.settings.require_secret, and never echoes the refused value; an unset
or empty optional secret leaves its feature off."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.ingestor.settings import IngestorSettings
from services.notifier.settings import NotifierSettings
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

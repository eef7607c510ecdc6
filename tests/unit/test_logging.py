"""Secrets never reach the logs."""

from __future__ import annotations

import logging

import orjson
import pytest

from shared.logging import JsonFormatter, redact, register_secrets


def test_registered_secrets_and_known_patterns_are_masked() -> None:
    register_secrets(["s3cr3t-token-value"])
    line = redact(
        "token s3cr3t-token-value in postgresql://app:pw123@db/x "
        "and ?access_token=abc&corpsecret=xyz and Bearer zzz.yyy"
    )
    assert "s3cr3t-token-value" not in line
    assert "pw123" not in line
    assert "abc" not in line
    assert "xyz" not in line
    assert "zzz.yyy" not in line


def test_formatter_writes_one_json_object(caplog: pytest.LogCaptureFixture) -> None:
    register_secrets(["another-secret-value"])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "got %s", ("another-secret-value",), None
    )
    record.channel = "webhook"
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["msg"] == "got ***"
    assert entry["channel"] == "webhook"
    assert entry["level"] == "info"

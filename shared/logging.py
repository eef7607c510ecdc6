"""JSON logs on stderr, one object a line, with secrets masked before anything is written.

Secret values registered at start-up (tokens, keys, passwords) are replaced by `***` wherever
they appear, and so are DSN passwords and `access_token=`/`corpsecret=` query values, so a
stack trace or a logged URL never leaks one."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

_SECRETS: set[str] = set()
_PATTERNS = (
    re.compile(r"(?P<k>(?:access_token|corpsecret|key|token|password|secret)=)[^&\s\"']+", re.I),
    re.compile(r"(?P<k>://[^:/@\s]+:)[^@\s]+(?=@)"),
    re.compile(r"(?P<k>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I),
)
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so they are masked in every later log line."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\g<k>***", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return redact(line)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger(service).info("logging configured", extra={"service": service})

"""The envelope every message on our Kafka topics carries: a schema version, a unique
`event_id` and the event time. Idempotency downstream rests on `event_id`; event time (never
arrival time) decides the period an event belongs to."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.clock import system_clock

SCHEMA_VERSION = 1


class Message(BaseModel):
    """Base of every message: frozen, versioned, with an id and an event time."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    supported_versions: ClassVar[frozenset[int]] = frozenset({SCHEMA_VERSION})

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in cls.supported_versions:
            known = ", ".join(map(str, sorted(cls.supported_versions)))
            raise ValueError(f"unsupported schema_version {value} (supported: {known})")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=False))


def deterministic_id(namespace: str, *parts: Any) -> str:
    """A stable id from the parts that identify a fact, so that a resent fact gets the same id.

    The parts are encoded as a JSON array, which cannot be made ambiguous by concatenation
    ("ab"+"c" vs "a"+"bc")."""
    payload = orjson.dumps([namespace, *parts], option=orjson.OPT_SORT_KEYS)
    return f"{namespace}:{hashlib.sha256(payload).hexdigest()[:40]}"


def utc_now() -> datetime:
    """The acceptance time a record without one gets (the schema's default). Services fill
    it from their injected clock; this default is for other callers."""
    return system_clock()

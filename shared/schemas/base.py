"""The envelope every message on our Kafka topics carries: a schema version, a unique
`event_id` and the event time. Idempotency downstream rests on `event_id`; event time (never
arrival time) decides the period an event belongs to."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

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


# What the store cannot hold or a reader could be fooled by: NUL and other control characters,
# lone surrogates, and the bidirectional controls that make text display in another order.
_HOSTILE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def hostile_character(value: str) -> str | None:
    """The first character of `value` that an id or a name may not hold, described."""
    found = _HOSTILE.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _is_identity(field: str) -> bool:
    """Ids and people's names: what a reviewer reads to know who is who."""
    return field.endswith(("_id", "userid", "unionid")) or field in IDENTITY_FIELDS


IDENTITY_FIELDS = frozenset({"name", "source", "period", "role"})


def without_hostile(value: str) -> str:
    return _HOSTILE.sub("", value)


class PlainText(BaseModel):
    """Hostile characters in the text fields of a record from outside. In ids and names they
    are refused (with the field named): PostgreSQL would refuse a NUL later, stopping a
    partition, and a right-to-left override makes one id read as another on a reviewer's
    screen. In other text (a channel state, a company name from WeCom's own answers) they are
    dropped: WeCom's data is kept, not refused, and an Arabic company name's direction mark
    is no reason to lose a contact's profile."""

    @field_validator("*", mode="after")
    @classmethod
    def _plain(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or hostile_character(value) is None:
            return value
        if info.field_name is not None and _is_identity(info.field_name):
            bad = hostile_character(value)
            raise ValueError(f"holds the control or bidirectional character {bad}")
        return without_hostile(value)


def deterministic_id(namespace: str, *parts: Any) -> str:
    """A stable id from the parts that identify a fact, so that a resent fact gets the same id.

    The parts are encoded as a JSON array, which cannot be made ambiguous by concatenation
    ("ab"+"c" vs "a"+"bc")."""
    try:
        payload = orjson.dumps([namespace, *parts], option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # a lone surrogate, or a value JSON cannot hold
        raise ValueError(f"the record cannot be encoded: {exc}") from exc
    return f"{namespace}:{hashlib.sha256(payload).hexdigest()[:40]}"


def utc_now() -> datetime:
    """The acceptance time a record without one gets (the schema's default). Services fill
    it from their injected clock; this default is for other callers."""
    return system_clock()

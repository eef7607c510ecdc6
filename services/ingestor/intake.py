"""Decoding and validating a `/v1/events` body: pure, no I/O.

The whole request is judged before anything is published: every invalid record is listed
with its index and a readable reason, and one invalid record means nothing of the request is
stored (docs/contract.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from shared.schemas import IngestRecord, parse_record


@dataclass
class Intake:
    records: list[IngestRecord] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class BodyError(ValueError):
    """The body as a whole cannot be read (not JSON, not NDJSON, too many records)."""


def describe(exc: ValidationError | ValueError) -> str:
    """One line per problem, naming the field: `value: Input should be ...`."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in err["loc"] if not str(p).endswith("Record"))
            loc = loc.split(".", 1)[-1] if loc.split(".")[0] in _KINDS else loc
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(exc)


_KINDS = frozenset(
    {
        "employee",
        "target",
        "customer_link",
        "message",
        "contact_profile",
        "staff_account",
        "source_watermark",
    }
)


def decode_body(body: bytes, content_type: str, max_records: int) -> list[Any]:
    """A JSON array, a single JSON object, or NDJSON (one object a line, blanks skipped)."""
    text = body.strip()
    if not text:
        raise BodyError("empty body: send a JSON array or NDJSON records")
    ndjson = "ndjson" in content_type or "jsonl" in content_type
    items: list[Any]
    if not ndjson and text[:1] in (b"[", b"{"):
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if text[:1] == b"{" and b"\n" in text:
                items = _ndjson(text)
            else:
                raise BodyError(f"malformed JSON: {exc}") from exc
        else:
            items = decoded if isinstance(decoded, list) else [decoded]
    else:
        items = _ndjson(text)
    if len(items) > max_records:
        raise BodyError(f"{len(items)} records in one request; the limit is {max_records}")
    return items


class _Unparsable:
    def __init__(self, line: int, reason: str) -> None:
        self.reason = f"line {line}: malformed JSON ({reason})"


def _ndjson(text: bytes) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(_Unparsable(number, str(exc)))
    return items


def with_acceptance_time(record: IngestRecord, accepted_at: datetime) -> IngestRecord:
    """A record sent without an event time takes the time it was accepted (docs/contract.md): the
    service's clock, not the schema's default. Set once the record is valid, so the id derived
    from the record as sent (the dedupe of a resent batch) does not depend on its arrival."""
    if "occurred_at" in record.model_fields_set:
        return record
    return record.model_copy(update={"occurred_at": accepted_at})


def validate(items: list[Any], accepted_at: datetime | None = None) -> Intake:
    """Every record judged; `accepted_at` (the service's clock) dates those sent without an
    event time (without it, pure checks of validity, the schema's default does)."""
    result = Intake()
    for index, item in enumerate(items):
        if isinstance(item, _Unparsable):
            result.errors.append({"index": index, "error": item.reason})
            continue
        try:
            record = parse_record(item)
        except (ValidationError, ValueError) as exc:
            kind = item.get("type") if isinstance(item, dict) else None
            result.errors.append({"index": index, "type": kind, "error": describe(exc)})
            continue
        if accepted_at is not None:
            record = with_acceptance_time(record, accepted_at)
        result.records.append(record)
    return result

"""Dead letters (`<topic>.dlq`): a record a consumer could not apply, with the error and where
it came from. `python -m shared.dead_letters` lists them and replays them to their source topic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeadLetterRecord(BaseModel):
    """One dead letter, keyed like the record it holds."""

    model_config = ConfigDict(frozen=True)

    error: str = Field(description="Why the record could not be applied.")
    topic: str = Field(description="The topic the record was read from (the replay's target).")
    partition: int = Field(ge=0, description="Its partition there.")
    offset: int = Field(ge=0, description="Its offset there.")
    value: str | None = Field(
        description="The record itself, as UTF-8 text (undecodable bytes replaced); null for "
        "a record without a value."
    )


def dead_letter_value(raw: Any, reason: str) -> bytes:
    """The dead letter of a consumed aiokafka record (its `topic`, `partition`, `offset`,
    `value`), as JSON."""
    return (
        DeadLetterRecord(
            error=reason,
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            value=raw.value.decode("utf-8", "replace") if raw.value else None,
        )
        .model_dump_json()
        .encode()
    )

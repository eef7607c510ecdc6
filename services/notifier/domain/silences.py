"""Silences, as in Alertmanager: label matchers and a time window. A notice whose labels match
every matcher of an active silence is recorded as silenced instead of sent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Matcher(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    value: str
    is_regex: bool = Field(default=False, alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")

    @model_validator(mode="after")
    def _valid_regex(self) -> Matcher:
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self.name}: bad regular expression ({exc})") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.is_regex:
            hit = re.fullmatch(self.value, actual) is not None
        else:
            hit = actual == self.value
        return hit == self.is_equal


class SilenceRequest(BaseModel):
    """The body of `POST /v1/silences` (Alertmanager's field names are accepted)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    matchers: list[Matcher] = Field(min_length=1)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(default="api", alias="createdBy")
    comment: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-10-15T09:00:00+08:00)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SilenceRequest:
        if self.ends_at <= self.starts_at:
            raise ValueError("endsAt must be after startsAt")
        return self


@dataclass(frozen=True)
class ActiveSilence:
    silence_id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def silences(self, labels: Mapping[str, str], at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        return all(m.matches(labels) for m in self.matchers)


def silenced_by(
    labels: Mapping[str, str], silences: Sequence[ActiveSilence], at: datetime
) -> int | None:
    """The id of the first silence covering these labels at `at`, if any."""
    for silence in silences:
        if silence.silences(labels, at):
            return silence.silence_id
    return None

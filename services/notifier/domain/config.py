"""The routing and channel file (`NOTIFIER_CONFIG`, YAML) as validated models.

Banks edit this file by hand; a typo must stop the service with a message that names the bad
key (`routes.1.match.alertname: ...`), not fail a delivery at three in the morning. Secrets
(SMTP password, WeCom app secret) never live here: they come from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.calendar import PeriodKind
from shared.schemas import AlertName


class ConfigError(ValueError):
    """The routing file is unusable; the message names the offending key."""


class Channel(StrEnum):
    ROBOT = "robot"
    APP = "app"
    EMAIL = "email"
    WEBHOOK = "webhook"
    LOG = "log"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _clock(value: object) -> object:
    """YAML 1.1 reads an unquoted `21:00` as the base-60 number 1260: say so."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"write times in quotes, like '21:00' (YAML read {value} as a number)")
    return value


class QuietHours(_Strict):
    """Local times between which nothing is sent (held until `end`); may wrap midnight."""

    start: time
    end: time

    _times = field_validator("start", "end", mode="before")(_clock)


class Timing(_Strict):
    """When notices leave: wait to gather a digest, space digests to one recipient, hold
    outside allowed hours, escalate when nobody acknowledges."""

    group_wait_seconds: float = Field(default=5.0, ge=0)
    group_interval_seconds: float = Field(default=60.0, ge=0)
    quiet_hours: QuietHours | None = None
    working_days_only: bool = False
    escalate_after_working_hours: float | None = Field(default=None, gt=0)
    max_escalation_levels: int = Field(default=2, ge=0, le=10)


DAILY_CHANNELS = frozenset({Channel.ROBOT, Channel.EMAIL, Channel.APP, Channel.LOG})


class DailyDigest(_Strict):
    """The daily digest per supervisor: sent at local time `at` on every working day of the
    business calendar, showing the team's attainment in the current `period` (month or week)."""

    at: time
    channels: list[Channel] = Field(min_length=1)
    period: PeriodKind = PeriodKind.MONTH

    _time = field_validator("at", mode="before")(_clock)

    @field_validator("channels")
    @classmethod
    def _person_channels(cls, value: list[Channel]) -> list[Channel]:
        wrong = [c.value for c in value if c not in DAILY_CHANNELS]
        if wrong:
            raise ValueError(f"the daily digest goes to robot, email, app or log, not {wrong}")
        return value


class Match(_Strict):
    """Empty lists match everything; every given list must contain the alert's value."""

    alertname: list[AlertName] = Field(default_factory=list)
    branch_id: list[str] = Field(default_factory=list)
    team_id: list[str] = Field(default_factory=list)


class Route(_Strict):
    name: str = ""
    match: Match = Field(default_factory=Match)
    channels: list[Channel] = Field(min_length=1)
    webhook_url: str | None = None
    # `continue` is a Python keyword: as in Alertmanager, keep looking at later routes.
    keep_matching: bool = Field(default=False, alias="continue")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _webhook_has_url(self) -> Route:
        if Channel.WEBHOOK in self.channels and not self.webhook_url:
            raise ValueError("a route with the webhook channel needs webhook_url")
        return self


class RiskCompliance(_Strict):
    """Who also hears of anomalies: WeCom userids, or e-mail addresses (contain `@`), and the
    active employees of the alert's branch whose org-data `role` is one of `roles`."""

    recipients: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL])


class WeComApp(_Strict):
    agent_id: int


class Smtp(_Strict):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    username: str | None = None
    starttls: bool = False
    use_tls: bool = False


class NotifierConfig(_Strict):
    timing: Timing = Field(default_factory=Timing)
    routes: list[Route] = Field(default_factory=list)
    default_channels: list[Channel] = Field(default_factory=lambda: [Channel.LOG])
    risk_compliance: RiskCompliance = Field(default_factory=RiskCompliance)
    wecom_app: WeComApp | None = None
    smtp: Smtp | None = None
    ops_recipients: list[str] = Field(default_factory=list)
    # how ops hear of a disabled robot or a dead letter (never a robot: it may be the broken one)
    ops_channels: list[Channel] = Field(default_factory=lambda: [Channel.LOG])
    calendar_overrides_file: str | None = None
    daily_digest: DailyDigest | None = None

    @model_validator(mode="after")
    def _channels_configured(self) -> NotifierConfig:
        used = self.channels_needing()
        if Channel.APP in used and self.wecom_app is None:
            raise ValueError("the app channel is routed to but wecom_app (agent_id) is missing")
        if Channel.EMAIL in used and self.smtp is None:
            raise ValueError("the email channel is routed to but smtp is missing")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, source: str = "config") -> Self:
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise ConfigError(_describe(source, exc)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the notifier config ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        return cls.from_mapping(data, source=str(path))

    def channels_needing(self) -> set[Channel]:
        used = {c for r in self.routes for c in r.channels}
        used |= set(self.default_channels)
        if self.risk_compliance.recipients or self.risk_compliance.roles:
            used |= set(self.risk_compliance.channels)
        if self.daily_digest is not None:
            used |= set(self.daily_digest.channels)
        if self.ops_recipients:
            used |= set(self.ops_channels)
        return used

    @field_validator("ops_channels")
    @classmethod
    def _ops_not_by_robot(cls, value: list[Channel]) -> list[Channel]:
        wrong = [c.value for c in value if c in (Channel.ROBOT, Channel.WEBHOOK)]
        if wrong:
            raise ValueError(f"ops hear by email, app or log, not {wrong}")
        return value


def _describe(source: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}")
    return f"{source}: " + "; ".join(problems)

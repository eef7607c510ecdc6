"""Normalized WeCom external-contact change events (`wecom.contact-events.v1`).

One event per callback (or per reconciliation correction). Field names are ours, but the
model also accepts the callback's own XML names (`ChangeType`, `UserID`, `ExternalUserID`,
`CreateTime`, ...) so that a bank system which already collects WeCom callbacks can forward
them as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, AwareDatetime, Field, field_validator, model_validator

from shared.schemas.base import Message, PlainText, deterministic_id


class ChangeType(StrEnum):
    ADD = "add_external_contact"
    ADD_HALF = "add_half_external_contact"
    EDIT = "edit_external_contact"
    DELETE_BY_EMPLOYEE = "del_external_contact"
    DELETE_BY_CUSTOMER = "del_follow_user"
    TRANSFER_FAIL = "transfer_fail"


ADD_CHANGES = frozenset({ChangeType.ADD, ChangeType.ADD_HALF})
DELETE_BY_TRANSFER = "DELETE_BY_TRANSFER"


def contact_event_id(
    corp_id: str, change_type: str, user_id: str, external_userid: str, create_time: int
) -> str:
    """WeCom retries a callback up to three times: the same fact must get the same id."""
    return deterministic_id("wecom", corp_id, change_type, user_id, external_userid, create_time)


def _unix_or_datetime(value: Any) -> Any:
    """`CreateTime` is unix seconds in WeCom's XML; JSON senders may use RFC 3339."""
    if isinstance(value, bool):
        raise ValueError("CreateTime must be unix seconds or an RFC 3339 timestamp")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:  # beyond any calendar (or inf)
            raise ValueError(f"CreateTime {value!r} is not a unix time in range") from exc
    return value


class ContactEvent(Message, PlainText):
    """A change of the relation between one employee and one external contact."""

    type: Literal["contact_event"] = "contact_event"
    event_id: str = Field(default="", max_length=200)
    corp_id: str = Field(
        default="", max_length=64, validation_alias=AliasChoices("corp_id", "ToUserName")
    )
    change_type: ChangeType = Field(validation_alias=AliasChoices("change_type", "ChangeType"))
    employee_id: str = Field(
        min_length=1,
        max_length=64,
        validation_alias=AliasChoices("employee_id", "user_id", "UserID"),
    )
    external_userid: str = Field(
        min_length=1,
        max_length=128,
        validation_alias=AliasChoices("external_userid", "external_user_id", "ExternalUserID"),
    )
    occurred_at: AwareDatetime = Field(
        validation_alias=AliasChoices("occurred_at", "create_time", "CreateTime")
    )
    state: str | None = Field(
        default=None, max_length=64, validation_alias=AliasChoices("state", "State")
    )
    welcome_code: str | None = Field(
        default=None, max_length=256, validation_alias=AliasChoices("welcome_code", "WelcomeCode")
    )
    source: str | None = Field(
        default=None, max_length=64, validation_alias=AliasChoices("source", "Source")
    )
    fail_reason: str | None = Field(
        default=None, max_length=64, validation_alias=AliasChoices("fail_reason", "FailReason")
    )
    # Enrichment (WeCom externalcontact/get, or the bank's contact_profile records).
    enriched: bool = False
    contact_type: int | None = None
    corp_name: str | None = Field(default=None, max_length=256)
    unionid: str | None = Field(default=None, max_length=128)
    add_way: int | None = None
    oper_userid: str | None = Field(default=None, max_length=128)
    origin: Literal["callback", "bank", "reconciliation"] = "callback"

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        return _unix_or_datetime(value)

    @model_validator(mode="after")
    def _default_id(self) -> ContactEvent:
        if not self.event_id:
            object.__setattr__(
                self,
                "event_id",
                contact_event_id(
                    self.corp_id,
                    self.change_type.value,
                    self.employee_id,
                    self.external_userid,
                    int(self.occurred_at.timestamp()),
                ),
            )
        return self

    @property
    def is_add(self) -> bool:
        return self.change_type in ADD_CHANGES

    @property
    def create_time(self) -> int:
        return int(self.occurred_at.timestamp())

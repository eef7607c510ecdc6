"""The bank's own record streams (`bank.records.v1`), as docs/contract.md defines them.

Every record carries or implies a key: when the sender gives no `event_id`, it is derived from
the record's content, so a resent batch yields the same ids and counts nothing twice. When the
sender gives no event time, the record takes the time it was accepted."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from shared.schemas.base import Message, PlainText, deterministic_id, utc_now
from shared.schemas.contact import ContactEvent

Id = Annotated[str, Field(min_length=1, max_length=128)]
Segment = Literal["acquisition", "servicing", "counter"]
_PERIOD_KEY = re.compile(r"^\d{4}(-\d{2}(-\d{2})?|-W\d{2}|-Q[1-4])$")


class BankRecord(Message, PlainText):
    """Common behaviour: a content-derived id and an acceptance-time default."""

    event_id: str = Field(default="", max_length=200)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("event_id"):
            content = {k: v for k, v in data.items() if k not in ("event_id",)}
            return {**data, "event_id": deterministic_id("bank", content)}
        return data

    def entity_key(self) -> str:
        """Kafka key: records of one entity stay in one partition, in order."""
        raise NotImplementedError


class EmployeeRecord(BankRecord):
    type: Literal["employee"]
    employee_id: Id
    name: str = Field(max_length=200)
    branch_id: Id
    team_id: Id
    supervisor_id: Id | None = None
    role: str = Field(min_length=1, max_length=64)
    active: bool = True
    robot_webhook: str | None = Field(default=None, max_length=1000)
    email: str | None = Field(default=None, max_length=320)
    segment: Segment | None = Field(
        default=None,
        description="The employee's segment of work, when the bank states it: `acquisition` "
        "(new customers: most adds are not bank customers yet), `servicing` (an existing book) "
        "or `counter` (walk-in customers at a branch counter). The anomaly signals compare an "
        "employee with peers of the same segment; without it the scorer infers the segment "
        "from the adds (docs/scoring.md).",
    )

    def entity_key(self) -> str:
        return f"employee:{self.employee_id}"


class Submitter(BaseModel):
    """Who sent a record through `/v1/events`, as the ingestor authenticated the call."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(max_length=200)
    role: str = Field(max_length=40)
    employee_id: str | None = Field(default=None, max_length=200)


class TargetRecord(BankRecord):
    type: Literal["target"]
    scope: Literal["employee", "team", "branch", "role"]
    scope_id: Id
    period: str
    metric: Literal["valid_adds"] = "valid_adds"
    value: int = Field(ge=0, le=1_000_000)
    submitted_by: Submitter | None = Field(
        default=None,
        description="Who sent it (the audit log's actor when the scorer applies a change): "
        "set by the ingestor from the call's credential, refused from a sender.",
    )

    @field_validator("period")
    @classmethod
    def _period_key(cls, value: str) -> str:
        if not _PERIOD_KEY.match(value):
            raise ValueError(
                "period must be a day 2026-10-15, an ISO week 2026-W42, a month 2026-10 "
                "or a quarter 2026-Q4"
            )
        return value

    def entity_key(self) -> str:
        return f"target:{self.scope}:{self.scope_id}"


class CustomerLinkRecord(BankRecord):
    type: Literal["customer_link"]
    external_userid: Id
    is_customer: bool
    customer_tier: str | None = Field(default=None, max_length=64)
    assigned_employee_id: Id | None = None
    verified_at: AwareDatetime | None = None

    def entity_key(self) -> str:
        return f"contact:{self.external_userid}"


# Fields that would carry chat content. We store metadata only: such a record is refused.
_CONTENT_FIELDS = frozenset({"text", "content", "body", "message_text", "msg", "msgcontent"})


class MessageRecord(BankRecord):
    type: Literal["message"]
    message_id: Id
    employee_id: Id
    external_userid: Id
    direction: Literal["to_customer", "from_customer"]
    kind: Literal["one_to_one", "mass", "group"]
    sent_at: AwareDatetime

    @model_validator(mode="before")
    @classmethod
    def _no_content(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(_CONTENT_FIELDS.intersection(k.lower() for k in data))
            if found:
                raise ValueError(
                    f"message records carry metadata only; remove {', '.join(found)} "
                    "(chat content is never accepted)"
                )
            if "event_id" not in data and "message_id" in data:
                data = {**data, "event_id": deterministic_id("message", data["message_id"])}
            if "occurred_at" not in data and "sent_at" in data:
                data = {**data, "occurred_at": data["sent_at"]}
        return data

    def entity_key(self) -> str:
        return f"employee:{self.employee_id}"


class ContactProfileRecord(BankRecord):
    type: Literal["contact_profile"]
    external_userid: Id
    # The record's `type` names its kind, so the contact's WeCom type (1 WeChat, 2 WeCom
    # user of another organisation) travels as `contact_type`.
    contact_type: Literal[1, 2] = Field(
        default=1, validation_alias=AliasChoices("contact_type", "external_type")
    )
    corp_name: str | None = Field(default=None, max_length=256)
    unionid: str | None = Field(default=None, max_length=128)
    employee_id: Id | None = None
    add_way: int | None = None
    state: str | None = Field(default=None, max_length=64)
    oper_userid: str | None = Field(default=None, max_length=128)
    createtime: AwareDatetime | int | None = None
    # WeCom answered that it has no such contact (a lookup's result, recorded as such): the
    # contact's facts stay unknown, but nobody waits for them any more.
    found: bool = True
    lookup_errcode: int | None = None

    def entity_key(self) -> str:
        return f"contact:{self.external_userid}"


class StaffAccountRecord(BankRecord):
    """From HR: an employee's own personal WeChat, by `unionid` and/or `external_userid`.
    Such a contact is never a valid add for anyone."""

    type: Literal["staff_account"]
    employee_id: Id
    unionid: Id | None = None
    external_userid: Id | None = None

    @model_validator(mode="after")
    def _names_an_account(self) -> StaffAccountRecord:
        if self.unionid is None and self.external_userid is None:
            raise ValueError("a staff_account needs a unionid or an external_userid (or both)")
        return self

    def entity_key(self) -> str:
        return f"employee:{self.employee_id}"


# Sources whose watermarks only the system itself writes (the ingestor's reconciliation).
INTERNAL_SOURCE_PREFIX = "wecom."
RECONCILIATION_SOURCE = "wecom.reconciliation"


class SourceWatermarkRecord(BankRecord):
    """A source declares it has sent everything up to `complete_through`: a period closes
    only once each required source is complete through its end."""

    type: Literal["source_watermark"]
    source: Id
    complete_through: AwareDatetime

    @model_validator(mode="before")
    @classmethod
    def _event_time(cls, data: Any) -> Any:
        if isinstance(data, dict) and "occurred_at" not in data and "complete_through" in data:
            return {**data, "occurred_at": data["complete_through"]}
        return data

    def entity_key(self) -> str:
        return f"source:{self.source}"


_BankRecords = (
    EmployeeRecord
    | TargetRecord
    | CustomerLinkRecord
    | MessageRecord
    | ContactProfileRecord
    | StaffAccountRecord
    | SourceWatermarkRecord
)
BankRecordUnion = Annotated[_BankRecords, Field(discriminator="type")]
# Any record on the ingestor's topics, told apart by `type` (the scorer reads both topics).
TopicRecord = Annotated[ContactEvent | _BankRecords, Field(discriminator="type")]
_bank_record = TypeAdapter(BankRecordUnion)
_contact_event = TypeAdapter(ContactEvent)

RECORD_TYPES = (
    "employee",
    "target",
    "customer_link",
    "message",
    "contact_profile",
    "contact_event",
    "staff_account",
    "source_watermark",
)

IngestRecord = BankRecord | ContactEvent


def parse_record(data: Any) -> IngestRecord:
    """Validate one `/v1/events` record. Raises ValueError with a readable reason. A bank's
    contact event is marked origin 'bank' whatever it claims."""
    return _parse(data, trust_origin=False)


def parse_topic_record(data: Any) -> IngestRecord:
    """Decode one record from our own topics: the ingestor stamped its origin (callback,
    bank, reconciliation), which consumers keep."""
    return _parse(data, trust_origin=True)


def _parse(data: Any, *, trust_origin: bool) -> IngestRecord:
    if not isinstance(data, dict):
        raise ValueError("each record must be a JSON object")
    kind = data.get("type")
    if kind not in RECORD_TYPES:
        raise ValueError(f"unknown type {kind!r}; expected one of {', '.join(RECORD_TYPES)}")
    if kind == "contact_event":
        origin = data.get("origin", "bank") if trust_origin else "bank"
        return _contact_event.validate_python({**data, "origin": origin})
    if kind == "target" and not trust_origin and data.get("submitted_by") is not None:
        raise ValueError(
            "submitted_by is set by the ingestor from the caller's credential; do not send it"
        )
    record = _bank_record.validate_python(data)
    internal = isinstance(record, SourceWatermarkRecord) and record.source.startswith(
        INTERNAL_SOURCE_PREFIX
    )
    if internal and not trust_origin:
        raise ValueError(f"source names starting {INTERNAL_SOURCE_PREFIX!r} are the system's own")
    return record


def record_from_json(data: dict[str, Any]) -> IngestRecord:
    """Decode a record read back from Kafka (already validated once at the edge)."""
    return parse_record(data)

"""Message schemas shared by the services (pydantic v2)."""

from shared.schemas.base import SCHEMA_VERSION, Message, deterministic_id, utc_now
from shared.schemas.breach import AlertName, BreachEvent
from shared.schemas.contact import (
    ADD_CHANGES,
    DELETE_BY_TRANSFER,
    ChangeType,
    ContactEvent,
    contact_event_id,
)
from shared.schemas.records import (
    RECONCILIATION_SOURCE,
    RECORD_TYPES,
    BankRecord,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    IngestRecord,
    MessageRecord,
    SourceWatermarkRecord,
    StaffAccountRecord,
    TargetRecord,
    parse_record,
    parse_topic_record,
)

__all__ = [
    "ADD_CHANGES",
    "DELETE_BY_TRANSFER",
    "RECONCILIATION_SOURCE",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "AlertName",
    "BankRecord",
    "BreachEvent",
    "ChangeType",
    "ContactEvent",
    "ContactProfileRecord",
    "CustomerLinkRecord",
    "EmployeeRecord",
    "IngestRecord",
    "Message",
    "MessageRecord",
    "SourceWatermarkRecord",
    "StaffAccountRecord",
    "TargetRecord",
    "contact_event_id",
    "deterministic_id",
    "parse_record",
    "parse_topic_record",
    "utc_now",
]

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
from shared.schemas.dead_letter import DeadLetterRecord, dead_letter_value
from shared.schemas.raw_callback import RAW_TYPE, RawCallback
from shared.schemas.records import (
    RECONCILIATION_SOURCE,
    RECORD_TYPES,
    BankRecord,
    BankRecordUnion,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    IngestRecord,
    MessageRecord,
    SourceWatermarkRecord,
    StaffAccountRecord,
    Submitter,
    TargetRecord,
    TopicRecord,
    parse_record,
    parse_topic_record,
)

__all__ = [
    "ADD_CHANGES",
    "DELETE_BY_TRANSFER",
    "RAW_TYPE",
    "RECONCILIATION_SOURCE",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "AlertName",
    "BankRecord",
    "BankRecordUnion",
    "BreachEvent",
    "ChangeType",
    "ContactEvent",
    "ContactProfileRecord",
    "CustomerLinkRecord",
    "DeadLetterRecord",
    "EmployeeRecord",
    "IngestRecord",
    "Message",
    "MessageRecord",
    "RawCallback",
    "SourceWatermarkRecord",
    "StaffAccountRecord",
    "Submitter",
    "TargetRecord",
    "TopicRecord",
    "contact_event_id",
    "dead_letter_value",
    "deterministic_id",
    "parse_record",
    "parse_topic_record",
    "utc_now",
]

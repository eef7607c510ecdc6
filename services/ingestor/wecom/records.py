"""What one decrypted callback becomes on Kafka: pure, no I/O.

A contact change this product understands becomes a `ContactEvent` on the contact-events topic,
keyed by the employee so one employee's changes stay in order. Everything else (unknown
ChangeTypes, group-chat and tag events, or a contact change too damaged to normalize) is kept
whole on the raw topic: WeCom must get its 200 and nothing may be lost (docs/wecom.md section 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from pydantic import ValidationError

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.wecom.events import WeComEvent, dedup_key
from shared.schemas import RAW_TYPE, SCHEMA_VERSION, ContactEvent
from shared.settings import Topics


def contact_event(event: WeComEvent) -> ContactEvent:
    """The normalized change; its event_id is `contact_event_id(corp, change, user, external,
    CreateTime)`, the same for WeCom's retries and for the same fact sent via /v1/events."""
    return ContactEvent.model_validate(
        {
            "corp_id": event.corp_id,
            "change_type": event.change_type,
            "employee_id": event.user_id,
            "external_userid": event.external_user_id,
            "occurred_at": event.create_time,
            "state": event.state,
            "welcome_code": event.welcome_code,
            "source": event.source,
            "fail_reason": event.fail_reason,
            "origin": "callback",
        }
    )


def raw_callback(event: WeComEvent, reason: str) -> bytes:
    """The whole field map, with the retry-stable dedup key as its event_id."""
    return orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "type": RAW_TYPE,
            "event_id": f"wecom-raw:{dedup_key(event)}",
            "occurred_at": datetime.fromtimestamp(event.create_time, tz=UTC).isoformat(),
            "corp_id": event.corp_id,
            "msg_type": event.msg_type,
            "event": event.event,
            "change_type": event.change_type,
            "reason": reason,
            "fields": dict(event.raw),
        }
    )


def callback_records(event: WeComEvent, topics: Topics) -> tuple[Outgoing, ContactEvent | None]:
    """The record to store, and the contact event when there is one (for enrichment)."""
    if event.is_contact_change:
        try:
            change = contact_event(event)
        except ValidationError as exc:
            reason = f"contact change not normalizable: {exc.error_count()} invalid field(s)"
        else:
            return Outgoing(topics.contact_events, change.employee_id, change.to_json()), change
    else:
        reason = "not a contact change this product scores"
    key = event.user_id or event.corp_id
    return Outgoing(topics.raw_callbacks, key, raw_callback(event, reason)), None

"""Reconciliation rows → corrective records: pure, no I/O.

Changes made through the API send no callback (WECOM.md section 1), so a daily walk of
`batch/get_by_user` states every follow relation WeCom knows. Each becomes an add event with
origin 'reconciliation' whose event_id is `contact_event_id(corp, add_external_contact, user,
external, createtime)`: the id the callback of that add carries when its CreateTime is the
follow's createtime, so a relation already seen (or a second run) adds nothing downstream.
Each also yields a contact_profile, stamped with the run's day so that running twice the same
day produces identical records (and ids)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.enrichment.profiles import profile
from shared.schemas import ChangeType, ContactEvent
from shared.settings import Topics


def add_event(corp_id: str, row: Mapping[str, Any]) -> ContactEvent:
    contact, follow = row["external_contact"], row["follow_info"]
    return ContactEvent.model_validate(
        {
            "corp_id": corp_id,
            "change_type": ChangeType.ADD,
            "employee_id": follow["userid"],
            "external_userid": contact["external_userid"],
            "occurred_at": int(follow["createtime"]),
            "state": follow.get("state") or None,
            "origin": "reconciliation",
        }
    )


def corrections(
    corp_id: str, rows: Iterable[Mapping[str, Any]], topics: Topics, as_of: datetime
) -> list[Outgoing]:
    """For every follow relation: its add event, then its profile."""
    out: list[Outgoing] = []
    for row in rows:
        event = add_event(corp_id, row)
        out.append(Outgoing(topics.contact_events, event.employee_id, event.to_json()))
        record = profile(row["external_contact"], row["follow_info"], as_of)
        out.append(Outgoing(topics.bank_records, record.entity_key(), record.to_json()))
    return out


def chunks(ids: list[str], size: int = 100) -> list[list[str]]:
    """batch/get_by_user takes at most 100 userids per call."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]

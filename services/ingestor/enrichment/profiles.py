"""WeCom API answers → `contact_profile` records: pure, no I/O.

The scorer applies a contact_profile to the contact (type, corp_name, unionid) and, when it
names an employee, to that employee's relation (add_way, state, oper_userid). Profiles go to
the bank-records topic keyed `contact:<external_userid>`, like the bank's own profiles, so the
enrichment needs no second copy of the contact event (whose event_id the scorer has already
seen) and stays idempotent. Unknown add_way codes pass through untouched (docs/wecom.md
section 3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.schemas import ContactProfileRecord

KNOWN_CONTACT_TYPES = (1, 2)


def profile(
    contact: Mapping[str, Any], follow: Mapping[str, Any] | None, fetched_at: datetime
) -> ContactProfileRecord:
    """One contact as one follower sees it (or the contact alone when `follow` is None)."""
    data: dict[str, Any] = {
        "type": "contact_profile",
        "external_userid": contact["external_userid"],
        "corp_name": contact.get("corp_name") or None,
        "unionid": contact.get("unionid") or None,
        "occurred_at": fetched_at,
    }
    if contact.get("type") in KNOWN_CONTACT_TYPES:
        data["contact_type"] = contact["type"]
    if follow is not None:
        data |= {
            "employee_id": follow.get("userid") or None,
            "add_way": _int_or_none(follow.get("add_way")),
            "state": follow.get("state") or None,
            "oper_userid": follow.get("oper_userid") or None,
            "createtime": _int_or_none(follow.get("createtime")),
        }
    return ContactProfileRecord.model_validate(data)


def follower_profile(
    answer: Mapping[str, Any], employee_id: str, fetched_at: datetime
) -> ContactProfileRecord:
    """From `externalcontact/get`: the contact with this employee's follow details (the
    employee may already have been deleted: then the contact alone)."""
    follows = answer.get("follow_user") or []
    mine = next((f for f in follows if f.get("userid") == employee_id), None)
    return profile(answer["external_contact"], mine, fetched_at)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None

"""The record shapes of docs/contract.md's `/v1/events`, as plain dicts.

Contact events use the callback's own field names (`ToUserName`, `ChangeType`, `UserID`, ...
with `CreateTime` in unix seconds) plus the callback's constant fields, so the same dict can
later be rendered as the XML a real WeCom callback carries (see `feed.callback_xml`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.calendar import BUSINESS_TZ

if TYPE_CHECKING:
    from tools.simulator.ledger import Contact


def rfc3339(at: datetime) -> str:
    """Bank systems send local time with its offset: `2026-10-15T10:00:00+08:00` (whole seconds,
    like `CreateTime`, so every record orders on one clock)."""
    return at.astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat()


def _callback(
    corp_id: str, change: str, employee_id: str, ext: str, at: datetime
) -> dict[str, Any]:
    return {
        "type": "contact_event",
        "ToUserName": corp_id,
        "FromUserName": "sys",
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": change,
        "UserID": employee_id,
        "ExternalUserID": ext,
        "CreateTime": int(at.timestamp()),
    }


def add_event(
    corp_id: str,
    employee_id: str,
    ext: str,
    at: datetime,
    *,
    state: str,
    welcome_code: str | None,
    half: bool = False,
) -> dict[str, Any]:
    change = "add_half_external_contact" if half else "add_external_contact"
    event = {**_callback(corp_id, change, employee_id, ext, at), "State": state}
    if welcome_code is not None:
        event["WelcomeCode"] = welcome_code
    return event


def delete_event(
    corp_id: str,
    employee_id: str,
    ext: str,
    at: datetime,
    *,
    by_customer: bool,
    source: str | None = None,
) -> dict[str, Any]:
    change = "del_follow_user" if by_customer else "del_external_contact"
    event = _callback(corp_id, change, employee_id, ext, at)
    if source is not None and not by_customer:
        event["Source"] = source
    return event


def contact_profile(
    contact: Contact, employee_id: str, add_way: int, state: str, oper: str, at: datetime
) -> dict[str, Any]:
    """What WeCom's `externalcontact/get` tells about the contact and this follower."""
    return {
        "type": "contact_profile",
        "external_userid": contact.external_userid,
        "contact_type": contact.contact_type,
        "corp_name": contact.corp_name,
        "unionid": contact.unionid,
        "employee_id": employee_id,
        "add_way": add_way,
        "state": state or None,
        "oper_userid": oper,
        "createtime": int(at.timestamp()),
        "occurred_at": rfc3339(at),
    }


def customer_link(contact: Contact, assigned: str | None, at: datetime) -> dict[str, Any]:
    """The CRM's verdict: is this WeCom contact one of the bank's customers, and whose."""
    link: dict[str, Any] = {
        "type": "customer_link",
        "external_userid": contact.external_userid,
        "is_customer": bool(contact.is_customer),
        "verified_at": rfc3339(at),
        "occurred_at": rfc3339(at),
    }
    if contact.is_customer:
        link["customer_tier"] = contact.tier
        link["assigned_employee_id"] = assigned
    return link


def message(
    message_id: str, employee_id: str, ext: str, direction: str, kind: str, at: datetime
) -> dict[str, Any]:
    """Chat-archive metadata of one message (never its text)."""
    return {
        "type": "message",
        "message_id": message_id,
        "employee_id": employee_id,
        "external_userid": ext,
        "direction": direction,
        "kind": kind,
        "sent_at": rfc3339(at),
    }


def employee(
    employee_id: str,
    name: str,
    branch_id: str,
    team_id: str,
    supervisor_id: str | None,
    role: str,
    robot_webhook: str | None,
    email: str,
    at: datetime,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "employee",
        "employee_id": employee_id,
        "name": name,
        "branch_id": branch_id,
        "team_id": team_id,
        "supervisor_id": supervisor_id,
        "role": role,
        "active": True,
        "email": email,
        "occurred_at": rfc3339(at),
    }
    if robot_webhook is not None:
        record["robot_webhook"] = robot_webhook
    return record


def target(scope: str, scope_id: str, period: str, value: int, at: datetime) -> dict[str, Any]:
    return {
        "type": "target",
        "scope": scope,
        "scope_id": scope_id,
        "period": period,
        "metric": "valid_adds",
        "value": value,
        "occurred_at": rfc3339(at),
    }


def staff_account(employee_id: str, unionid: str, at: datetime) -> dict[str, Any]:
    """HR's statement that `unionid` is `employee_id`'s own personal WeChat."""
    return {
        "type": "staff_account",
        "employee_id": employee_id,
        "unionid": unionid,
        "occurred_at": rfc3339(at),
    }

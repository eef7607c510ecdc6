"""What one `externalcontact/get` attempt means for the contact: pure, no I/O.

Three verdicts. `Profiled`: WeCom answered with the contact; one `contact_profile` per
follower the lookup was for (the contact alone for one the answer no longer lists).
`NoSuchContact`: WeCom says there is no such contact (84061, 40096): a result, recorded with a
`found=False` profile so that nobody waits for it any more. `Failed`: anything else (a
timeout, a 5xx, a busy or unknown errcode, an answer that is not what the API documents):
looked up again later, with a reason from a small closed set for the metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingestor.enrichment.profiles import follower_profile
from services.ingestor.enrichment.wecom_api import (
    NO_SUCH_CONTACT,
    RATE_LIMITED,
    SYSTEM_BUSY,
    WeComApiError,
)
from shared.schemas import ContactProfileRecord


@dataclass(frozen=True)
class Profiled:
    records: tuple[ContactProfileRecord, ...]


@dataclass(frozen=True)
class NoSuchContact:
    record: ContactProfileRecord
    errcode: int


@dataclass(frozen=True)
class Failed:
    """`reason` is one of FAILURE_REASONS; `detail` is for the log."""

    reason: str
    detail: str

    @property
    def rate_limited(self) -> bool:
        return self.reason == "rate_limited"

    @property
    def wecom_failing(self) -> bool:
        """Counts towards the circuit breaker: WeCom is not answering properly. A 45009 is
        the pace's business (it halves the rate), not a sign of an outage."""
        return self.reason not in ("rate_limited", "publish")


Verdict = Profiled | NoSuchContact | Failed
FAILURE_REASONS = (
    "rate_limited",
    "timeout",
    "network",
    "http_5xx",
    "http_4xx",
    "busy",
    "other_errcode",
    "garbage",
    "publish",
)


def judge_answer(
    external_userid: str, answer: Mapping[str, Any], followers: Sequence[str], at: datetime
) -> Profiled | Failed:
    """An errcode-0 answer: the profiles for `followers`, or `garbage` when the answer is not
    the documented shape (or names another contact)."""
    contact = answer.get("external_contact")
    follows = answer.get("follow_user") or []
    if not isinstance(contact, dict) or contact.get("external_userid") != external_userid:
        return Failed("garbage", "external_contact missing or for another contact")
    if not isinstance(follows, list) or not all(isinstance(f, dict) for f in follows):
        return Failed("garbage", "follow_user is not a list of objects")
    try:
        records = {r.event_id: r for r in (follower_profile(answer, e, at) for e in followers)}
    except (KeyError, TypeError, ValueError) as exc:  # ValidationError is a ValueError
        return Failed("garbage", f"{type(exc).__name__}: {str(exc)[:200]}")
    return Profiled(tuple(records.values()))


def judge_error(external_userid: str, exc: WeComApiError, at: datetime) -> NoSuchContact | Failed:
    if exc.errcode in NO_SUCH_CONTACT:
        return NoSuchContact(not_found_record(external_userid, exc.errcode, at), exc.errcode)
    return Failed(failure_reason(exc), str(exc))


def failure_reason(exc: WeComApiError) -> str:
    if exc.errcode == RATE_LIMITED:
        return "rate_limited"
    if exc.errcode == SYSTEM_BUSY:
        return "busy"
    if exc.errcode is not None:
        return "other_errcode"
    if exc.reason.startswith("http_"):
        return "http_5xx" if exc.reason.startswith("http_5") else "http_4xx"
    return exc.reason if exc.reason in ("timeout", "garbage") else "network"


def not_found_record(external_userid: str, errcode: int, at: datetime) -> ContactProfileRecord:
    """The contact alone (no follower): WeCom knows no such contact, so it knows no follow."""
    return ContactProfileRecord.model_validate(
        {
            "type": "contact_profile",
            "external_userid": external_userid,
            "found": False,
            "lookup_errcode": errcode,
            "occurred_at": at,
        }
    )

"""The rule computation of valid adds (docs/product.md, Quota, default rules), from records alone.

The evaluation compares the running system's `valid_adds` with this, so it reads nothing but
the `/v1/events` records a scenario sends: an add is valid when it is the employee's first add
of the contact, the contact is not a peer (a `type = 2` WeCom user whose `corp_name` names a
financial institution, a known employee's own account, or an account HR's `staff_account`
records name), the employee won it (not inherited: `add_way` 202 in the follower's profile, or
received in a colleague's handover), and neither side removed it within the retention window
(`DELETE_BY_TRANSFER` excepted); while that window is still open at `as_of` it is pending.
An add whose contact has no profile is pending for PROFILE_WAIT, then invalid (unverified).
Re-adds count as gross adds only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from shared.calendar import BUSINESS_TZ, Period, local_date
from tools.simulator.config import DEFAULT_PEER_PATTERNS

RETENTION = timedelta(days=7)
PROFILE_WAIT = timedelta(hours=72)
HANDOVER_MATCH = timedelta(minutes=10)
"""The receiving side of a handover: an add this close to a colleague's DELETE_BY_TRANSFER of the
same contact (docs/product.md, validity rule 4; the scorer's own rule)."""
INHERITED_ADD_WAYS = frozenset({202})
_ADDS = frozenset({"add_external_contact", "add_half_external_contact"})
_REMOVALS = frozenset({"del_external_contact", "del_follow_user"})
_TRANSFER = "DELETE_BY_TRANSFER"


class AddStatus(StrEnum):
    VALID = "valid"
    PENDING = "pending"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ExpectedQuota:
    """One employee's add counts for the period, as the default rules give them at `as_of`."""

    gross_adds: int = 0
    first_adds: int = 0
    valid_adds: int = 0
    pending_adds: int = 0
    invalid_adds: int = 0


@dataclass(slots=True)
class _Relation:
    adds: list[datetime] = field(default_factory=list)
    churn: list[datetime] = field(default_factory=list)
    add_way: int | None = None


@dataclass(slots=True)
class _Facts:
    relations: dict[tuple[str, str], _Relation] = field(default_factory=dict)
    profiles: dict[str, tuple[int | None, str | None, str | None]] = field(default_factory=dict)
    employees: set[str] = field(default_factory=set)
    staff_contacts: set[str] = field(default_factory=set)
    staff_unionids: set[str] = field(default_factory=set)
    transfers: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)

    def relation(self, key: tuple[str, str]) -> _Relation:
        return self.relations.setdefault(key, _Relation())

    def is_staff(self, ext: str) -> bool:
        unionid = self.profiles.get(ext, (None, None, None))[2]
        return ext in self.staff_contacts or (
            unionid is not None and unionid in self.staff_unionids
        )

    def handed_over(self, employee_id: str, ext: str, first: datetime) -> bool:
        return any(
            giver != employee_id and abs(at - first) <= HANDOVER_MATCH
            for giver, at in self.transfers.get(ext, ())
        )


def is_peer_corp(contact_type: int | None, corp_name: str | None, patterns: Iterable[str]) -> bool:
    """A WeCom user (`type = 2`) of a bank or other financial institution."""
    if contact_type != 2 or not corp_name:
        return False
    name = corp_name.lower()
    return any(p and p.lower() in name for p in patterns)


def contact_statuses(
    records: Iterable[Mapping[str, Any]],
    as_of: datetime,
    period: Period,
    *,
    retention: timedelta = RETENTION,
    peer_patterns: Iterable[str] = DEFAULT_PEER_PATTERNS,
    tz: ZoneInfo = BUSINESS_TZ,
) -> dict[tuple[str, str], AddStatus]:
    """The status of every (employee, contact) whose first add falls in `period`, judged on
    the facts with an event time at or before `as_of`."""
    facts = _facts(records, as_of)
    patterns = tuple(peer_patterns)
    statuses: dict[tuple[str, str], AddStatus] = {}
    for key, rel in facts.relations.items():
        if not rel.adds:
            continue
        first = min(rel.adds)
        if local_date(first, tz) not in period:
            continue
        profiled = key[1] in facts.profiles
        contact_type, corp_name, _ = facts.profiles.get(key[1], (None, None, None))
        peer = is_peer_corp(contact_type, corp_name, patterns) or key[1] in facts.employees
        inherited = rel.add_way in INHERITED_ADD_WAYS or facts.handed_over(*key, first)
        refused = peer or inherited or facts.is_staff(key[1])
        if refused or any(first <= t < first + retention for t in rel.churn):
            statuses[key] = AddStatus.INVALID
        elif not profiled:
            statuses[key] = AddStatus.PENDING if as_of < first + PROFILE_WAIT else AddStatus.INVALID
        elif as_of < first + retention:
            statuses[key] = AddStatus.PENDING
        else:
            statuses[key] = AddStatus.VALID
    return statuses


def expected_quota(
    records: Iterable[Mapping[str, Any]],
    as_of: datetime,
    period: Period,
    *,
    retention: timedelta = RETENTION,
    peer_patterns: Iterable[str] = DEFAULT_PEER_PATTERNS,
    tz: ZoneInfo = BUSINESS_TZ,
) -> dict[str, ExpectedQuota]:
    """Per employee (every employee record, and anyone who added): gross, first, valid,
    pending and invalid adds of `period` at `as_of`."""
    records = list(records)
    statuses = contact_statuses(
        records, as_of, period, retention=retention, peer_patterns=peer_patterns, tz=tz
    )
    counts: dict[str, dict[str, int]] = {}

    def bump(employee_id: str, name: str) -> None:
        row = counts.setdefault(employee_id, {})
        row[name] = row.get(name, 0) + 1

    for record in records:
        if record.get("type") == "employee":
            counts.setdefault(str(record["employee_id"]), {})
        elif record.get("type") == "contact_event" and record.get("ChangeType") in _ADDS:
            at = _event_time(record)
            if at <= as_of and local_date(at, tz) in period:
                bump(str(record["UserID"]), "gross_adds")
    for (employee_id, _), status in statuses.items():
        bump(employee_id, "first_adds")
        bump(employee_id, f"{status.value}_adds")
    return {emp: ExpectedQuota(**row) for emp, row in sorted(counts.items())}


def _facts(records: Iterable[Mapping[str, Any]], as_of: datetime) -> _Facts:
    facts = _Facts()
    for record in records:
        kind = record.get("type")
        if kind == "employee":
            facts.employees.add(str(record["employee_id"]))
        elif kind == "staff_account":
            if record.get("external_userid"):
                facts.staff_contacts.add(str(record["external_userid"]))
            if record.get("unionid"):
                facts.staff_unionids.add(str(record["unionid"]))
        elif kind == "contact_profile":
            _profile(facts, record)
        elif kind == "contact_event":
            at = _event_time(record)
            if at > as_of:
                continue
            change = record.get("ChangeType")
            key = (str(record["UserID"]), str(record["ExternalUserID"]))
            rel = facts.relation(key)
            if change in _ADDS:
                rel.adds.append(at)
            elif change in _REMOVALS and record.get("Source") != _TRANSFER:
                rel.churn.append(at)
            elif change in _REMOVALS:
                facts.transfers.setdefault(key[1], []).append((key[0], at))
    return facts


def _profile(facts: _Facts, record: Mapping[str, Any]) -> None:
    ext = str(record["external_userid"])
    if record.get("found", True):
        facts.profiles[ext] = (
            record.get("contact_type", record.get("external_type", 1)),
            record.get("corp_name"),
            record.get("unionid"),
        )
    else:
        facts.profiles.setdefault(ext, (None, None, None))
    if record.get("employee_id") and record.get("add_way") is not None:
        facts.relation((str(record["employee_id"]), ext)).add_way = int(record["add_way"])


def _event_time(record: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(record["CreateTime"]), tz=UTC)

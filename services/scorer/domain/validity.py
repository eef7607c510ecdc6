"""Is an add valid? Per contact, pure (PRODUCT.md, Quota).

Valid when: it is this employee's first add of the contact; the contact is not a peer; neither
side removed it within the retention window (DELETE_BY_TRANSFER excepted); and the optional
bank rules hold. Until the window ends without a removal it is pending. Windows are judged by
event time, so a late removal still counts against the add it follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.scorer.domain.rules import ScoringRules
from shared.schemas import DELETE_BY_TRANSFER


class ContactStatus(StrEnum):
    VALID = "valid"
    PENDING = "pending"
    INVALID = "invalid"


@dataclass(frozen=True)
class Removal:
    removed_at: datetime
    removed_by: str  # employee | customer
    source: str | None = None

    @property
    def is_churn(self) -> bool:
        return self.source != DELETE_BY_TRANSFER


@dataclass(frozen=True)
class ContactFacts:
    """What we know of one (employee, contact) relation whose first add is in the period."""

    employee_id: str
    external_userid: str
    first_added_at: datetime
    add_count: int = 1
    contact_type: int | None = None
    corp_name: str | None = None
    is_customer: bool | None = None
    customer_tier: str | None = None
    assigned_employee_id: str | None = None
    state: str | None = None
    add_way: int | None = None
    first_customer_msg_at: datetime | None = None
    customer_msgs: int = 0
    one_to_one_msgs: int = 0
    mass_msgs: int = 0
    new_to_bank: bool = False
    removals: tuple[Removal, ...] = ()
    is_employee_account: bool = False


@dataclass(frozen=True)
class ContactVerdict:
    facts: ContactFacts
    status: ContactStatus
    reasons: tuple[str, ...] = field(default=())
    removed_in_window: Removal | None = None

    @property
    def flags(self) -> list[str]:
        return [r for r in self.reasons if r.isupper()]


def churn_after(facts: ContactFacts, within: timedelta) -> Removal | None:
    """The first removal (not a handover) within `within` of the first add; of removals at the
    same moment, the same one whatever order they were read in."""
    end = facts.first_added_at + within
    hits = [r for r in facts.removals if r.is_churn and facts.first_added_at <= r.removed_at < end]
    return min(hits, key=lambda r: (r.removed_at, r.removed_by, r.source or "")) if hits else None


def classify(facts: ContactFacts, rules: ScoringRules, now: datetime) -> ContactVerdict:
    reasons: list[str] = []
    if rules.is_peer_institution(facts.contact_type, facts.corp_name):
        reasons.append("PEER_INSTITUTION")
    if facts.is_employee_account:
        reasons.append("PEER_INSTITUTION")
    if rules.require_customer_match and not facts.is_customer:
        reasons.append("not_a_matched_customer")
    if rules.require_assignment and facts.assigned_employee_id != facts.employee_id:
        reasons.append("not_assigned_to_employee")
    removal = churn_after(facts, rules.retention_window)
    if removal is not None:
        reasons.append("QUICK_DELETE")
    if reasons:
        return ContactVerdict(facts, ContactStatus.INVALID, tuple(dict.fromkeys(reasons)), removal)
    if now < facts.first_added_at + rules.retention_window:
        return ContactVerdict(facts, ContactStatus.PENDING, ("retention_window_open",))
    return ContactVerdict(facts, ContactStatus.VALID)


def apply_state_cap(
    verdicts: list[ContactVerdict], cap: int | None, day_of: object
) -> list[ContactVerdict]:
    """Optional rule: at most `cap` adds from one channel state per day count; the rest are
    invalid (earliest first keep their place; adds of the same moment in contact order, so
    the outcome never depends on the order the relations were read in)."""
    if cap is None:
        return verdicts
    seen: dict[tuple[object, str], int] = {}
    out: list[ContactVerdict] = []
    for v in sorted(verdicts, key=lambda v: (v.facts.first_added_at, v.facts.external_userid)):
        state = v.facts.state
        if not state or v.status is ContactStatus.INVALID:
            out.append(v)
            continue
        key = (day_of(v.facts.first_added_at) if callable(day_of) else None, state)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > cap:
            out.append(ContactVerdict(v.facts, ContactStatus.INVALID, ("state_daily_cap",)))
        else:
            out.append(v)
    return out

"""Is an add valid? Per contact, pure (docs/product.md, Quota).

Valid when: it is this employee's first add of the contact; the contact is not a peer nor an
employee's own personal account (HR's staff_account records); the employee won the customer
(not inherited: assigned by an admin, handed over by a colleague); neither side removed it
within the retention window (DELETE_BY_TRANSFER excepted); and the optional bank rules hold.
A reviewer's verdict overrides the suspicions: `gamed` makes the add invalid (REVIEWED_GAMED);
`genuine` sets aside the profile-based ones (a peer institution's name, the wait for an unknown
profile), never the rules about whose add it is or its removal.

An add is never valid before it is known to be: while the contact's profile is unknown (no
lookup answered yet) the add is pending (`profile_unknown`), since a peer bank's staff look
like anyone else until their corp_name is known. After `profile_wait` without an answer it is
invalid (`unverified`), or judged without the profile when the bank counts unverified adds.
WeCom answering "no such contact" ends the wait: the add is judged on what else is known and
carries the flag PROFILE_NOT_FOUND. A known reason to refuse the add does not wait for the
profile. Until the retention window ends without a removal the add is pending. Windows are
judged by event time, so a late removal still counts against the add it follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.scorer.domain.rules import ScoringRules
from shared.schemas import DELETE_BY_TRANSFER

HANDOVER_MATCH = timedelta(minutes=10)
"""An add within this time of a colleague's DELETE_BY_TRANSFER of the same contact is the
receiving side of that handover: WeCom removes and adds at the moment the handover succeeds.
Kept short, so that a colleague's own add of the same customer hours before or after a
handover is not taken for it."""

# Reasons (lower case: why; upper case: a contact flag a reviewer sees).
PROFILE_UNKNOWN = "profile_unknown"
UNVERIFIED = "unverified"
PROFILE_NOT_FOUND = "profile_not_found"
STAFF_ACCOUNT = "staff_account"
PEER_INSTITUTION = "PEER_INSTITUTION"
REVIEWED_GAMED = "REVIEWED_GAMED"
"""A reviewer judged the add gamed: invalid, and flagged so (docs/console.md)."""
REVIEWED_GENUINE = "REVIEWED_GENUINE"
"""A reviewer judged the contact a genuine customer: the profile-based suspicions (a peer
institution's name, an unknown profile) no longer hold the add back."""
GENUINE = "genuine"
GAMED = "gamed"
INHERITED = "inherited"
RETENTION_WINDOW_OPEN = "retention_window_open"
REASON_FLAGS = {
    STAFF_ACCOUNT: "STAFF_ACCOUNT",
    PROFILE_NOT_FOUND: "PROFILE_NOT_FOUND",
    UNVERIFIED: "UNVERIFIED",
}
"""Reasons that are also shown as a contact flag."""


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
    profile_found: bool | None = None
    """True: WeCom's profile is known; False: WeCom said no such contact; None: no answer yet."""
    staff_account_of: str | None = None
    """The employee whose own personal account this contact is (HR's staff_account)."""
    handed_over: bool = False
    """This add received the contact from a colleague's successful handover (在职/离职继承)."""
    review: str | None = None
    """A reviewer's verdict on this relation: `genuine`, `gamed` or None (contact_verdict)."""
    campaign: str | None = None
    """The known campaign (its name) the add came through: its channel state, the employee's
    team and the add's time match one registered by ops."""
    removals: tuple[Removal, ...] = ()
    is_employee_account: bool = False
    seen_at: datetime | None = None
    """When the scorer first stored the add (its clock): the wait for a profile starts then,
    not at the add's event time, so a month backfilled weeks later still waits for its
    lookups instead of being judged unverified on arrival."""

    @property
    def profile_wait_from(self) -> datetime:
        return max(self.first_added_at, self.seen_at or self.first_added_at)


@dataclass(frozen=True)
class ContactVerdict:
    facts: ContactFacts
    status: ContactStatus
    reasons: tuple[str, ...] = field(default=())
    removed_in_window: Removal | None = None

    @property
    def flags(self) -> list[str]:
        return [REASON_FLAGS.get(r, r) for r in self.reasons if r.isupper() or r in REASON_FLAGS]

    def has(self, reason: str) -> bool:
        return reason in self.reasons


def churn_after(facts: ContactFacts, within: timedelta) -> Removal | None:
    """The first removal (not a handover) within `within` of the first add; of removals at the
    same moment, the same one whatever order they were read in."""
    if not facts.removals:  # most relations
        return None
    end = facts.first_added_at + within
    hits = [r for r in facts.removals if r.is_churn and facts.first_added_at <= r.removed_at < end]
    return min(hits, key=lambda r: (r.removed_at, r.removed_by, r.source or "")) if hits else None


def is_inherited(facts: ContactFacts, rules: ScoringRules) -> bool:
    """A customer the employee did not win: assigned by an admin (add_way 202, or 201 when
    the bank says so), or received in a colleague's handover."""
    return facts.handed_over or facts.add_way in rules.inherited_add_ways


def refusals(facts: ContactFacts, rules: ScoringRules) -> list[str]:
    """The reasons, known now, that the add is not a valid add of this employee."""
    reasons: list[str] = []
    if facts.review == GAMED:
        reasons.append(REVIEWED_GAMED)
    genuine = facts.review == GENUINE
    if not genuine and rules.is_peer_institution(facts.contact_type, facts.corp_name):
        reasons.append(PEER_INSTITUTION)
    if facts.is_employee_account:
        reasons.append(PEER_INSTITUTION)
    if facts.staff_account_of is not None:
        reasons.append(STAFF_ACCOUNT)
    if is_inherited(facts, rules) and not rules.count_inherited_as_valid:
        reasons.append(INHERITED)
    if rules.require_customer_match and not facts.is_customer:
        reasons.append("not_a_matched_customer")
    if rules.require_assignment and facts.assigned_employee_id != facts.employee_id:
        reasons.append("not_assigned_to_employee")
    return reasons


def classify(facts: ContactFacts, rules: ScoringRules, now: datetime) -> ContactVerdict:
    reasons = refusals(facts, rules)
    removal = churn_after(facts, rules.retention_window)
    if removal is not None:
        reasons.append("QUICK_DELETE")
    notes: list[str] = []  # facts worth showing that do not refuse the add
    if facts.review == GENUINE:
        notes.append(REVIEWED_GENUINE)
    if facts.profile_found is False:
        notes.append(PROFILE_NOT_FOUND)
    if INHERITED not in reasons and is_inherited(facts, rules):
        notes.append(INHERITED)  # counted as valid by the bank's rule, and shown apart
    if reasons:
        return ContactVerdict(
            facts, ContactStatus.INVALID, tuple(dict.fromkeys(reasons + notes)), removal
        )
    if facts.profile_found is None and facts.review != GENUINE:
        if now < facts.profile_wait_from + rules.profile_wait:
            return ContactVerdict(facts, ContactStatus.PENDING, (PROFILE_UNKNOWN, *notes))
        if not rules.count_unverified_as_valid:
            return ContactVerdict(facts, ContactStatus.INVALID, (UNVERIFIED, *notes))
        notes.append(UNVERIFIED)
    if now < facts.first_added_at + rules.retention_window:
        return ContactVerdict(facts, ContactStatus.PENDING, (RETENTION_WINDOW_OPEN, *notes))
    return ContactVerdict(facts, ContactStatus.VALID, tuple(notes))


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

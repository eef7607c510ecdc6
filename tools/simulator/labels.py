"""Ground truth: the gaming patterns of docs/product.md (Anomaly), the adaptive gamers who
dodge them, and the honest look-alikes.

The simulator labels every employee and every (employee, contact) relation with one of these,
so that an evaluation can grade the anomaly scores and the per-contact flags it produces.

A relation's label is an accusation or its absence: a gaming kind says the add itself was
gamed (bought, a peer institution, a ring, kept just long enough, padding). Facts about a
relation that honest customers share with gamed ones (the customer deleted the employee, the
customer has not written yet) are never labels; they are `ContactFact`s, kept apart, so that a
genuine customer who has not written yet is graded as what they are: honest."""

from __future__ import annotations

from enum import StrEnum


class Pattern(StrEnum):
    """A way of gaming the add count; the values are docs/product.md's reason codes."""

    QR_BATCH_BURST = "QR_BATCH_BURST"
    PEER_INSTITUTION = "PEER_INSTITUTION"
    MUTUAL_ADD_RING = "MUTUAL_ADD_RING"
    QUICK_DELETE = "QUICK_DELETE"
    NO_ENGAGEMENT = "NO_ENGAGEMENT"
    PERIOD_END_PILEUP = "PERIOD_END_PILEUP"


class Adaptive(StrEnum):
    """Gamers who have learnt what the patterns above look for and avoid it (issue #20).

    No reason code of docs/product.md is named after them: a detector may explain a catch in
    any terms, so any reason code on a flagged adaptive gamer counts as catching them."""

    BEHAVING_BOUGHT = "BEHAVING_BOUGHT"
    """Bought real-person adds over a few days that greet at once and chat for weeks."""
    SLOW_DRIP = "SLOW_DRIP"
    """Bought or hollow adds, a few every day of the month, weekends included."""
    TEAM_RING = "TEAM_RING"
    """Colleagues of one team adding each other's personal contacts and shared friends."""
    SPREAD_PILEUP = "SPREAD_PILEUP"
    """A month-end pile-up spread over the last seven days instead of the last two or three."""
    LATE_DELETE = "LATE_DELETE"
    """Adds kept just past the retention window, then removed by the employee."""
    STAFF_PADDING = "STAFF_PADDING"
    """Personal WeChat accounts of the bank's staff in other branches."""


class HardNegative(StrEnum):
    """Honest work that looks unusual: a detector must stay quiet on these."""

    BRANCH_EVENT = "branch_event"
    NEW_HIRE = "new_hire"
    TEAM_MONTH_END = "team_month_end"
    TOP_PERFORMER = "top_performer"
    PROSPECTOR = "prospector"
    """Acquisition work: most adds are not customers yet, but the conversations are real."""
    INHERITED_BOOK = "inherited_book"
    """Many engaged customers received at once from a colleague who left."""
    HOLIDAY_EVENT = "holiday_event"
    """A branch event on a public holiday or a weekend: a burst of real customers."""


class ContactFact(StrEnum):
    """Facts about a relation at the end of the simulated window, gamed or not: never an
    accusation on their own."""

    NOT_WRITTEN_YET = "not_written_yet"
    """The contact has not sent a one-to-one message to this employee (yet)."""
    DELETED_BY_CUSTOMER = "deleted_by_customer"
    """The contact removed the employee (`del_follow_user`) at least once."""


CLEAN = "clean"

EQUIVALENT_CODES: dict[str, frozenset[str]] = {
    Pattern.MUTUAL_ADD_RING.value: frozenset({"MUTUAL_ADD_RING", "SHARED_CONTACTS"}),
}
"""Reason codes a detector may use for a labelled pattern: docs/product.md names shared contacts and
mutual-add rings as one family, so a ring's contacts flagged `SHARED_CONTACTS` are a hit."""


def hard_negative_label(kind: HardNegative) -> str:
    """The label text of an honest look-alike, e.g. `hard_negative:branch_event`."""
    return f"hard_negative:{kind.value}"


GAMING_KINDS: frozenset[str] = frozenset(Pattern.__members__) | frozenset(Adaptive.__members__)
HONEST_KINDS: frozenset[str] = frozenset(
    {CLEAN, *(f"hard_negative:{kind.value}" for kind in HardNegative)}
)


def is_gaming(label: str) -> bool:
    """Whether a label (employee or contact) names a gaming pattern or an adaptive gamer."""
    return label in GAMING_KINDS


def is_adaptive(label: str) -> bool:
    return label in Adaptive.__members__


def accepted_codes(label: str) -> frozenset[str]:
    """The reason codes that count as catching a known pattern `label` (empty for honest
    labels and for adaptive gamers, whom any reason code catches: see `is_caught`)."""
    if label not in Pattern.__members__:
        return frozenset()
    return EQUIVALENT_CODES.get(label, frozenset({label}))


def is_caught(label: str, flagged: bool, codes: frozenset[str]) -> bool:
    """Whether a flagged employee's reason codes catch their gaming `label`: a known pattern
    needs its own code (or an equivalent one), an adaptive gamer any code at all."""
    if not flagged or not is_gaming(label):
        return False
    return bool(codes) if is_adaptive(label) else bool(codes & accepted_codes(label))

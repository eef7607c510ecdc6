"""Ground truth: the gaming patterns of docs/product.md (Anomaly) and the honest look-alikes.

The simulator labels every employee and every (employee, contact) relation with one of these,
so that an evaluation can grade the anomaly scores and the per-contact flags it produces."""

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


class HardNegative(StrEnum):
    """Honest work that looks unusual: a detector must stay quiet on these."""

    BRANCH_EVENT = "branch_event"
    NEW_HIRE = "new_hire"
    TEAM_MONTH_END = "team_month_end"
    TOP_PERFORMER = "top_performer"


CLEAN = "clean"

EQUIVALENT_CODES: dict[str, frozenset[str]] = {
    Pattern.MUTUAL_ADD_RING.value: frozenset({"MUTUAL_ADD_RING", "SHARED_CONTACTS"}),
}
"""Reason codes a detector may use for a labelled pattern: docs/product.md names shared contacts and
mutual-add rings as one family, so a ring's contacts flagged `SHARED_CONTACTS` are a hit."""


def hard_negative_label(kind: HardNegative) -> str:
    """The label text of an honest look-alike, e.g. `hard_negative:branch_event`."""
    return f"hard_negative:{kind.value}"


def is_gaming(label: str) -> bool:
    """Whether a label (employee or contact) names a gaming pattern."""
    return label in Pattern.__members__


def accepted_codes(label: str) -> frozenset[str]:
    """The reason codes that count as catching `label` (empty for honest labels)."""
    if not is_gaming(label):
        return frozenset()
    return EQUIVALENT_CODES.get(label, frozenset({label}))

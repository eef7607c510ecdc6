"""Quality of an employee's adds in a period (docs/product.md, Quality): pure.

Each component is a share in [0, 1] reported on its own, None when nothing is decided yet
(windows still open count as pending, not as zero); the score is the weighted mean of the
components that exist, scaled to 0–100."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.scorer.domain.rules import QualityWeights
from services.scorer.domain.validity import (
    STAFF_ACCOUNT,
    ContactStatus,
    ContactVerdict,
    churn_after,
)


@dataclass(frozen=True)
class ChatStats:
    """An employee's chat metadata in the period (from the message stream)."""

    customer_chats: int = 0  # customer-initiated chat-days
    answered_same_day: int = 0
    median_first_reply_seconds: float | None = None
    one_to_one_sent: int = 0
    mass_sent: int = 0


def _share(hits: int, decided: int) -> float | None:
    return round(hits / decided, 4) if decided else None


def engagement(
    verdicts: Sequence[ContactVerdict], days: int, now: datetime
) -> tuple[float | None, int]:
    """Share of adds where the customer wrote within `days`; (share, pending count)."""
    window = timedelta(days=days)
    hits = decided = pending = 0
    for v in verdicts:
        f = v.facts
        wrote = f.first_customer_msg_at is not None and (
            f.first_added_at <= f.first_customer_msg_at < f.first_added_at + window
        )
        if wrote:
            hits += 1
            decided += 1
        elif now >= f.first_added_at + window:
            decided += 1
        else:
            pending += 1
    return _share(hits, decided), pending


def retention(
    verdicts: Sequence[ContactVerdict], days: int, now: datetime
) -> tuple[float | None, int]:
    window = timedelta(days=days)
    kept = decided = pending = 0
    for v in verdicts:
        lost = churn_after(v.facts, window) is not None
        if lost:
            decided += 1
        elif now >= v.facts.first_added_at + window:
            kept += 1
            decided += 1
        else:
            pending += 1
    return _share(kept, decided), pending


def quality(
    verdicts: Sequence[ContactVerdict],
    chats: ChatStats,
    weights: QualityWeights,
    engagement_days: int,
    retention_days: int,
    now: datetime,
) -> tuple[float | None, dict[str, Any]]:
    """Components over the period's first adds that are not peers nor staff accounts, and the
    weighted score."""
    considered = [v for v in verdicts if not v.has("PEER_INSTITUTION") and not v.has(STAFF_ACCOUNT)]
    matched = sum(1 for v in considered if v.facts.is_customer)
    engaged, engagement_pending = engagement(considered, engagement_days, now)
    retained, retention_pending = retention(considered, retention_days, now)
    components: dict[str, float | None] = {
        "customer_match": _share(matched, len(considered)),
        "engagement": engaged,
        "retention": retained,
        "responsiveness": _share(chats.answered_same_day, chats.customer_chats),
        "personal_touch": _share(chats.one_to_one_sent, chats.one_to_one_sent + chats.mass_sent),
    }
    weighted = [
        (value, getattr(weights, name)) for name, value in components.items() if value is not None
    ]
    total = sum(w for _, w in weighted)
    score = round(100 * sum(v * w for v, w in weighted) / total, 1) if total else None
    details: dict[str, Any] = {
        **components,
        "engagement_pending": engagement_pending,
        "retention_pending": retention_pending,
        "median_first_reply_seconds": chats.median_first_reply_seconds,
        "matched_customers": matched,
        "customer_tiers": _tiers(considered),
    }
    return score, details


def _tiers(verdicts: Sequence[ContactVerdict]) -> dict[str, int]:
    tiers: dict[str, int] = {}
    for v in verdicts:
        if v.facts.is_customer and v.facts.customer_tier:
            tiers[v.facts.customer_tier] = tiers.get(v.facts.customer_tier, 0) + 1
    return tiers


def count_by_status(verdicts: Sequence[ContactVerdict]) -> dict[ContactStatus, int]:
    counts = dict.fromkeys(ContactStatus, 0)
    for v in verdicts:
        counts[v.status] += 1
    return counts

"""Quality of an employee's adds in a period (docs/product.md, Quality): pure.

Each component is a share in [0, 1] reported on its own, None when nothing is decided yet
(windows still open count as pending, not as zero); the score is the weighted mean of the
components that exist, scaled to 0–100. The shares are computed from counters (what each
relation's standing counts, kept by deltas: domain/tally.py) and the chat figures, so the
incremental path and the slow recount share one formula."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scorer.domain.rules import QualityWeights, ScoringRules
from services.scorer.domain.tally import standing_of
from services.scorer.domain.validity import ContactStatus, ContactVerdict


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


def quality_from(
    counts: Mapping[str, int],
    tiers: Mapping[str, int],
    chats: ChatStats,
    weights: QualityWeights,
) -> tuple[float | None, dict[str, Any]]:
    """Components and the weighted score from the period's counters (domain/tally.py:
    QUALITY_COUNTERS, kept by deltas) and chat figures; `tiers` the matched adds by customer
    tier."""
    considered = counts.get("considered_adds", 0)
    matched = counts.get("matched_adds", 0)
    components: dict[str, float | None] = {
        "customer_match": _share(matched, considered),
        "engagement": _share(counts.get("engaged_adds", 0), counts.get("engagement_decided", 0)),
        "retention": _share(counts.get("retained_adds", 0), counts.get("retention_decided", 0)),
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
        "engagement_pending": counts.get("engagement_pending", 0),
        "retention_pending": counts.get("retention_pending", 0),
        "median_first_reply_seconds": chats.median_first_reply_seconds,
        "matched_customers": matched,
        "customer_tiers": {t: n for t, n in sorted(tiers.items()) if n},
    }
    return score, details


def quality(
    verdicts: Sequence[ContactVerdict],
    chats: ChatStats,
    rules: ScoringRules,
    now: datetime,
) -> tuple[float | None, dict[str, Any]]:
    """The same figures counted the slow way, from the verdicts of the period's first adds
    (the verifier's recount; tests)."""
    counts: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for v in verdicts:
        standing = standing_of(v, rules, now)
        counts.update(standing.counts())
        if standing.counted_tier is not None:
            tiers[standing.counted_tier] += 1
    return quality_from(counts, tiers, chats, rules.quality_weights)


def count_by_status(verdicts: Sequence[ContactVerdict]) -> dict[ContactStatus, int]:
    counts = dict.fromkeys(ContactStatus, 0)
    for v in verdicts:
        counts[v.status] += 1
    return counts

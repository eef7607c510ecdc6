"""DELETED_AFTER_WINDOW (domain/window_deletes.py, domain/signals.py): adds removed by the
employee just after the retention window ended are accused; removals at other times, or by the
customer, are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.scorer.domain.anomaly import PeerBaseline, assess
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import ContactFacts, ContactVerdict, Removal, classify

START = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = timedelta(days=7)
END = datetime(2026, 11, 1, tzinfo=UTC)


def deleted_after_window(vs: list[ContactVerdict]) -> tuple[dict[str, Any], list[str]] | None:
    """The reason's evidence and the contacts it accuses, as `assess` gives them (None: none)."""
    result = assess(vs, {}, PeerBaseline(), END, 31, NOW, UTC, retention=WINDOW)
    reason = next((r for r in result.reasons if r["code"] == "DELETED_AFTER_WINDOW"), None)
    if reason is None:
        return None
    accused = [c for c, codes in result.contact_flags.items() if "DELETED_AFTER_WINDOW" in codes]
    return reason["evidence"], sorted(accused)


def adds(n: int, removed_after: timedelta | None, by: str = "employee") -> list[ContactVerdict]:
    out = []
    for i in range(n):
        at = START + timedelta(hours=5 * i)
        gone = () if removed_after is None else (Removal(at + removed_after, by),)
        facts = ContactFacts(
            "e1", f"wm{i}", at, is_customer=False, removals=gone, profile_found=True
        )
        out.append(classify(facts, ScoringRules(), NOW))
    return out


def test_removals_just_after_the_window_are_accused() -> None:
    kept = adds(60, None)
    late = [
        classify(
            ContactFacts(
                "e1",
                f"late{i}",
                START + timedelta(hours=7 * i),
                removals=(
                    Removal(
                        START + timedelta(hours=7 * i) + WINDOW + timedelta(hours=3), "employee"
                    ),
                ),
                profile_found=True,
            ),
            ScoringRules(),
            NOW,
        )
        for i in range(20)
    ]
    found = deleted_after_window(kept + late)
    assert found is not None
    evidence, accused = found
    assert evidence["surprise"] > 3
    assert evidence["removed_just_after_window"] == 20
    assert evidence["hours_after_window_median"] == 3.0
    assert evidence["examples"] == [f"late{i}" for i in range(5)]
    assert accused == sorted(v.facts.external_userid for v in late)


def test_removals_at_other_times_or_by_the_customer_are_not() -> None:
    assert deleted_after_window(adds(30, timedelta(days=20))) is None
    assert deleted_after_window(adds(30, WINDOW + timedelta(hours=3), by="customer")) is None
    # a handful is not a pattern
    assert deleted_after_window(adds(4, WINDOW + timedelta(hours=3)) + adds(50, None)) is None

"""Reusing bank-wide figures between refresh rounds (services/scorer/domain/reuse.py)."""

from __future__ import annotations

from services.scorer.domain.reuse import Computed, ReuseCache


def test_a_figure_is_reused_longer_the_longer_it_took() -> None:
    """Recomputing gets at most about a tenth of the refresh's time, however large the bank."""
    slow = Computed(done_at=100.0, seconds=40.0, value=None)
    assert slow.usable(499.0) and not slow.usable(501.0)
    assert slow.usable(499.0, floor=30.0) and not slow.usable(501.0, floor=30.0)


def test_a_quick_figure_is_computed_afresh_unless_a_floor_says_otherwise() -> None:
    quick = Computed(done_at=100.0, seconds=0.05, value=None)
    assert not quick.usable(100.01)  # a small bank, the tests: always exact
    assert quick.usable(129.0, floor=30.0) and not quick.usable(131.0, floor=30.0)


def test_the_cache_keeps_only_figures_still_usable() -> None:
    cache = ReuseCache[str](floor=10.0)
    cache.put("2026-09", started=0.0, now=1.0, value="september")
    assert cache.get("2026-09", now=5.0) == "september"
    cache.put("2026-Q3", started=4.0, now=5.0, value="q3")
    assert set(cache.keys()) == {"2026-09", "2026-Q3"}
    assert cache.get("2026-09", now=12.0) is None  # older than the floor
    cache.put("2026-10", started=12.0, now=13.0, value="october")
    assert set(cache.keys()) == {"2026-Q3", "2026-10"}  # september pruned, never read again

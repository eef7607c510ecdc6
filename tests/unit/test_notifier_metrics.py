"""The notifier exports its dead-letter counter at 0 from the start: Prometheus sees no
increase in a series born at 1, so the first dead letter would otherwise raise no alert."""

from __future__ import annotations

from prometheus_client import REGISTRY

import services.notifier.intake  # noqa: F401  (defines and initialises the counter)


def test_breach_outcomes_are_exported_before_any_breach() -> None:
    for outcome in ("recorded", "duplicate", "dead_letter"):
        labels = {"outcome": outcome}
        assert REGISTRY.get_sample_value("notifier_breaches_total", labels) is not None, outcome

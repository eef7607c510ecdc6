"""Reading counters out of a Prometheus exposition text (pure)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def counter_total(text: str, sample: str, **labels: str) -> float | None:
    """The sum of the samples named `sample` (e.g. `scorer_records_total`) whose labels include
    `labels`; None when the text has no such sample at all (the metric is not exported)."""
    total, seen = 0.0, False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                seen = True
    return total if seen else None

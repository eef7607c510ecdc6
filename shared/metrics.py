"""Prometheus helpers. Metric names follow Prometheus conventions (base units, `_total` for
counters) and never carry per-employee labels: per-employee detail lives in SQL."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The exposition text and its content type, for a `/metrics` endpoint."""
    return generate_latest(registry), CONTENT_TYPE_LATEST

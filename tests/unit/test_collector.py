"""A service's garbage collector is tuned for a long run (shared/http.py, `tune_collector`),
by `serve` before it runs the app."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from shared import http
from shared.http import YOUNG_COLLECTION_EVERY, tune_collector


@pytest.fixture
def collector() -> Iterator[tuple[int, int, int]]:
    """Python's collector as it stands, put back afterwards."""
    before = gc.get_threshold()
    assert before[0] < YOUNG_COLLECTION_EVERY  # Python's default (700) is what it changes
    assert gc.get_freeze_count() == 0
    try:
        yield before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_startup_objects_are_frozen_and_the_young_generation_is_collected_less_often(
    collector: tuple[int, int, int],
) -> None:
    built = [[n] for n in range(1000)]  # containers made while starting: tracked
    tune_collector()
    assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, collector[1], collector[2])
    seen = {id(o) for o in gc.get_objects()}  # the frozen are out of the collector's sight
    assert id(built) not in seen
    assert not any(id(b) in seen for b in built)
    made_after = [[n] for n in range(10)]
    assert id(made_after) in {id(o) for o in gc.get_objects()}


def test_serve_tunes_the_collector_before_it_runs_the_app(
    collector: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    at_run: list[tuple[Any, ...]] = []

    def run(app: Any, **options: Any) -> None:
        at_run.append((app, gc.get_threshold()[0], gc.get_freeze_count() > 0))

    monkeypatch.setattr(uvicorn, "run", run)  # the module shared.http runs the app with
    monkeypatch.delenv("MEMORY_TRACE_FILE", raising=False)
    app = object()
    http.serve(app, 0)
    assert at_run == [(app, YOUNG_COLLECTION_EVERY, True)]

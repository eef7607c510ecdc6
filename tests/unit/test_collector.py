"""A service's garbage collector is tuned for a long run (shared/http.py, `tune_collector`)."""

from __future__ import annotations

import gc

from shared.http import YOUNG_COLLECTION_EVERY, tune_collector


def test_startup_objects_are_frozen_and_the_young_generation_is_collected_less_often() -> None:
    before = gc.get_threshold()
    assert before[0] < YOUNG_COLLECTION_EVERY  # Python's default (700) is what it changes
    assert gc.get_freeze_count() == 0
    built = [[n] for n in range(1000)]  # containers made while starting: tracked
    try:
        tune_collector()
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, before[1], before[2])
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

"""Scores of large computations — a close of a whole bank's period — computed by worker
processes, a chunk of employees each, while the caller's connection reads the next chunk.

Computing a score is CPU work in Python (`Scorer.score_rows`): one process computes one chunk
at a time on one core, so a close of 100,000 employees took as long as one core needed for
all of them. The workers compute exactly what the caller's process would (the same pure
function over the same inputs, which the caller read in its own snapshot): only where it runs
changes. Workers are started when first needed (a spawn each, not a fork of a process that
runs threads and an event loop) and kept for the process's life; a worker that dies fails the
computation that needed it (the close's transaction is rolled back and tried again) and the
pool is started afresh for the next one."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from services.scorer.domain.rules import ScoringRules
from services.scorer.scoring import ChunkInputs, Scorer
from shared.calendar import BusinessCalendar
from shared.clock import system_clock

log = logging.getLogger(__name__)

_SCORER: Scorer | None = None
"""The scorer of a worker process (`_start`)."""


@dataclass(frozen=True)
class ScorerRecipe:
    """What a worker builds its scorer from: the rules that make the scores (the clock and
    the bank-wide caches are the caller's: a worker is given `now` and the figures)."""

    rules: ScoringRules
    calendar: BusinessCalendar
    alert_threshold: float

    @classmethod
    def of(cls, scorer: Scorer) -> ScorerRecipe:
        return cls(scorer.rules, scorer.calendar, scorer.alert_threshold)


def _start(recipe: ScorerRecipe) -> None:
    global _SCORER
    _SCORER = Scorer(
        recipe.rules,
        recipe.calendar,
        recipe.alert_threshold,
        clock=system_clock,
        inputs_group="",
    )


def _score(read: ChunkInputs) -> list[dict[str, Any]]:
    if _SCORER is None:  # pragma: no cover - the initializer runs first
        raise RuntimeError("worker started without its scorer")
    return _SCORER.score_rows(read)


def default_workers() -> int:
    """One worker per core this process may use, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class ComputePool:
    def __init__(self, scorer: Scorer, workers: int) -> None:
        if workers < 1:
            raise ValueError("a compute pool has at least one worker")
        self.workers = workers
        self._recipe = ScorerRecipe.of(scorer)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self._recipe,),
            )
        return self._pool

    async def score(self, read: ChunkInputs) -> list[dict[str, Any]]:
        """The chunk's scores, computed by a worker."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), _score, read.alone())
        except BrokenProcessPool:
            log.error("a compute worker died: the pool starts afresh for the next computation")
            self.shutdown()
            raise

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

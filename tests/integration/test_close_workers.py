"""A close's chunks computed by worker processes (services/scorer/compute_pool.py) give
exactly the scores the closing process computes alone, in the same order, anomaly reasons
included; a worker killed mid-close fails that computation (the close's transaction rolls back
and is tried again) and the next one gets a fresh worker."""

from __future__ import annotations

import contextlib
import os
import signal
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.scorer.compute_pool import ComputePool
from services.scorer.scoring import COMPUTE_CHUNK, Scorer
from shared.calendar import Period, parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import as_consumed, feed, scoring
from tests.integration.test_refresh_round import FIRST, stream

pytestmark = pytest.mark.integration
RING = [f"r{i}" for i in range(6)]
EMPLOYEES = ["e1", "e2", "e3", "e4", *RING]


def with_a_ring() -> list[dict[str, Any]]:
    """`stream()` and six employees of six teams who all add the same twelve strangers: a
    dense block the bank-wide pass finds (each employee's block goes to its worker)."""
    out = stream()
    for n, employee in enumerate(RING):
        out.append(f.employee(employee, team_id=f"ring-{n}"))
        for c in range(12):
            at = FIRST + timedelta(days=1, hours=n, minutes=c)
            out.append(f.add(employee, f"wm-ring-{c}", at))
    return out


async def scores(
    conn: Any, scorer: Scorer, period: Period, pool: ComputePool | None
) -> list[dict[str, Any]]:
    return [
        s
        async for chunk in scorer.compute_chunks(
            conn, period, EMPLOYEES, scorer.clock(), True, pool=pool
        )
        for s in chunk
    ]


async def test_workers_compute_what_the_closing_process_computes(infra: Infra) -> None:
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    async with scoring(infra, clock) as (db, scorer):
        await feed(db, scorer, clock, as_consumed(with_a_ring()), [])
        workers = ComputePool(scorer, 2)
        try:
            flagged = rings = 0
            for key in ("2026-W40", "2026-09", "2026-Q3", "2026-10", "2026-Q4"):
                period = parse_period(key)
                async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                    alone = await scores(conn, scorer, period, None)
                    scorer.chunk_employees = 1  # a chunk each: every one through a worker
                    try:
                        pooled = await scores(conn, scorer, period, workers)
                    finally:
                        scorer.chunk_employees = COMPUTE_CHUNK
                assert [s["employee_id"] for s in alone] == EMPLOYEES, key
                assert pooled == alone, key
                flagged += sum(1 for s in alone if s["reasons"])
                rings += sum(
                    1 for s in alone for r in s["reasons"] if "dense_block" in r["evidence"]
                )
            # the bursts' and the ring's reasons, evidence and all, came back alike
            assert flagged >= 4
            assert rings >= len(RING)
        finally:
            workers.shutdown()


def workers_of_this_process() -> list[int]:
    """The compute workers this process started (spawned: their command line says so)."""
    found: list[int] = []
    for task in Path("/proc/self/task").glob("*/children"):
        for pid in task.read_text().split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
    return found


async def test_a_worker_killed_mid_close_fails_that_close_and_the_next_succeeds(
    infra: Infra,
) -> None:
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    async with scoring(infra, clock) as (db, scorer):
        await feed(db, scorer, clock, as_consumed(with_a_ring()), [])
        period = parse_period("2026-09")
        workers = ComputePool(scorer, 1)
        scorer.chunk_employees = 1
        try:
            async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                alone = await scores(conn, scorer, period, None)
                killed: list[int] = []

                async def close_and_kill() -> None:
                    chunks = scorer.compute_chunks(
                        conn, period, EMPLOYEES, scorer.clock(), True, pool=workers
                    )
                    async for _ in chunks:  # the first chunk came back: kill -9 the worker
                        if not killed:
                            killed.extend(workers_of_this_process())
                            for pid in killed:
                                os.kill(pid, signal.SIGKILL)

                with pytest.raises(BrokenProcessPool):
                    await close_and_kill()
                assert killed
                # a fresh worker computes the next close, whole
                assert await scores(conn, scorer, period, workers) == alone
                assert not set(killed) & set(workers_of_this_process())
        finally:
            scorer.chunk_employees = COMPUTE_CHUNK
            workers.shutdown()

"""Opt-in allocation tracing for finding memory growth (the soak's investigation, bench/soak.py).

With `MEMORY_TRACE_FILE` set, the service runs under `tracemalloc` and a daemon thread writes,
every `MEMORY_TRACE_SECONDS` (default 60), the source lines whose live allocations grew most
since a baseline taken `MEMORY_TRACE_WARMUP_SECONDS` (default 60) after start, one JSON object
per line to that file. Growth that keeps climbing report after report at the same line is a
leak; growth that appears once and stays is a warm-up plateau (caches, pools, histograms).
Off by default: tracing costs CPU and memory of its own."""

from __future__ import annotations

import linecache
import os
import threading
import time
import tracemalloc
from pathlib import Path

import orjson


def start_from_env() -> None:
    target = os.environ.get("MEMORY_TRACE_FILE")
    if not target:
        return
    every = float(os.environ.get("MEMORY_TRACE_SECONDS", "60"))
    warmup = float(os.environ.get("MEMORY_TRACE_WARMUP_SECONDS", "60"))
    tracemalloc.start(int(os.environ.get("MEMORY_TRACE_FRAMES", "4")))
    thread = threading.Thread(
        target=_report_forever, args=(Path(target), every, warmup), daemon=True
    )
    thread.start()


def _report_forever(target: Path, every: float, warmup: float) -> None:
    started = time.monotonic()
    time.sleep(warmup)
    baseline = _snapshot()
    while True:
        time.sleep(every)
        now = _snapshot()
        traced, peak = tracemalloc.get_traced_memory()
        growth = now.compare_to(baseline, "lineno")
        top = [
            {
                "where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}",
                "growth_kb": round(s.size_diff / 1024, 1),
                "size_kb": round(s.size / 1024, 1),
                "count_diff": s.count_diff,
            }
            for s in growth[:25]
        ]
        stacks = now.compare_to(baseline, "traceback")[:5]
        report = {
            "t": round(time.monotonic() - started),
            "traced_mb": round(traced / 2**20, 1),
            "peak_mb": round(peak / 2**20, 1),
            "top_growth": top,
            "top_stacks": [
                # file:line only: formatting source lines would fill linecache, which then
                # shows up as growth of its own
                {
                    "growth_kb": round(s.size_diff / 1024, 1),
                    "stack": [f"{f.filename}:{f.lineno}" for f in s.traceback],
                }
                for s in stacks
            ],
        }
        with target.open("ab") as out:
            out.write(orjson.dumps(report) + b"\n")


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, linecache.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<unknown>"),
        )
    )

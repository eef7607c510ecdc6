"""What every benchmark shares: the stack, the services as processes (optionally profiled by
py-spy), resident memory, consumer lag, percentiles, and the results file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import orjson

from services.scorer.settings import ScorerSettings
from services.scorer.verify import scorer_of, verify_all
from shared.db import SERVER_SETTINGS
from tests.infra import ROOT, Infra, create_database, drop_database, unique
from tests.kafka_helpers import delete_topics_named
from tests.standins.webhook_sink import free_port
from tools.evaluate.runner import wait_ready

T = TypeVar("T")

RESULTS = ROOT / "bench" / "results"


def quick() -> bool:
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


# The scorer's own figures a benchmark records beside its measurements.
SCORER_METRICS = (
    "scorer_batch_records_count",
    "scorer_batch_records_sum",
    "scorer_batch_transaction_seconds_sum",
    "scorer_refresh_seconds_count",
    "scorer_refresh_seconds_sum",
    "scorer_scores_refreshed_total",
    # Kafka's timestamp → the batch committed, as the consumer sees it (the benchmark's own
    # latency adds its polling): the mean, and how many within 0.5 s and 1 s
    "scorer_event_to_state_seconds_count",
    "scorer_event_to_state_seconds_sum",
    'scorer_event_to_state_seconds_bucket{le="0.5"}',
    'scorer_event_to_state_seconds_bucket{le="1.0"}',
    *(
        f'scorer_batch_phase_seconds_sum{{phase="{p}"}}'
        for p in ("lock", "decode", "store", "hold", "tally", "sync", "offsets", "commit")
    ),
)


def default_stack() -> None:
    """The benchmark's own stack (tests/infra.py), apart from the tests' and `make up`'s."""
    os.environ.setdefault("WQ_STACK_DIR", str(ROOT / ".run" / "bench"))
    os.environ.setdefault("WQ_STACK_BASE_PORT", "29192")


@dataclass
class Run:
    """One database and one set of topics of a benchmark."""

    infra: Infra
    database: str
    suffix: str
    topics: dict[str, str] = field(default_factory=dict)

    @property
    def owner_dsn(self) -> str:
        return self.infra.owner_dsn(self.database)

    @property
    def group(self) -> str:
        return f"scorer-{self.suffix}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.topics,
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "DATABASE_URL": self.infra.app_dsn(self.database),
            "DATABASE_MIGRATION_URL": self.owner_dsn,
            "SCORER_GROUP_ID": self.group,
            "CLOSE_PERIOD_KINDS": "[]",
            "LOG_LEVEL": "WARNING",
            **extra,
        }


@asynccontextmanager
async def fresh_run(infra: Infra, name: str, kept: str | None = None) -> AsyncIterator[Run]:
    """A new database and topics for one benchmark; with `kept`, a database an earlier run
    kept (BENCH_KEEP_DATABASE) is used again, and kept again."""
    database = kept or await create_database(infra)
    suffix = unique(name)
    run = Run(
        infra,
        database,
        suffix,
        {
            "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
            "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
            "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
            "TOPIC_RAW_CALLBACKS": f"wecom.raw-events.{suffix}",
        },
    )
    try:
        yield run
    finally:
        if kept is None and os.environ.get("BENCH_KEEP_DATABASE", "") in ("", "0"):
            await drop_database(infra, database)
        else:  # kept to look into (EXPLAIN a statement on the data the run left)
            print(f"database kept: {database}")
        await delete_topics_named(infra, suffix)


async def verified(run: Run) -> int:
    """Differences the verifier (services.scorer.verify) finds between the kept quota figures
    of every period and a recount from the stored relations; the first ones are printed."""
    settings = ScorerSettings(database_url=run.infra.app_dsn(run.database))
    conn = await asyncpg.connect(run.owner_dsn, server_settings=SERVER_SETTINGS)
    try:
        found = await verify_all(conn, scorer_of(settings))
    finally:
        await conn.close()
    for d in found[:20]:
        print(f"verifier: {d}")
    return len(found)


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def rss_peak_mb(self) -> float:
        return rss_mb(self.proc.pid, "VmHWM")

    def metrics(self, *names: str) -> dict[str, float]:
        """Sums of the named Prometheus series (all labels together) from /metrics; a name
        with labels (`x{phase="sync"}`) names that one series."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        out = dict.fromkeys(names, 0.0)
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            for name in {series.split("{")[0], series}:
                if name in out:
                    out[name] += float(value)
        return {k: round(v, 2) for k, v in out.items()}


@contextmanager
def service(
    name: str, env: dict[str, str], log: Path, profile: Path | None = None
) -> Iterator[Service]:
    """`python -m services.<name>` on a free port, ready; with `profile`, py-spy samples it
    for its whole life and writes collapsed stacks there (and a flame graph next to it)."""
    port = free_port()
    env = {**env, f"{name.upper()}_PORT": str(port)}
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    spy: list[subprocess.Popen[bytes]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        if profile is not None:
            spy = [_py_spy(proc.pid, profile, "raw"), _py_spy(proc.pid, profile, "flamegraph")]
        yield Service(proc, url)
    finally:
        for s in spy:
            s.send_signal(signal.SIGINT)
        for s in spy:
            try:
                s.wait(timeout=60)
            except subprocess.TimeoutExpired:
                s.kill()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _py_spy(pid: int, out: Path, fmt: str) -> subprocess.Popen[bytes]:
    target = out if fmt == "raw" else out.with_suffix(".svg")
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            *("record", "--pid", str(pid), "--rate", "50", "--nonblocking"),
            *("--format", fmt, "--output", str(target)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_frames(collapsed: Path, n: int = 15) -> list[tuple[str, float]]:
    """The functions with the most samples anywhere on the stack (inclusive share), from
    py-spy's collapsed output: what the README's profile evidence quotes."""
    if not collapsed.exists():
        return []
    total = 0
    inclusive: dict[str, int] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        for frame in {
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rstrip(")")
            for f in stack.split(";")
        }:
            inclusive[frame] = inclusive.get(frame, 0) + samples
    ours = {k: v for k, v in inclusive.items() if "services/" in k or "shared/" in k}
    ranked = sorted(ours.items(), key=lambda kv: -kv[1])[:n]
    return [(k, round(v / max(total, 1), 3)) for k, v in ranked]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (`VmRSS`) or at its peak so far (`VmHWM`), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def applied_records(conn: asyncpg.Connection, group: str) -> int:
    """Records the scorer has applied: the offsets it stored with the data."""
    return int(
        await conn.fetchval(
            "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offset WHERE consumer_group = $1",
            group,
        )
    )


async def wait_until(probe: Any, limit: float, every: float = 0.5) -> float:
    """Seconds until `probe()` holds."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await probe():
            return time.monotonic() - started
        await asyncio.sleep(every)
    raise TimeoutError(f"not reached in {limit} s")


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path


async def dispatch_at_rate(
    items: Sequence[T],
    rate: float,
    send: Callable[[float, T], Coroutine[Any, Any, None]],
    started: float,
    at_each: Callable[[float], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> list[float]:
    """Open loop: item i is sent at `started` + i/rate by one dispatcher (never thousands of
    sleeping tasks, whose creation alone made the first requests late); an overdue one goes
    out at once. `at_each(due)` runs before each send; once `until()` holds when an item is
    due, the rest are not sent. Returns how late the dispatcher itself was for each item: if
    that is a sizeable part of the latency, the generator, not the service, was measured.
    Waits for every send to finish."""
    lags: list[float] = []
    running: set[asyncio.Task[None]] = set()
    for i, item in enumerate(items):
        due = started + i / rate
        if at_each is not None:
            at_each(due)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if until is not None and until():
            break
        lags.append(max(0.0, time.perf_counter() - due))
        task = asyncio.create_task(send(due, item))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    return lags


def slope_per_10_min(ts: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per 10 minutes."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var * 600

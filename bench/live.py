"""`python -m bench.live`: event-to-score latency at steady rates (the soak of the whole
pipeline is bench/soak.py).

One scorer process runs on fresh topics (keyed by employee, as the ingestor publishes) with E
employees. An open-loop producer publishes contact adds happening now at R events/s for D
seconds. Every 100 ms the benchmark reads the month counters (`quota_counter`, from which
`GET /v1/scores` computes an open period's quota figures) and the month row (the most
expensive score to recompute, `employee_period_score`) of the employees it follows: one in ten
by default (`--follow`), drawn at random with a fixed seed. Every employee sends and is scored
alike; only the reads are fewer (reading all 2,000 rows every 100 ms cost PostgreSQL more than
any statement of the scorer's but one: the instrument loading the cores it measures). The k-th
add of a followed employee has reached its quota figure when the counters' `gross_adds`
reaches k; its latency is the first read that shows it minus the moment it was sent (so
latencies are over-stated by up to one poll interval). Its anomaly score (and quality) holds it
once the row is recomputed from a snapshot taken after that read. `scored` counts the followed
adds whose quota figure was seen.
Each second it also records the consumer lag (records sent minus offsets the scorer stored
with its data), the dirty rows waiting for a recompute, and the scorer's resident memory.

While the traffic runs, `GET /v1/scores` for one branch's month (200 employees) is read every
0.5 s from a second scorer process in the API role (`SCORER_ROLE=api`, as a bank runs its read
API apart from the stream processing): its latency beside the same rows read by plain SQL.

Reference in the same run: a bare consumer on the same topic measures Kafka's own
send-to-receive latency at that rate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import workload
from bench.common import (
    RESULTS,
    SCORER_METRICS,
    Run,
    applied_records,
    default_stack,
    fresh_run,
    percentile,
    quick,
    service,
    slope_per_10_min,
    verified,
    wait_until,
    write_result,
)
from shared.auth import Role
from shared.calendar import local_date, period_keys_of
from shared.cli import issue
from tests.infra import provide_infra
from tests.kafka_helpers import produce

TZ = ZoneInfo("Asia/Shanghai")
POLL = 0.1
FOLLOW = 10
FOLLOW_SEED = 20261207
CATCH_UP_LIMIT = 1200.0
"""Seconds after sending stops for the scorer to apply and then score everything; a step
that takes longer is reported as not caught up (its latencies cover what was scored)."""


def month_key() -> str:
    return period_keys_of(local_date(datetime.now(UTC), TZ))[2]


class Traffic:
    """The open-loop producer and what it sent, per employee in order."""

    def __init__(self, run: Run, employees: int, rate: float, seconds: float) -> None:
        self.run = run
        self.employees = employees
        self.rate = rate
        self.seconds = seconds
        self.sent: dict[str, list[float]] = defaultdict(list)
        self.count = 0
        self.topic = run.topics["TOPIC_CONTACT_EVENTS"]

    async def send(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.run.infra.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        await producer.start()
        try:
            started = time.perf_counter()
            total = int(self.rate * self.seconds)
            pending = []
            while self.count < total:
                due = min(total, int((time.perf_counter() - started) * self.rate) + 1)
                while self.count < due:
                    n = self.count
                    who = workload.employee_id(n % self.employees)
                    record = workload.now_add(who, f"wl{self.run.suffix[-6:]}{n:09d}")
                    self.sent[who].append(time.perf_counter())
                    pending.append(
                        await producer.send(self.topic, orjson.dumps(record), key=who.encode())
                    )
                    self.count += 1
                if len(pending) > 5000:
                    await asyncio.gather(*pending)
                    pending = []
                await asyncio.sleep(0.01)
            await asyncio.gather(*pending)
        finally:
            await producer.stop()


async def bare_latency(run: Run, traffic: Traffic, stop: asyncio.Event) -> list[float]:
    """Kafka alone: from send to a plain consumer's receipt of the same records."""
    consumer = AIOKafkaConsumer(
        traffic.topic,
        bootstrap_servers=run.infra.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, int] = defaultdict(int)
    out: list[float] = []
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    who = r.key.decode()
                    k = seen[who]
                    seen[who] += 1
                    if k < len(traffic.sent[who]):
                        out.append(now - traffic.sent[who][k])
    finally:
        await consumer.stop()
    return out


def ms(values: list[float], q: float) -> int | None:
    return round(percentile(values, q) * 1000) if values else None


@dataclass
class Observed:
    """Per add, from its sending: when its month row's quota figure showed it, and when the
    row's quality and anomaly were recomputed from a snapshot that held it."""

    quota: list[float] = field(default_factory=list)
    anomaly: list[float] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)


def followed_employees(employees: int, follow: int) -> list[str]:
    """One employee in `follow`, at random with a fixed seed: no branch or team favoured (a
    stride would pick whole branches of `workload.staff`)."""
    picked = random.Random(FOLLOW_SEED).sample(range(employees), max(1, employees // follow))
    return [workload.employee_id(i) for i in sorted(picked)]


async def observe(
    run: Run, traffic: Traffic, scorer_pid_rss: Any, stop: asyncio.Event, followed: list[str]
) -> Observed:
    """The adds of the `followed` employees. A recompute's `computed_at` is the scorer's clock
    before its snapshot was taken: a row computed at or after the moment an add's quota figure
    was seen holds that add (so the anomaly latency is over-stated by up to a poll interval,
    like the quota one)."""
    conn = await asyncpg.connect(run.owner_dsn)
    out = Observed()
    reached: dict[str, int] = defaultdict(int)
    seen_at: dict[str, list[float]] = defaultdict(list)  # wall clock, per add in order
    recomputed: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    next_sample = started
    key = month_key()
    window: list[float] = []
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT q.employee_id, q.gross_adds, s.computed_at,"
                " s.anomaly_score IS NOT NULL AS scored FROM quota_counter q"
                " LEFT JOIN employee_period_score s USING (employee_id, period)"
                " WHERE q.period = $1 AND q.employee_id = ANY($2::text[])",
                key,
                followed,
            )
            now, wall = time.perf_counter(), time.time()
            for r in rows:
                who, n = r["employee_id"], r["gross_adds"]
                sent = traffic.sent.get(who, [])
                for k in range(reached[who], min(n, len(sent))):
                    out.quota.append(now - sent[k])
                    window.append(now - sent[k])
                    seen_at[who].append(wall)
                reached[who] = max(reached[who], min(n, len(sent)))
                if r["scored"]:
                    computed = r["computed_at"].timestamp()
                    k = recomputed[who]
                    while k < reached[who] and seen_at[who][k] <= computed:
                        out.anomaly.append(now - sent[k])
                        k += 1
                    recomputed[who] = k
            if now >= next_sample:
                applied = await applied_records(conn, run.group)
                out.series.append(
                    {
                        "t": round(now - started, 1),
                        "sent": traffic.count,
                        "lag": max(0, traffic.count - (applied - traffic.employees)),
                        "dirty": await conn.fetchval("SELECT count(*) FROM score_dirty"),
                        "rss_mb": scorer_pid_rss(),
                        "p99_ms": round(percentile(window, 0.99) * 1000) if window else None,
                    }
                )
                window = []
                next_sample += 1.0 if traffic.seconds < 600 else 10.0
            await asyncio.sleep(POLL)
    finally:
        await conn.close()
    return out


async def branch_reads(
    run: Run, url: str, stop: asyncio.Event, branch: str = "b00"
) -> tuple[list[float], list[float]]:
    """`GET /v1/scores` for one branch's month, every 0.5 s while the traffic runs, and the
    same rows read by plain SQL beside it (the reference)."""
    api: list[float] = []
    sql: list[float] = []
    key = month_key()
    # a supervisor's reads would also walk the org; an admin's are the plain read
    token = await issue(run.env()["DATABASE_URL"], f"{run.suffix}-reads", Role.ADMIN)
    conn = await asyncpg.connect(run.owner_dsn)
    try:
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers={"authorization": f"Bearer {token}"}
        ) as client:
            while not stop.is_set():
                started = time.perf_counter()
                answer = await client.get("/v1/scores", params={"period": key, "branch_id": branch})
                answer.raise_for_status()
                api.append(time.perf_counter() - started)
                started = time.perf_counter()
                await conn.fetch(
                    "SELECT * FROM employee_period_score WHERE period = $1 AND branch_id = $2"
                    " ORDER BY employee_id",
                    key,
                    branch,
                )
                sql.append(time.perf_counter() - started)
                await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return api, sql


async def at_rate(
    infra: Any,
    employees: int,
    rate: float,
    seconds: float,
    name: str,
    profile: bool = False,
    split: bool = True,
    consumers: int = 1,
    follow: int = FOLLOW,
) -> dict[str, Any]:
    """`split`: the stream work in `consumers` `consume` processes (one group: they share the
    topics' partitions) and a `refresh` process, as a bank runs it at its peak; otherwise in
    one `stream` process. `follow`: the latencies of one employee in that many."""
    followed = followed_employees(employees, follow)
    async with fresh_run(infra, name) as run:
        await produce(infra, run.topics["TOPIC_BANK_RECORDS"], workload.staff(employees))
        logs = RESULTS / "logs"
        spies = {
            role: RESULTS / f"profile-live{int(rate)}-{role}.txt" if profile else None
            for role in ("consume", "refresh", "stream", "api")
        }
        roles = (*(["consume"] * consumers), "refresh") if split else ("stream",)
        with contextlib.ExitStack() as stack:
            scorer, *others = [
                stack.enter_context(
                    service(
                        "scorer",
                        run.env(SCORER_ROLE=role),
                        logs / f"{run.suffix}-scorer-{role}{i}.log",
                        spies[role] if i in (0, len(roles) - 1) else None,
                    )
                )
                for i, role in enumerate(roles)
            ]
            reader = stack.enter_context(
                service(
                    "scorer",
                    run.env(SCORER_ROLE="api"),
                    logs / f"{run.suffix}-scorer-api.log",
                    spies["api"],
                )
            )
            conn = await asyncpg.connect(run.owner_dsn)
            try:

                async def org_applied() -> bool:
                    return await applied_records(conn, run.group) >= employees

                await wait_until(org_applied, 120)
            finally:
                await conn.close()
            traffic = Traffic(run, employees, rate, seconds)
            stop = asyncio.Event()
            watcher = asyncio.create_task(observe(run, traffic, scorer.rss_mb, stop, followed))
            bare = asyncio.create_task(bare_latency(run, traffic, stop))
            sending = asyncio.Event()
            reads = asyncio.create_task(branch_reads(run, reader.url, sending))
            await traffic.send()
            sending.set()
            api_reads, sql_reads = await reads
            total = traffic.count
            conn = await asyncpg.connect(run.owner_dsn)
            try:

                async def caught_up() -> bool:
                    return await applied_records(conn, run.group) >= employees + total

                async def all_scored() -> bool:
                    return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM score_dirty)")

                # a step the scorer cannot keep up with is reported as such, not aborted
                tail = settled = None
                with contextlib.suppress(TimeoutError):
                    tail = await wait_until(caught_up, CATCH_UP_LIMIT, every=0.2)
                    settled = await wait_until(all_scored, CATCH_UP_LIMIT, every=0.2)
            finally:
                await conn.close()
            differences = await verified(run)
            await asyncio.sleep(3 * POLL)
            stop.set()
            observed = await watcher
            latencies, series = observed.quota, observed.series
            kafka = await bare
            inside = scorer.metrics(*SCORER_METRICS)
            for other in others:
                inside = {k: v + other.metrics(k)[k] for k, v in inside.items()}
            other_rss = max((o.rss_peak_mb() for o in others), default=None)
    scored = len(latencies)
    rss = [s["rss_mb"] for s in series]
    lags = [s["lag"] for s in series]
    half = len(series) // 2
    return {
        "rate": rate,
        "seconds": seconds,
        "employees": employees,
        "followed_employees": len(followed),
        "sent": total,
        "scored": scored,
        "p50_ms": round(percentile(latencies, 0.5) * 1000),
        "p99_ms": round(percentile(latencies, 0.99) * 1000),
        "anomaly_scored": len(observed.anomaly),
        "anomaly_p50_ms": ms(observed.anomaly, 0.5),
        "anomaly_p99_ms": ms(observed.anomaly, 0.99),
        "kafka_p50_ms": round(percentile(kafka, 0.5) * 1000),
        "kafka_p99_ms": round(percentile(kafka, 0.99) * 1000),
        "p99_ratio_to_kafka": round(percentile(latencies, 0.99) / percentile(kafka, 0.99), 1)
        if kafka
        else None,
        "branch_read_p50_ms": round(percentile(api_reads, 0.5) * 1000, 1),
        "branch_read_p99_ms": round(percentile(api_reads, 0.99) * 1000, 1),
        "branch_read_sql_p99_ms": round(percentile(sql_reads, 0.99) * 1000, 1),
        "branch_reads": len(api_reads),
        "max_lag": max(lags, default=0),
        "caught_up": settled is not None,
        "lag_after_send_seconds": None if tail is None else round(tail, 1),
        "scores_settled_after_seconds": None
        if tail is None or settled is None
        else round(tail + settled, 1),
        "rss_mb_first_half_max": max(rss[:half], default=0),
        "rss_mb_second_half_max": max(rss[half:], default=0),
        "roles": list(roles),
        "verifier_differences": differences,
        "refresh_rss_mb_peak": other_rss,
        "metrics": inside,
        "series": series,
    }


def lag_growth(series: Sequence[dict[str, Any]], seconds: float) -> float:
    """How fast the consumer lag rose while sending (records a second: the least-squares
    slope over the last two thirds of the sending window, past the start-up)."""
    sending = [s for s in series if seconds / 3 <= s["t"] <= seconds]
    return slope_per_10_min([s["t"] for s in sending], [s["lag"] for s in sending]) / 600


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"poll_interval_ms": POLL * 1000, "steps": []}
    with provide_infra() as infra:
        for rate in args.rates:
            step = await at_rate(
                infra,
                args.employees,
                rate,
                args.seconds,
                f"live{int(rate)}",
                args.profile,
                not args.one_process,
                args.consumers,
                args.follow,
            )
            out["steps"].append(step)
    out["targets"] = {"p99_ms_at_2000": 1000}
    return out


def _at_least_one(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rates", type=float, nargs="*", default=[1000, 2000, 5000])
    p.add_argument("--seconds", type=float, default=30 if quick() else 180)
    p.add_argument("--employees", type=int, default=2_000)
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the first stream process and the refresh at each rate",
    )
    p.add_argument(
        "--consumers", type=int, default=1, help="consume processes sharing the partitions"
    )
    p.add_argument(
        "--follow",
        type=_at_least_one,
        default=FOLLOW,
        help="latencies of one employee in N (1: every employee; the polling is load)",
    )
    p.add_argument(
        "--one-process",
        action="store_true",
        help="the stream work in one `stream` process, not `consume` + `refresh`",
    )
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = asyncio.run(run(args))
    write_result("live", result)
    brief = {
        **result,
        "steps": [{k: v for k, v in s.items() if k != "series"} for s in result["steps"]],
    }
    print(orjson.dumps(brief, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

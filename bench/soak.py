"""`python -m bench.soak`: the whole pipeline at a steady rate for `SOAK_MINUTES` (default 30;
quick: 2), memory and lag judged flat or not.

The three services run as processes, as a bank runs them: the ingestor receives encrypted,
signed WeCom callbacks (open-loop, `--rate` per second, ~10 % of them removals of earlier adds)
and enriches each add from the WeCom REST stand-in (tools/wecom/api_standin.py); the bank's
records come through its `/v1/events` (the org and month targets first, then a trickle of chat
metadata and customer links every second); the scorer scores; the notifier turns breaches into
webhooks to a stand-in receiver (tests/standins/webhook_sink.py). The scorer raises breaches
of its own only at period ends and on anomalies, so a trickle of breaches (1 a second, one in
ten a repeat of an earlier id) is also published on the breaches topic, as the scorer would.

Every `--sample-seconds` (10) it records each service's resident memory, the consumer lag of
the scorer's and the notifier's groups (end offsets minus the offsets each stored with its
data), the dirty score rows, and, over the window, the callbacks' response p99 and the event →
month quota figure latency (an employee's k-th add shows when its month counters, from which
the read API computes the figures, hold k gross adds; polled every 0.5 s, so over-stated by up
to that).

Flat, judged on the series (`judge`): per service, the 2nd half's peak RSS is within 5 % (or
5 MB) of the 1st half's and the least-squares slope over the last two thirds is under
`SLOPE_LIMIT_MB_PER_10_MIN`; lag is bounded (the last third's peak under 30 s of traffic) and
not growing (its fitted rise over the last two thirds is under 5 s of traffic), for the
scorer's and notifier's consumer groups and for the ingestor (callbacks due but not answered).
`python -m bench.soak --judge bench/results/soak.json` judges a recorded series again."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import workload
from bench.common import (
    RESULTS,
    Run,
    Service,
    applied_records,
    default_stack,
    fresh_run,
    percentile,
    quick,
    service,
    slope_per_10_min,
    wait_until,
    write_result,
)
from bench.ingest import Connections
from bench.live import month_key
from shared.kafka import load_offsets
from shared.monitor import lag_by_topic
from shared.schemas import AlertName, BreachEvent
from tests import factories as f
from tests.infra import provide_infra
from tests.standins.webhook_sink import webhook_sink
from tests.wecom_client import WeComClient, random_aes_key
from tools.simulator.feed import callback_xml
from tools.wecom.api_standin import Contact, Follow, WeComApiStandIn, wecom_api

CORP_ID = "wwsoak0123456789a"
TOKEN = "SoakToken0123456"
CORP_SECRET = "soak-corp-secret-0123456789"
API_TOKEN = "soak-api-token-0123456789abcdef"
PARTITIONS = 3
SCORE_POLL = 0.5
SLOPE_LIMIT_MB_PER_10_MIN = 2.0
SERVICES = ("ingestor", "scorer", "notifier")


def judge(series: Sequence[dict[str, Any]], rate: float) -> dict[str, Any]:
    """Memory and lag flat or not, from the samples taken under load."""
    ts = [s["t"] for s in series]
    half, third = len(series) // 2, len(series) // 3
    out: dict[str, Any] = {"rss": {}, "lag": {}}
    for name in SERVICES:
        rss = [s["rss_mb"][name] for s in series]
        first, second = max(rss[:half], default=0.0), max(rss[half:], default=0.0)
        slope = slope_per_10_min(ts[third:], rss[third:])
        out["rss"][name] = {
            "start_mb": rss[0] if rss else 0.0,
            "first_half_max_mb": first,
            "second_half_max_mb": second,
            "slope_last_two_thirds_mb_per_10_min": round(slope, 2),
            "flat": second <= max(first * 1.05, first + 5) and slope < SLOPE_LIMIT_MB_PER_10_MIN,
            "under_500_mb": max(rss, default=0.0) <= 500,
        }
    for group in ("ingestor", "scorer", "notifier"):
        lag = [_behind(s, group) for s in series]
        tail = ts[third:]
        slope = slope_per_10_min(tail, lag[third:])
        rise = slope * ((tail[-1] - tail[0]) / 600 if tail else 0)
        last_third_max = max(lag[len(lag) - third :] if third else lag, default=0)
        out["lag"][group] = {
            "max": max(lag, default=0),
            "last_third_max": last_third_max,
            "fitted_rise_last_two_thirds": round(rise),
            "flat": last_third_max <= rate * 30 and rise <= rate * 5,
        }
    out["memory_flat"] = all(v["flat"] for v in out["rss"].values())
    out["lag_flat"] = all(v["flat"] for v in out["lag"].values())
    return out


def _behind(sample: dict[str, Any], group: str) -> int:
    """The ingestor's lag is the callbacks due but not answered yet (queued at the sender:
    an ingestor that falls behind shows here, not in Kafka); the others' is consumer lag."""
    if group == "ingestor":
        return int(
            sample["callbacks_due"] - sample["callbacks_answered"] - sample["callbacks_failed"]
        )
    return int(sample["lag"][group])


class Load:
    """What was sent: per employee the send time of each add, in order; and the callbacks'
    response times in the current sampling window."""

    def __init__(self, employees: int, seed: str) -> None:
        self.employees = employees
        self.seed = seed
        self.adds: dict[str, list[float]] = defaultdict(list)
        self.live: list[tuple[str, str]] = []  # (employee, contact) still added
        self.sent = 0
        self.failed = 0
        self.removals = 0
        self.bank_records = 0
        self.breaches = 0
        self.window_ms: list[float] = []
        self.all_ms: list[float] = []


async def callbacks(
    url: str, wecom: WeComClient, api: WeComApiStandIn, load: Load, rate: float, seconds: float
) -> None:
    """Open loop: callback i is due at t0 + i/rate; its time counts from when it was due."""
    client = Connections(f"{url}/wecom/callback", 64)
    await client.open()
    rng = random.Random(7)
    tasks: set[asyncio.Task[None]] = set()

    async def post(xml: str, due: float) -> None:
        if await client.post(wecom.callback(xml), 30):
            ms = (time.perf_counter() - due) * 1000
            load.window_ms.append(ms)
            load.all_ms.append(ms)
        else:
            load.failed += 1

    try:
        started = time.perf_counter()
        total = int(rate * seconds)
        n = 0
        while n < total:
            due_now = min(total, int((time.perf_counter() - started) * rate) + 1)
            while n < due_now:
                due = started + n / rate
                now = int(time.time())
                if load.live and rng.random() < 0.1:
                    who, contact = load.live.pop(rng.randrange(len(load.live)))
                    event = _event(who, contact, now, "del_follow_user")
                    load.removals += 1
                else:
                    who = workload.employee_id(rng.randrange(load.employees))
                    contact = f"wm{load.seed}{n:09d}"
                    api.add(
                        Contact(
                            contact,
                            type=2 if n % 50 == 0 else 1,
                            corp_name="某某银行" if n % 50 == 0 else "",
                            follows=[Follow(who, now, add_way=1, state=f"s{n % 20}")],
                        )
                    )
                    event = _event(who, contact, now, "add_external_contact", f"s{n % 20}")
                    load.adds[who].append(time.perf_counter())
                    load.live.append((who, contact))
                task = asyncio.create_task(post(callback_xml(event), due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                load.sent += 1
                n += 1
            await asyncio.sleep(0.005)
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        await client.close()


def _event(who: str, contact: str, at: int, change: str, state: str = "") -> dict[str, Any]:
    return {
        "ToUserName": CORP_ID,
        "FromUserName": "sys",
        "CreateTime": at,
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": change,
        "UserID": who,
        "ExternalUserID": contact,
        "State": state,
    }


async def bank_trickle(http: httpx.AsyncClient, url: str, load: Load, stop: asyncio.Event) -> None:
    """Every second, ~8 chat-metadata records and ~2 customer links about recent relations."""
    rng = random.Random(11)
    n = 0
    while not stop.is_set():
        await asyncio.sleep(1)
        if not load.live:
            continue
        records: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for _ in range(10):
            who, contact = load.live[-1 - rng.randrange(min(len(load.live), 2000))]
            n += 1
            if rng.random() < 0.8:
                records.append(
                    {
                        "type": "message",
                        "message_id": f"soak{load.seed}{n:09d}",
                        "employee_id": who,
                        "external_userid": contact,
                        "direction": rng.choice(["to_customer", "from_customer"]),
                        "kind": "one_to_one",
                        "sent_at": now.isoformat(),
                    }
                )
            else:
                records.append(
                    {
                        "type": "customer_link",
                        "external_userid": contact,
                        "is_customer": rng.random() < 0.5,
                        "customer_tier": rng.choice(["mass", "affluent", "private"]),
                        "assigned_employee_id": who,
                        "occurred_at": now.isoformat(),
                    }
                )
        await post_records(http, url, records)
        load.bank_records += len(records)


async def post_records(
    http: httpx.AsyncClient, url: str, records: Sequence[dict[str, Any]]
) -> None:
    r = await http.post(
        f"{url}/v1/events",
        content=b"\n".join(orjson.dumps(x) for x in records),
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/x-ndjson"},
    )
    r.raise_for_status()


async def breach_trickle(run: Run, load: Load, stop: asyncio.Event) -> None:
    """One breach a second as the scorer publishes them; every 10th repeats an earlier id."""
    producer = AIOKafkaProducer(
        bootstrap_servers=run.infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    topic = run.topics["TOPIC_BREACHES"]
    n = 0
    try:
        while not stop.is_set():
            await asyncio.sleep(1)
            i = n - 5 if n % 10 == 9 else n
            who = workload.employee_id(i % load.employees)
            period = f"{month_key()}#soak{i}"
            breach = BreachEvent(
                event_id=BreachEvent.make_id(AlertName.PACE_BEHIND, who, period, "firing"),
                occurred_at=datetime.now(UTC),
                alertname=AlertName.PACE_BEHIND,
                employee_id=who,
                period=month_key(),
                supervisor_id=f"lead{i % 50:03d}",
                team_id=f"t{i % 50:03d}",
                branch_id=f"b{i % 50 % 10:02d}",
                summary=f"{who} is behind (soak {i})",
                values={"soak": i},
            )
            await producer.send_and_wait(topic, breach.to_json(), key=who.encode())
            load.breaches += 1
            n += 1
    finally:
        await producer.stop()


INGESTOR_COUNTERS = {
    'ingestor_wecom_publish_duration_seconds_sum{destination="kafka"}': "kafka_ack_seconds",
    'ingestor_wecom_publish_duration_seconds_count{destination="kafka"}': "kafka_ack_count",
    'ingestor_wecom_callbacks_total{method="POST",outcome="stored_spool"}': "spooled",
    'ingestor_lookups_total{outcome="profiled"}': "lookups_profiled",
    "ingestor_lookup_backlog": "lookup_backlog",
}


async def ingestor_counters(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    out = dict.fromkeys(INGESTOR_COUNTERS.values(), 0.0)
    for line in (await http.get(f"{url}/metrics")).text.splitlines():
        series, _, value = line.rpartition(" ")
        if series in INGESTOR_COUNTERS:
            out[INGESTOR_COUNTERS[series]] = float(value)
    return out


class Lag:
    """End offsets (a paused consumer assigned every partition) minus stored offsets."""

    def __init__(
        self,
        run: Run,
        pool: asyncpg.Pool,
        groups: dict[str, list[str]],
        run_groups: dict[str, str],
    ) -> None:
        self.run = run
        self.run_groups = run_groups
        self.pool = pool
        self.groups = groups
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=run.infra.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )

    async def start(self) -> None:
        await self.consumer.start()
        tps = [
            TopicPartition(t, p)
            for topics in self.groups.values()
            for t in topics
            for p in range(PARTITIONS)
        ]
        self.consumer.assign(tps)
        self.consumer.pause(*tps)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def __call__(self) -> dict[str, int]:
        out = {}
        for name, topics in self.groups.items():
            tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
            ends = await self.consumer.end_offsets(tps)
            starts = await self.consumer.beginning_offsets(tps)
            stored = await load_offsets(self.pool, self.run_groups[name], topics)
            out[name] = sum(lag_by_topic(ends, starts, stored).values())
        return out


async def scored(pool: asyncpg.Pool, load: Load, stop: asyncio.Event, window: list[float]) -> None:
    """Event → month quota figure latency: the k-th add of an employee shows once its month
    counters (what `GET /v1/scores` shows of an open period) hold k gross adds."""
    reached: dict[str, int] = defaultdict(int)
    key = month_key()
    while not stop.is_set():
        rows = await pool.fetch(
            "SELECT employee_id, gross_adds FROM quota_counter WHERE period = $1", key
        )
        now = time.perf_counter()
        for r in rows:
            who, n = r["employee_id"], r["gross_adds"]
            sent = load.adds.get(who, [])
            top = min(n, len(sent))
            for k in range(reached[who], top):
                window.append((now - sent[k]) * 1000)
            reached[who] = max(reached[who], top)
        await asyncio.sleep(SCORE_POLL)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    aes_key = random_aes_key()
    wecom = WeComClient(TOKEN, aes_key, CORP_ID)
    with provide_infra() as infra:
        async with (
            fresh_run(infra, "soak") as run,
            wecom_api(CORP_ID, CORP_SECRET) as api,
            webhook_sink() as sink,
        ):
            logs = RESULTS / "logs"
            env = run.env(
                WECOM_CORP_ID=CORP_ID,
                WECOM_CALLBACK_TOKEN=TOKEN,
                WECOM_CALLBACK_AES_KEY=aes_key,
                WECOM_CORP_SECRET=CORP_SECRET,
                WECOM_API_BASE=api.base_url,
                INGEST_API_TOKENS=API_TOKEN,
                SPOOL_DIR=str(logs / f"{run.suffix}-spool"),
                RECONCILE_STATE_DIR=str(logs / f"{run.suffix}-reconcile"),
                NOTIFIER_GROUP_ID=notifier_group(run),
                NOTIFIER_WEBHOOK_URL=sink.url,
                TOPIC_PARTITIONS=str(PARTITIONS),
                # lookups in flight and their rate: a bank sets them for its WeCom quota
                WECOM_LOOKUP_CONCURRENCY=str(args.enrichment_concurrency),
                WECOM_LOOKUP_RATE_PER_SECOND="500",
                LOOKUP_STATE_DIR=str(logs / f"{run.suffix}-lookups"),
            )
            traces = {n: _trace_file(args, run, n) for n in SERVICES}
            load = Load(args.employees, run.suffix[-6:])
            with (
                service("ingestor", _env(env, traces["ingestor"]), _log(run, "ingestor")) as ing,
                service("scorer", _env(env, traces["scorer"]), _log(run, "scorer")) as scorer,
                service("notifier", _env(env, traces["notifier"]), _log(run, "notifier")) as note,
            ):
                procs = {"ingestor": ing, "scorer": scorer, "notifier": note}
                pool = await asyncpg.create_pool(run.owner_dsn, min_size=1, max_size=3)
                http = httpx.AsyncClient(timeout=300)
                try:
                    return await _measure(args, run, api, wecom, pool, http, procs, load, sink)
                finally:
                    await http.aclose()
                    await pool.close()
    raise AssertionError("unreachable")  # pragma: no cover


async def _measure(
    args: argparse.Namespace,
    run: Run,
    api: WeComApiStandIn,
    wecom: WeComClient,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    procs: dict[str, Service],
    load: Load,
    sink: Any,
) -> dict[str, Any]:
    seconds = args.minutes * 60
    url = procs["ingestor"].url
    month = month_key()
    org = workload.staff(args.employees)
    targets = [f.target("employee", e["employee_id"], month, 30) for e in org]
    setup_records = org + targets
    for i in range(0, len(setup_records), 2000):
        await post_records(http, url, setup_records[i : i + 2000])
    setup = len(org) + len(targets)

    async def org_applied() -> bool:
        return await applied_records(pool, run.group) >= setup  # type: ignore[arg-type]

    await wait_until(org_applied, 300)
    lag = Lag(
        run,
        pool,
        {
            "scorer": [run.topics["TOPIC_CONTACT_EVENTS"], run.topics["TOPIC_BANK_RECORDS"]],
            "notifier": [run.topics["TOPIC_BREACHES"]],
        },
        {"scorer": run.group, "notifier": notifier_group(run)},
    )
    await lag.start()
    stop = asyncio.Event()
    latency_window: list[float] = []
    latency_all: list[float] = []
    series: list[dict[str, Any]] = []
    side = [
        asyncio.create_task(bank_trickle(http, url, load, stop)),
        asyncio.create_task(breach_trickle(run, load, stop)),
        asyncio.create_task(scored(pool, load, stop, latency_window)),
    ]
    started = time.perf_counter()

    counters = await ingestor_counters(http, url)

    async def sample() -> None:
        nonlocal counters
        lags = await lag()
        now = await ingestor_counters(http, url)
        acks = now["kafka_ack_count"] - counters["kafka_ack_count"]
        ack_ms = (now["kafka_ack_seconds"] - counters["kafka_ack_seconds"]) / acks * 1000
        counters = now
        window, cb = list(latency_window), list(load.window_ms)
        latency_window.clear()
        load.window_ms.clear()
        latency_all.extend(window)
        series.append(
            {
                "t": round(time.perf_counter() - started, 1),
                "callbacks_due": load.sent,
                "callbacks_answered": len(load.all_ms),
                "callbacks_failed": load.failed,
                "rss_mb": {n: p.rss_mb() for n, p in procs.items()},
                # why the ingestor answers slowly when it does: Kafka's acks=all, on 2 shared cores
                "kafka_ack_mean_ms": round(ack_ms, 1) if acks else None,
                "spooled": now["spooled"],
                "lookup_backlog": now["lookup_backlog"],
                "lag": lags,
                "dirty": await pool.fetchval("SELECT count(*) FROM score_dirty"),
                "score_p50_ms": round(percentile(window, 0.5)) if window else None,
                "score_p99_ms": round(percentile(window, 0.99)) if window else None,
                "callback_p99_ms": round(percentile(cb, 0.99), 1) if cb else None,
                "notices": len(sink.received),
            }
        )
        s = series[-1]
        print(
            f"   t={s['t']:>6}s due={s['callbacks_due']} answered={s['callbacks_answered']} "
            f"rss={s['rss_mb']} lag={s['lag']} "
            f"dirty={s['dirty']} score p99={s['score_p99_ms']} ms",
            flush=True,
        )

    async def sampler() -> None:
        while not stop.is_set():
            await asyncio.sleep(args.sample_seconds)
            await sample()

    sampling = asyncio.create_task(sampler())
    try:
        await callbacks(url, wecom, api, load, args.rate, seconds)
    finally:
        stop.set()
        await asyncio.gather(*side, return_exceptions=True)
        if sampling.done():
            sampling.result()  # a sampler that failed fails the benchmark, loudly
        sampling.cancel()
        await asyncio.gather(sampling, return_exceptions=True)
    under_load = list(series)
    drain_started = time.perf_counter()

    async def drained() -> bool:
        lags = await lag()
        dirty = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM score_dirty)")
        return not dirty and lags["scorer"] == 0 and lags["notifier"] == 0

    try:
        await wait_until(drained, 900, every=1)
        drain_seconds: float | None = round(time.perf_counter() - drain_started, 1)
    except TimeoutError:
        drain_seconds = None
    await sample()
    await lag.stop()
    verdict = judge(under_load, args.rate)
    return {
        "minutes": args.minutes,
        "rate": args.rate,
        "employees": args.employees,
        "sample_seconds": args.sample_seconds,
        "callbacks_sent": load.sent,
        "callbacks_failed": load.failed,
        "removals": load.removals,
        "bank_records": load.bank_records,
        "breaches_published": load.breaches,
        "notices_delivered": len(sink.received),
        "wecom_api_calls": len(api.calls),
        "callbacks_spooled": series[-1]["spooled"],
        "lookups_profiled": series[-1]["lookups_profiled"],
        "callback_p50_ms": round(percentile(load.all_ms, 0.5), 1),
        "callback_p99_ms": round(percentile(load.all_ms, 0.99), 1),
        "score_p50_ms": round(percentile(latency_all, 0.5)) if latency_all else None,
        "score_p99_ms": round(percentile(latency_all, 0.99)) if latency_all else None,
        "adds_scored": len(latency_all),
        "drained_after_seconds": drain_seconds,
        **verdict,
        "rss_mb_at_end": series[-1]["rss_mb"],
        "series": series,
        "memory_traces": [str(_trace_file(args, run, n)) for n in args.trace_memory],
    }


def notifier_group(run: Run) -> str:
    return f"notifier-{run.suffix}"


def _log(run: Run, name: str) -> Path:
    return RESULTS / "logs" / f"{run.suffix}-{name}.log"


def _trace_file(args: argparse.Namespace, run: Run, name: str) -> Path | None:
    return RESULTS / f"soak-memtrace-{name}.ndjson" if name in args.trace_memory else None


def _env(env: dict[str, str], trace: Path | None) -> dict[str, str]:
    if trace is None:
        return env
    trace.unlink(missing_ok=True)
    return {**env, "MEMORY_TRACE_FILE": str(trace)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return await soak(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    default_minutes = os.environ.get("SOAK_MINUTES") or ("2" if quick() else "30")
    p.add_argument("--minutes", type=float, default=float(default_minutes))
    p.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", "100")))
    p.add_argument("--employees", type=int, default=10_000)
    p.add_argument("--enrichment-concurrency", type=int, default=16)
    p.add_argument("--judge", type=Path, help="judge a recorded soak.json again, run nothing")
    p.add_argument("--sample-seconds", type=float, default=5 if quick() else 10)
    p.add_argument(
        "--trace-memory",
        nargs="*",
        choices=SERVICES,
        default=[],
        help="run these services under tracemalloc (MEMORY_TRACE_FILE, shared/memtrace.py)",
    )
    return p


def rejudge(path: Path) -> dict[str, Any]:
    """A recorded result judged again by this version of `judge`."""
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    under_load = result["series"][:-1]  # the last sample is taken after the drain
    result.update(judge(under_load, result["rate"]))
    return result


def main() -> None:
    args = parser().parse_args()
    if args.judge is not None:
        result = rejudge(args.judge)
        write_result("soak", result)
        print(orjson.dumps({k: v for k, v in result.items() if k != "series"}).decode())
        return
    default_stack()
    # SIGTERM unwinds like Ctrl-C, so the three services are stopped, not orphaned
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = asyncio.run(run(args))
    write_result("soak", result)
    print(orjson.dumps({k: v for k, v in result.items() if k != "series"}).decode())


if __name__ == "__main__":
    main()

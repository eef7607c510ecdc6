"""`python -m bench.lookups` (`BENCH=lookups make bench`): durable WeCom lookups under load.

Encrypted callbacks at `--rate` a second for `--seconds` (2,000/s for 60 s; BENCH_QUICK=1:
300/s for 20 s), every one an add of a new contact, into the ingestor as a process, against
the WeCom API stand-in answering at most `--wecom-limit` lookups a second (45009 beyond) and
failing `--failure-share` of them (HTTP 500/503 or errcode -1, seeded); 1 % of the contacts
are unknown to WeCom (84061, a recorded not-found). Reported: callback latency (max and p99;
WeCom gives 5 s), then whether every contact got a profile or a recorded not-found (read
from the bank-records topic), none dropped, successful lookups against distinct contacts, and
how long the backlog took to drain after the load.

The `kill` variant kill -9s the ingestor halfway through the load and starts it again on the
same spool and lookup ledger; callbacks that failed meanwhile are sent again (as WeCom
retries them). Answers the killed process had published but not recorded are read back at
start (services/ingestor/lookups/recovery.py); lookups WeCom answered whose answer had not
reached Kafka are asked again once: the only repeats, reported as such."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop
from aiokafka import AIOKafkaConsumer

from bench.common import (
    RESULTS,
    Run,
    default_stack,
    dispatch_at_rate,
    fresh_run,
    percentile,
    quick,
    write_result,
)
from tests.infra import ROOT, provide_infra, unique
from tests.standins.webhook_sink import free_port
from tools.evaluate.runner import wait_ready
from tools.wecom.api_standin import Contact, Follow, WeComApiStandIn, wecom_api
from tools.wecom.client import Callback, WeComClient, random_aes_key

CORP_ID = "wwbenchlookups0001"
TOKEN = "BenchLookups0123"
CORP_SECRET = "bench-corp-secret-0123456789"
CREATED = 1_790_000_000
OUTCOMES = ("profiled", "not_found", "rate_limited", "failed", "retried")


def change_xml(n: int, employee: str, external: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{CREATED + n}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[{employee}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
        "<State><![CDATA[branch-qr]]></State></xml>"
    )


class Ingestor:
    """The ingestor as a process on a fixed port, which can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**env, "INGESTOR_PORT": str(self.port)}
        self._log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ingestor"],
            cwd=ROOT,
            env=self._env,
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, nothing flushed
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def metrics(self) -> dict[str, float]:
        """ingestor_lookups_total by outcome and the backlog gauges (this process's life)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(("ingestor_lookup", "ingestor_lookups_total")):
                series, _, value = line.rpartition(" ")
                out[series] = float(value)
        return out


class Poster:
    """N persistent HTTP/1.1 connections that survive the ingestor going away: a request
    that cannot be sent or answered fails (and its connection is opened again later)."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.Queue()
        )
        for _ in range(size):
            self._idle.put_nowait(None)

    async def post(self, cb: Callback, limit: float) -> bool:
        """A kept-alive connection the server has closed meanwhile (idle, or its process
        killed) fails the first try: then once more on a new connection, as HTTP clients do."""
        conn = await self._idle.get()
        for fresh in (conn is None, True):
            try:
                if fresh or conn is None:
                    conn = await asyncio.wait_for(
                        asyncio.open_connection(self._host, self._port), 2
                    )
                reader, writer = conn
                writer.write(
                    f"POST {self._path}?{cb.query} HTTP/1.1\r\nHost: {self._host}\r\n"
                    f"Content-Type: text/xml\r\nContent-Length: {len(cb.body)}\r\n\r\n".encode()
                    + cb.body
                )
                status = await asyncio.wait_for(_status(reader), limit)
            except (OSError, TimeoutError, RuntimeError, asyncio.IncompleteReadError, ValueError):
                if conn is not None:
                    conn[1].close()
                conn = None
                if fresh:
                    break
                continue
            self._idle.put_nowait(conn)
            return status == 200
        self._idle.put_nowait(None)
        return False

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                conn[1].close()


async def _status(reader: asyncio.StreamReader) -> int:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(
        (int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")), 0
    )
    await reader.readexactly(length)
    return int(head[0].split()[1])


async def open_loop(
    poster: Poster, load: Sequence[Callback], rate: float, kill_at: float | None, restart: Any
) -> dict[str, Any]:
    """Callback i is due at t0 + i/rate; latency counts from when it was due. With `kill_at`
    (seconds into the load) `restart()` runs then, in a thread; the load goes on meanwhile."""
    latencies: list[float] = []
    failed: list[Callback] = []
    started = time.perf_counter()
    killer: asyncio.Task[Any] | None = None

    async def one(due: float, cb: Callback) -> None:
        if await poster.post(cb, 10.0):
            latencies.append(time.perf_counter() - due)
        else:
            failed.append(cb)

    def kill_when_due(due: float) -> None:
        nonlocal killer
        if kill_at is not None and killer is None and due - started >= kill_at:
            killer = asyncio.create_task(asyncio.to_thread(restart))

    lags = await dispatch_at_rate(load, rate, one, started, kill_when_due)
    restarted_after = await killer if killer is not None else None
    return {
        "offered_per_second": rate,
        "sent": len(load),
        "ok": len(latencies),
        "failed": len(failed),
        "seconds": round(time.perf_counter() - started, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "generator_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "restart_seconds": restarted_after,
        "_failed": failed,
    }


class ProfileReader:
    """Everything on the bank-records topic, per contact, while the benchmark runs."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self.records: dict[str, list[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ProfileReader:
        consumer = AIOKafkaConsumer(
            self._run.topics["TOPIC_BANK_RECORDS"],
            bootstrap_servers=self._run.infra.kafka_bootstrap,
            group_id=unique("bench-reader"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for r in records:
                        value = orjson.loads(r.value)
                        if value.get("type") == "contact_profile":
                            self.records.setdefault(value["external_userid"], []).append(value)
        finally:
            await consumer.stop()

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def contacts(api: WeComApiStandIn, n: int, employees: int = 2000) -> list[tuple[str, str]]:
    """n adds of new contacts; every 100th unknown to WeCom (a recorded not-found)."""
    out = []
    for i in range(n):
        employee, external = f"m{i % employees:05d}", f"wmL{i:08d}"
        if i % 100 != 99:
            api.add(Contact(external, follows=[Follow(employee, CREATED + i, add_way=1)]))
        out.append((employee, external))
    return out


async def variant(run: Run, args: argparse.Namespace, kill: bool) -> dict[str, Any]:
    aes_key = random_aes_key()
    wecom = WeComClient(TOKEN, aes_key, CORP_ID)
    n = int(args.rate * args.seconds)
    async with wecom_api(CORP_ID, CORP_SECRET) as api:
        api.max_lookups_per_second = args.wecom_limit
        api.failure_share, api.seed = args.failure_share, 2026
        adds = contacts(api, n)
        load = [wecom.callback(change_xml(i, e, x)) for i, (e, x) in enumerate(adds)]
        name = f"{run.suffix}-{'kill' if kill else 'steady'}"
        env = run.env(
            WECOM_CORP_ID=CORP_ID,
            WECOM_CALLBACK_TOKEN=TOKEN,
            WECOM_CALLBACK_AES_KEY=aes_key,
            WECOM_CORP_SECRET=CORP_SECRET,
            WECOM_API_BASE=api.base_url,
            INGEST_API_TOKENS="bench-token-0123456789abcdef",
            SPOOL_DIR=str(RESULTS / "logs" / f"{name}-spool"),
            LOOKUP_STATE_DIR=str(RESULTS / "logs" / f"{name}-lookups"),
            LOOKUP_GROUP_ID=f"ingestor-lookups-{name}",
            # the bank's share of WeCom's limit; the pace halves it on 45009 and climbs back
            WECOM_LOOKUP_RATE_PER_SECOND=str(args.wecom_limit),
            WECOM_LOOKUP_CONCURRENCY="64",
            WECOM_LOOKUP_RETRY_CAP_SECONDS="10",
        )
        ingestor = Ingestor(env, RESULTS / "logs" / f"{name}-ingestor.log")
        ingestor.start()
        poster = Poster(f"{ingestor.url}/wecom/callback", args.in_flight)
        killed: dict[str, Any] = {}

        def restart() -> float:
            before = ingestor.metrics()
            killed["metrics_before_kill"] = before
            t0 = time.monotonic()
            ingestor.kill()
            ingestor.start()
            return round(time.monotonic() - t0, 2)

        try:
            async with ProfileReader(run) as reader:
                kill_at = args.seconds / 2 if kill else None
                step = await open_loop(poster, load, args.rate, kill_at, restart)
                retried = step.pop("_failed")
                resent = 0
                for cb in retried:  # WeCom retries what was not answered 200
                    for _ in range(10):
                        if await poster.post(cb, 10.0):
                            resent += 1
                            break
                        await asyncio.sleep(1.0)
                load_done = time.monotonic()
                wanted = {x for _, x in adds}

                async def drained() -> bool:
                    return wanted <= reader.records.keys()

                drain = None
                while time.monotonic() - load_done < args.drain_limit:
                    if await drained():
                        drain = round(time.monotonic() - load_done, 1)
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(2.0)  # late duplicates, if any, would show now
                metrics = ingestor.metrics()
        finally:
            await poster.close()
            ingestor.stop()
        by_contact = reader.records
        known = [x for i, (_, x) in enumerate(adds) if i % 100 != 99]
        not_found = sum(1 for r in by_contact.values() for p in r if p.get("found") is False)
        answers = sum(api.answered.values())
    return {
        "variant": "kill" if kill else "steady",
        "callbacks": step,
        "callbacks_resent_after_failure": resent,
        "callbacks_never_stored": len(retried) - resent,
        "contacts": n,
        "contacts_with_a_record": len(wanted & by_contact.keys()),
        "contacts_without_a_record": len(wanted - by_contact.keys()),
        "contacts_with_two_or_more_records": sum(1 for r in by_contact.values() if len(r) > 1),
        "not_found_recorded": not_found,
        "not_found_expected": n - len(known),
        "successful_lookups": answers,
        "distinct_contacts_looked_up": len(api.answered),
        "contacts_wecom_knows": len(known),
        "repeated_lookups": answers - len(api.answered),
        "drain_seconds_after_load": drain,
        "wecom_faults": dict(api.faults),
        "wecom_lookup_calls": api.count("externalcontact/get"),
        "ingestor_metrics_at_end": metrics,
        **killed,
        "dropped": len(wanted - by_contact.keys()),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with provide_infra() as infra:
        for kill in [v == "kill" for v in args.variants]:
            async with fresh_run(infra, "lookups") as bench_run:
                results.append(await variant(bench_run, args, kill))
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "wecom_limit_per_second": args.wecom_limit,
        "failure_share": args.failure_share,
        "variants": results,
        "cpus": os.cpu_count(),
    }


def table_rows(r: dict[str, Any]) -> list[str]:
    """Rows of bench/results/table.md (the format of bench/__main__.py's)."""
    rows = []
    for v in r["variants"]:
        cb = v["callbacks"]
        title = (
            f"lookups, {int(r['rate'])} callbacks/s for {r['seconds']:g} s, WeCom ≤ "
            f"{int(r['wecom_limit_per_second'])}/s, {r['failure_share']:.0%} failing"
            + (", kill -9 mid-way" if v["variant"] == "kill" else "")
        )
        complete = v["dropped"] == 0 and v["callbacks_never_stored"] == 0
        rows.append(
            f"| {title}: callbacks p99 / max; every contact profiled or not-found | "
            f"{cb['p99_ms']} / {cb['max_ms']} ms ({cb['failed']} failed, resent); "
            f"{v['contacts_with_a_record']:,} of {v['contacts']:,}, {v['dropped']} dropped | "
            f"lookups {v['successful_lookups']:,} for {v['distinct_contacts_looked_up']:,} "
            f"contacts; drained {v['drain_seconds_after_load']} s after the load |  | "
            f"max ≤ 5 s, 0 dropped | {'yes' if complete and cb['max_ms'] <= 5000 else '**no**'} |"
        )
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=300 if quick() else 2000)
    p.add_argument("--seconds", type=float, default=20 if quick() else 60)
    p.add_argument("--wecom-limit", type=float, default=1000)
    p.add_argument("--failure-share", type=float, default=0.05)
    p.add_argument("--in-flight", type=int, default=128)
    p.add_argument("--drain-limit", type=float, default=300 if quick() else 900)
    p.add_argument("--variants", nargs="*", choices=["steady", "kill"], default=["steady", "kill"])
    p.add_argument("--kill", action="store_const", const=["kill"], dest="variants")
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = uvloop.run(run(args))
    write_result("lookups", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""`python -m bench.drain`: how fast the scorer drains a backlog.

Pre-loads N contact events (adds and removals of a seeded workload over one month, for E
employees) onto fresh topics, then starts one scorer process and measures the time until every
record is applied (offsets stored with the data) and every score recomputed. Runs on a stack of
its own (tests/infra.py), like `make eval`."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

from tests import factories as f
from tests.infra import create_database, drop_database, provide_infra, unique
from tests.kafka_helpers import produce
from tests.standins.webhook_sink import free_port
from tools.evaluate.runner import service, wait_drained, wait_ready


def workload(events: int, employees: int, seed: int) -> tuple[list[Any], list[Any]]:
    rng = random.Random(seed)
    staff = [f.employee(f"m{i:05d}", team_id=f"t{i % 50}") for i in range(employees)]
    out = []
    for n in range(events):
        record = f.add(
            f"m{rng.randrange(employees):05d}",
            f"wm{rng.randrange(events // 3):07d}",
            f.at(f"2026-09-{rng.randrange(1, 29):02d}", hour=rng.randrange(9, 18)),
        )
        record["CreateTime"] += n % 3600
        if rng.random() < 0.12:
            record["ChangeType"] = rng.choice(["del_follow_user", "del_external_contact"])
        out.append(record)
    return staff, out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    staff, events = workload(args.events, args.employees, args.seed)
    with provide_infra() as infra:
        database = await create_database(infra)
        suffix = unique("bench")
        topics = {
            "TOPIC_CONTACT_EVENTS": f"wecom.contact-events.{suffix}",
            "TOPIC_BANK_RECORDS": f"bank.records.{suffix}",
            "TOPIC_BREACHES": f"scoring.breaches.{suffix}",
        }
        try:
            loaded = time.monotonic()
            await produce(infra, topics["TOPIC_BANK_RECORDS"], staff)
            await produce(infra, topics["TOPIC_CONTACT_EVENTS"], events)
            load_seconds = time.monotonic() - loaded
            port = free_port()
            env = {
                **os.environ,
                **topics,
                "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
                "DATABASE_URL": infra.app_dsn(database),
                "DATABASE_MIGRATION_URL": infra.owner_dsn(database),
                "SCORER_GROUP_ID": f"scorer-{suffix}",
                "SCORER_PORT": str(port),
                "CLOSE_PERIOD_KINDS": "[]",
                "LOG_LEVEL": "WARNING",
            }
            log = Path(args.out) / f"{suffix}-scorer.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with service("scorer", env, log) as proc:
                wait_ready(f"http://127.0.0.1:{port}", proc)
                started = time.monotonic()
                seconds = await wait_drained(
                    infra.owner_dsn(database), f"scorer-{suffix}", len(staff) + len(events)
                )
            return {
                "events": len(events),
                "employees": len(staff),
                "preload_seconds": round(load_seconds, 1),
                "drain_seconds": round(seconds, 1),
                "events_per_second": round(len(events) / seconds),
                "wall_seconds": round(time.monotonic() - started, 1),
            }
        finally:
            await drop_database(infra, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--employees", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    os.environ.setdefault("WQ_STACK_DIR", str(Path(".run/bench").resolve()))
    os.environ.setdefault("WQ_STACK_BASE_PORT", "29192")
    result = asyncio.run(run(args))
    print("  ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

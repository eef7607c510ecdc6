"""`python -m bench.scaleout`: two scorer instances on topics of 12 partitions.

Pre-loads N mixed records keyed as the ingestor keys them (contact events and chat metadata by
employee, customer links by contact) onto topics of 12 partitions, then drains them twice,
each into a database of its own: once with one scorer instance (the reference, in the same
run), once with two instances in one consumer group (Kafka shares the partitions between
them; the offsets live in PostgreSQL with the data). Reports both drain rates and whether
every employee's figures for every period are identical."""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import ExitStack
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import workload
from bench.common import (
    RESULTS,
    Run,
    applied_records,
    default_stack,
    fresh_run,
    quick,
    service,
    verified,
    wait_until,
    write_result,
)
from services.scorer import at_rest
from tests.infra import Infra, provide_infra

PARTITIONS = 12
FIGURES_SQL = """
SELECT employee_id, period, target, gross_adds, first_adds, new_to_bank, valid_adds,
       pending_adds, removed_adds, status, quality_score
  FROM employee_period_score ORDER BY employee_id, period
"""


def compare(one: list[Any], two: list[Any]) -> dict[str, Any]:
    """Rows keyed by (employee, period): missing on either side, and differing columns."""
    names = [c.strip() for c in FIGURES_SQL.split("FROM")[0].replace("SELECT", "").split(",")]
    left = {r[:2]: r for r in one}
    right = {r[:2]: r for r in two}
    columns: dict[str, int] = {}
    differing = []
    for key in sorted(left.keys() & right.keys()):
        if left[key] != right[key]:
            differing.append([left[key], right[key]])
            for name, x, y in zip(names, left[key], right[key], strict=True):
                if x != y:
                    columns[name] = columns.get(name, 0) + 1
    return {
        "only_with_one_instance": sorted(left.keys() - right.keys())[:20],
        "only_with_two_instances": sorted(right.keys() - left.keys())[:20],
        "missing_rows": len(left.keys() ^ right.keys()),
        "differing_rows": len(differing),
        "differing_columns": columns,
        "examples": differing[:5],
    }


def key_of(record: dict[str, Any]) -> str:
    if record.get("type") == "contact_event":
        return str(record["UserID"])
    if record.get("type") == "customer_link":
        return str(record["external_userid"])
    return str(record.get("employee_id", "k"))


async def preload(infra: Infra, topics: dict[str, str], events: int, employees: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics["TOPIC_CONTACT_EVENTS"], PARTITIONS, 1),
                NewTopic(topics["TOPIC_BANK_RECORDS"], PARTITIONS, 1),
            ]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        pending = []
        for staff in workload.staff(employees):
            pending.append(
                await producer.send(
                    topics["TOPIC_BANK_RECORDS"],
                    orjson.dumps(staff),
                    key=str(staff["employee_id"]).encode(),
                )
            )
        for r in workload.mixed(events, employees, seed=3):
            topic = "TOPIC_CONTACT_EVENTS" if r["type"] == "contact_event" else "TOPIC_BANK_RECORDS"
            pending.append(
                await producer.send(topics[topic], orjson.dumps(r), key=key_of(r).encode())
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def drain(run: Run, total: int, instances: int) -> tuple[dict[str, Any], list[Any]]:
    env = run.env(TOPIC_PARTITIONS=str(PARTITIONS))
    with ExitStack() as stack:
        scorers = [
            stack.enter_context(
                service("scorer", env, RESULTS / "logs" / f"{run.suffix}-scorer{i}.log")
            )
            for i in range(instances)
        ]
        started = time.monotonic()
        conn = await asyncpg.connect(run.owner_dsn)
        try:

            async def done() -> bool:
                """Applied, and the scores at rest on the final inputs (at_rest.py): what the
                one- and two-instance runs' anomaly scores are compared at."""
                if await applied_records(conn, run.group) < total:
                    return False
                return await at_rest.settled(conn, run.group)

            await wait_until(done, 3600)
            seconds = time.monotonic() - started
            partitions = await conn.fetchval(
                "SELECT count(*) FROM consumer_offset WHERE consumer_group = $1", run.group
            )
            figures = [tuple(r) for r in await conn.fetch(FIGURES_SQL)]
            anomaly = [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT employee_id, period, anomaly_score FROM employee_period_score "
                    "ORDER BY 1, 2"
                )
            ]
        finally:
            await conn.close()
        rss = [s.rss_mb() for s in scorers]
    differences = await verified(run)
    return {
        "instances": instances,
        "seconds": round(seconds, 1),
        "per_second": round(total / seconds),
        "partitions_with_offsets": partitions,
        "rss_mb": rss,
        "score_rows": len(figures),
        "verifier_differences": differences,
    }, [figures, anomaly]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.events + args.employees
    with provide_infra() as infra:
        async with fresh_run(infra, "scale1") as one:
            await preload(infra, one.topics, args.events, args.employees)
            single, (figures_one, anomaly_one) = await drain(one, total, 1)
            async with fresh_run(infra, "scale2") as two:
                two.topics = one.topics
                double, (figures_two, anomaly_two) = await drain(two, total, 2)
    return {
        "events": args.events,
        "employees": args.employees,
        "partitions": PARTITIONS,
        "one_instance": single,
        "two_instances": double,
        "ratio_two_to_one": round(double["per_second"] / single["per_second"], 2),
        "figures_identical": figures_one == figures_two,
        "anomaly_scores_identical": anomaly_one == anomaly_two,
        "differences": compare(figures_one, figures_two),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=30_000 if quick() else 200_000)
    p.add_argument("--employees", type=int, default=1_000 if quick() else 5_000)
    return p


def main() -> None:
    args = parser().parse_args()
    default_stack()
    result = asyncio.run(run(args))
    write_result("scaleout", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

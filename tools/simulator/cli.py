"""`python -m tools.simulator`: generate a month, write it and its labels, optionally post it.

    python -m tools.simulator --seed 1 --month 2026-10 --employees 200 --camouflage 1 \\
        --out scenario.jsonl --labels labels.json \\
        [--post http://127.0.0.1:8080 --token T --speed 720]

The token may also come from SIMULATOR_TOKEN or the first of INGEST_API_TOKENS; it is never
printed."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

from tools.simulator.config import DEFAULT_ROBOT_BASE, SimulationConfig
from tools.simulator.feed import DEFAULT_BATCH, FeedError, feed, ndjson
from tools.simulator.scenario import Scenario, generate


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.simulator", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--month", default="2026-10", help="calendar month, e.g. 2026-10")
    p.add_argument("--employees", type=int, default=200)
    p.add_argument("--camouflage", type=int, choices=(0, 1, 2), default=1)
    p.add_argument(
        "--tail-days",
        type=int,
        default=0,
        help="let deletes and replies run this many days past the month",
    )
    p.add_argument(
        "--robot-base",
        default=DEFAULT_ROBOT_BASE,
        help="base URL of the teams' group-robot webhooks",
    )
    p.add_argument("--out", type=Path, help="write the records as NDJSON here")
    p.add_argument("--labels", type=Path, help="write labels and expected quota (JSON) here")
    p.add_argument("--post", metavar="URL", help="ingestor base URL to POST /v1/events to")
    p.add_argument("--token", help="bearer token (default: $SIMULATOR_TOKEN or $INGEST_API_TOKENS)")
    p.add_argument(
        "--speed",
        type=float,
        help="simulated seconds per real second (720: a month "
        "in about an hour); default: as fast as possible",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    return p


def _token(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    configured = os.environ.get("SIMULATOR_TOKEN") or os.environ.get("INGEST_API_TOKENS", "")
    return configured.split(",")[0].strip() or None


def summary(scenario: Scenario) -> str:
    kinds = _counts(Counter(r["type"] for r in scenario.records))
    labels = _counts(Counter(scenario.labels.employees.values()))
    config = scenario.config
    return (
        f"seed {config.seed}, {config.month}, {config.employees} employees, "
        f"camouflage {config.camouflage}: {len(scenario.records)} records ({kinds}); "
        f"employees by label: {labels}"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items()))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = SimulationConfig(
            seed=args.seed,
            month=args.month,
            employees=args.employees,
            camouflage=args.camouflage,
            tail_days=args.tail_days,
            robot_base=args.robot_base,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    token = _token(args.token)
    if args.post and token is None:
        print(
            "error: --post needs --token (or SIMULATOR_TOKEN / INGEST_API_TOKENS)", file=sys.stderr
        )
        return 2
    scenario = generate(config)
    print(summary(scenario), file=sys.stderr)
    if args.out:
        args.out.write_bytes(ndjson(scenario.records))
        print(f"records written to {args.out}", file=sys.stderr)
    if args.labels:
        args.labels.write_bytes(orjson.dumps(scenario.labels_json(), option=orjson.OPT_INDENT_2))
        print(f"labels written to {args.labels}", file=sys.stderr)
    if args.post and token is not None:
        try:
            result = feed(
                scenario.records, args.post, token, batch_size=args.batch_size, speed=args.speed
            )
        except FeedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"posted {result.batches} batches, {result.accepted} records accepted", file=sys.stderr
        )
    return 0

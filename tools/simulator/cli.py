"""`python -m tools.simulator`: generate a month, write it and its labels, optionally post it.

    python -m tools.simulator --seed 1 --month 2026-10 --employees 200 --camouflage 1 \\
        --out scenario.jsonl --labels labels.json \\
        [--post http://127.0.0.1:8080 --token T --speed 720] \\
        [--backfill 2026-08] [--callbacks --wecom-standin http://127.0.0.1:8083]

The token may also come from SIMULATOR_TOKEN or the first of INGEST_API_TOKENS; it is never
printed. `--backfill` months (the same bank) are posted first, as fast as the ingestor takes
them; `--callbacks` sends contact events as WeCom does (tools/simulator/wecom_path.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

from tools.simulator.config import DEFAULT_CORP_ID, DEFAULT_ROBOT_BASE, SimulationConfig
from tools.simulator.feed import DEFAULT_BATCH, FeedError, feed, ndjson
from tools.simulator.scenario import Scenario, generate
from tools.simulator.wecom_path import WeComPath, feed_month


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
    p.add_argument(
        "--backfill",
        action="append",
        default=[],
        metavar="MONTH",
        help="an earlier month of the same bank, posted first and unpaced (repeatable)",
    )
    p.add_argument(
        "--callbacks",
        action="store_true",
        help="contact events as encrypted, signed WeCom callbacks (WECOM_CORP_ID, "
        "WECOM_CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY), profiles from --wecom-standin",
    )
    p.add_argument("--wecom-standin", metavar="URL", help="the WeCom stand-in's base URL")
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
    months = [*args.backfill, args.month]
    salted = len(months) > 1  # several months of one bank: ids of their own
    path = None
    try:
        if args.callbacks:
            if not args.wecom_standin:
                raise FeedError("--callbacks needs --wecom-standin")
            path = WeComPath.from_env(args.wecom_standin)
        configs = [
            SimulationConfig(
                seed=args.seed,
                month=month,
                employees=args.employees,
                camouflage=args.camouflage,
                tail_days=args.tail_days,
                robot_base=args.robot_base,
                id_salt=month if salted else "",
                corp_id=path.wecom.corp_id if path else DEFAULT_CORP_ID,
            )
            for month in months
        ]
    except (ValueError, FeedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    token = _token(args.token)
    if args.post and token is None:
        print(
            "error: --post needs --token (or SIMULATOR_TOKEN / INGEST_API_TOKENS)", file=sys.stderr
        )
        return 2
    for config in configs:
        scenario = generate(config)
        print(summary(scenario), file=sys.stderr)
        last = config is configs[-1]
        if last:
            _write(scenario, args.out, args.labels)
        if args.post and token is not None:
            speed = args.speed if last else None
            try:
                if path is None:
                    result = feed(
                        scenario.records,
                        args.post,
                        token,
                        batch_size=args.batch_size,
                        speed=speed,
                    )
                else:
                    result = feed_month(scenario, args.post, token, path, speed)
            except FeedError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(
                f"{config.month}: posted {result.batches} batches, {result.accepted} records "
                f"accepted, {result.contact_events_diverted} contact events as callbacks",
                file=sys.stderr,
            )
    return 0


def _write(scenario: Scenario, out: Path | None, labels: Path | None) -> None:
    if out:
        out.write_bytes(ndjson(scenario.records))
        print(f"records written to {out}", file=sys.stderr)
    if labels:
        labels.write_bytes(orjson.dumps(scenario.labels_json(), option=orjson.OPT_INDENT_2))
        print(f"labels written to {labels}", file=sys.stderr)

"""`python -m tools.live_summary`: the live summary of the running stack, refreshed every few
seconds (`make watch`). Ctrl-C stops watching; the stack keeps running.

Sources come from the environment `make up` uses: INGESTOR_PORT, SCORER_PORT, NOTIFIER_PORT,
KAFKA_BOOTSTRAP_SERVERS, DATABASE_READER_URL (the read-only role, for the consumer lag)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from typing import TextIO
from zoneinfo import ZoneInfo

import httpx

from shared.clock import clock_from_env
from tools.live_summary.collect import LagReader, Sources, collect
from tools.live_summary.view import Snapshot, render

CLEAR = "\033[H\033[2J"
NO_LAG = "consumer lag: DATABASE_READER_URL is not set"


def default_period() -> str:
    """The simulated month when one is fed, else the current month of the business calendar."""
    tz = ZoneInfo(os.environ.get("BUSINESS_TIMEZONE", "Asia/Shanghai"))
    today = clock_from_env(os.environ)().astimezone(tz)
    return os.environ.get("SIMULATE_MONTH") or today.strftime("%Y-%m")


def sources_from_env() -> Sources:
    env = os.environ.get
    return Sources(
        ingestor=f"http://127.0.0.1:{env('INGESTOR_PORT', '8080')}",
        scorer=f"http://127.0.0.1:{env('SCORER_PORT', '8081')}",
        notifier=f"http://127.0.0.1:{env('NOTIFIER_PORT', '8082')}",
        kafka=env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        database_url=env("DATABASE_READER_URL") or None,
        scorer_group=env("SCORER_GROUP_ID", "scorer"),
        notifier_group=env("NOTIFIER_GROUP_ID", "notifier"),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.live_summary", description=__doc__)
    p.add_argument(
        "--period", default=default_period(), help="period to show (default: %(default)s)"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("WATCH_SECONDS", "0")),
        help="stop watching after this long; 0 = until Ctrl-C (env WATCH_SECONDS)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=float(os.environ.get("WATCH_INTERVAL", "3")),
        help="seconds between refreshes (env WATCH_INTERVAL, default 3)",
    )
    p.add_argument("--once", action="store_true", help="print one summary (two readings) and exit")
    p.add_argument("--top", type=int, default=5, help="anomalies to list")
    return p.parse_args(argv)


async def watch(args: argparse.Namespace, out: TextIO) -> None:
    sources = sources_from_env()
    clock = clock_from_env(os.environ)
    lag = LagReader(sources) if sources.database_url else None
    tty = out.isatty() and not args.once
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + args.seconds if args.seconds > 0 else None
    footer = (
        "Ctrl-C stops watching; the stack keeps running (make watch: again · make down: stop it)"
    )
    before: Snapshot | None = None
    try:
        # WQ_API_TOKEN: a token that reads every score and alert (`make up` issues one, risk)
        token = os.environ.get("WQ_API_TOKEN", "")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=10, headers=headers) as client:
            readings = 0
            while True:
                now = await collect(client, sources, args.period, lag, clock)
                readings += 1
                if lag is None:
                    now = replace(now, problems=(*now.problems, NO_LAG))
                if not args.once or readings == 2:
                    screen = render(now, before, top=args.top, footer=footer if tty else "")
                    out.write((CLEAR if tty else "") + screen + "\n" + ("" if tty else "\n"))
                    out.flush()
                if args.once and readings == 2:
                    return
                if stop_at is not None and loop.time() + args.interval > stop_at:
                    return
                before = now
                await asyncio.sleep(args.interval)
    finally:
        if lag is not None:
            await lag.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # What cannot be reached is said in the summary; the Kafka client's own log lines about it
    # would only scroll the screen.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        asyncio.run(watch(args, sys.stdout))
    except KeyboardInterrupt:
        print(
            "\nstopped watching; the stack keeps running (make watch: again · make down: stop it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

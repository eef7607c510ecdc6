"""`python -m tools.report --period 2026-11 --branch br01 --out reports/br01-2026-11.html`:
the HTML report of one period and branch (all branches without --branch), read from the SQL
views through DATABASE_READER_URL (else DATABASE_URL)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from shared.calendar import parse_period
from shared.clock import clock_from_env
from tools.report import charts
from tools.report.figures import ReportData, quality_by_team
from tools.report.page import render
from tools.report.source import load


def draw(data: ReportData) -> dict[str, bytes]:
    if not data.employees:
        return {}
    return {
        "team_attainment": charts.team_attainment(data.teams),
        "status_counts": charts.status_counts(data.teams),
        "quality_components": charts.quality_components(quality_by_team(data.employees)),
        "employee_attainment": charts.employee_attainment(data.employees),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.report", description=__doc__)
    p.add_argument("--period", required=True, help="e.g. 2026-11, 2026-W47, 2026-Q4, 2026-11-20")
    p.add_argument("--branch", help="branch id; all branches when left out")
    p.add_argument(
        "--out", type=Path, help="file to write (default reports/<branch>-<period>.html)"
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_READER_URL") or os.environ.get("DATABASE_URL"),
        help="PostgreSQL DSN (default: DATABASE_READER_URL, else DATABASE_URL)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        period = parse_period(args.period).key
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.database_url:
        print("error: no database: set DATABASE_READER_URL or pass --database-url", file=sys.stderr)
        return 2
    tz = ZoneInfo(os.environ.get("BUSINESS_TIMEZONE", "Asia/Shanghai"))
    try:
        data = asyncio.run(
            load(args.database_url, period, args.branch, tz, clock_from_env(os.environ))
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"error: cannot read the views: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    out = args.out or Path("reports") / f"{args.branch or 'all'}-{period}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data, draw(data)), encoding="utf-8")
    scope = f"branch {args.branch}" if args.branch else "all branches"
    if not data.employees:
        print(f"warning: no scores for {scope} in {period}", file=sys.stderr)
    print(f"report of {scope}, {period}: {out} ({len(data.employees)} employees)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

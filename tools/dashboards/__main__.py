"""`python -m tools.dashboards [--check]`: write the dashboards' JSON into deploy/grafana/
dashboards/, or with --check exit 1 naming the files that differ from what the code makes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard

from tools.dashboards import business, employee, pipeline
from tools.dashboards.common import render
from tools.generated import arguments, write_or_check

OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "pipeline-health.json": pipeline.build,
    "business-overview.json": business.build,
    "employee-drilldown.json": employee.build,
}


def generated() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main() -> int:
    args = arguments(__doc__, "python -m tools.dashboards", OUT)
    return write_or_check(generated(), args.out, args.check, "make dashboards")


if __name__ == "__main__":
    sys.exit(main())

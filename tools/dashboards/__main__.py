"""`python -m tools.dashboards [--check]`: write the dashboards' JSON into deploy/grafana/
dashboards/, or with --check exit 1 naming the files that differ from what the code makes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard

from tools.dashboards import business, employee, pipeline
from tools.dashboards.common import render

OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "pipeline-health.json": pipeline.build,
    "business-overview.json": business.build,
    "employee-drilldown.json": employee.build,
}


def generated() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    stale = []
    for name, text in generated().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run `make dashboards`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

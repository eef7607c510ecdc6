"""`python -m tools.evaluate` (`make eval`): simulate bank months with fixed seeds, feed them
through the real ingestor and scorer, grade the anomaly list, flags and valid adds, and write
a JSON result, a table and a chart."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import orjson

from tests.infra import provide_infra
from tools.evaluate.chart import draw
from tools.evaluate.grading import grade
from tools.evaluate.runner import FEEDS, run_scenario
from tools.simulator import SimulationConfig, generate

COLUMNS = (
    "seed",
    "camouflage",
    "average_precision",
    "roc_auc",
    "precision_at_k",
    "hard_negative_flag_rate",
    "clean_flag_rate",
    "contact_flag_precision",
    "contact_flag_recall",
    "valid_adds_equal",
)


async def evaluate(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with provide_infra() as infra:
        for seed in args.seeds:
            for camouflage in args.camouflage:
                scenario = generate(
                    SimulationConfig(
                        seed=seed, month=args.month, employees=args.employees, camouflage=camouflage
                    )
                )
                started = time.monotonic()
                result = await run_scenario(infra, scenario, out, args.feed)
                labels = dict(scenario.labels.contacts)
                graded = grade(result["employees"], labels, result["contact_flags"])
                runs.append(
                    {
                        "seed": seed,
                        "camouflage": camouflage,
                        **result,
                        **graded,
                        "seconds": round(time.monotonic() - started, 1),
                    }
                )
                print(_row(runs[-1]), flush=True)
    return runs


def _row(run: dict[str, Any]) -> str:
    return "  ".join(f"{c}={run[c]}" for c in COLUMNS) + (
        f"  recall={run['recall_by_pattern']}  feed={run['feed']}  records={run['records']} "
        f"drain={run['drain_after_feed_seconds']}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--camouflage", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--out", default="eval/results")
    parser.add_argument(
        "--feed",
        choices=FEEDS,
        default="callbacks",
        help="callbacks: contact events as encrypted WeCom callbacks, enrichment from the "
        "WeCom REST stand-in (the real interfaces); events: everything on /v1/events (faster)",
    )
    args = parser.parse_args()
    # a stack of its own, apart from the test suite's
    os.environ.setdefault("WQ_STACK_DIR", str(Path(".run/eval").resolve()))
    os.environ.setdefault("WQ_STACK_BASE_PORT", "29092")
    runs = asyncio.run(evaluate(args))
    out = Path(args.out)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    draw(runs, out / f"eval-{stamp}.png")
    public = [{k: v for k, v in r.items() if k not in ("employees", "contact_flags")} for r in runs]
    (out / f"eval-{stamp}.json").write_bytes(orjson.dumps(public, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {out}/eval-{stamp}.json and {out}/eval-{stamp}.png")


if __name__ == "__main__":
    main()

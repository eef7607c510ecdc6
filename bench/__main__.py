"""`python -m bench` (`make bench`): every benchmark in turn on a stack of its own, then one
table. `BENCH_QUICK=1` runs them small (minutes, the soak for 2); the full run leaves the
30-minute soak out unless `SOAK_MINUTES` is set (`--only soak` runs it alone, 30 minutes by
default); `--only` picks benchmarks. Each writes bench/results/<name>.json; the table is
bench/results/table.md. A benchmark that fails is a row of the table saying why, the others
run on, and the exit status is then 1."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import orjson
import uvloop

from bench import drain, ingest, live, lookups, scaleout, soak, spool, state
from bench.common import RESULTS, default_stack, quick, write_result

BENCHES: dict[str, Any] = {
    "ingest": ingest,
    "drain": drain,
    "live": live,
    "scaleout": scaleout,
    "state": state,
    "lookups": lookups,
    "spool": spool,
    "soak": soak,
}


def default_benches() -> list[str]:
    """All of them; the 30-minute soak only when asked for (SOAK_MINUTES) or quick (2 min)."""
    with_soak = quick() or float(os.environ.get("SOAK_MINUTES") or 0) > 0
    return [name for name in BENCHES if name != "soak" or with_soak]


def _row(figure: str, value: Any, reference: str, ratio: Any, target: str, met: bool | None) -> str:
    mark = "—" if met is None else ("yes" if met else "**no**")
    return f"| {figure} | {value} | {reference} | {ratio} | {target} | {mark} |"


def _ingest_rows(r: dict[str, Any]) -> list[str]:
    ref = r["reference_crypto_produce"]["per_second"]
    rows = [
        _row(
            "ingestor callbacks/s (max, 64 in flight)",
            r["max"]["per_second"],
            f"crypto + produce only: {ref}/s",
            r["ratio_max_to_reference"],
            "≥ 2,000/s",
            r["max"]["per_second"] >= 2000,
        )
    ]
    for s in r["open_loop"]:
        rate = int(s["offered_per_second"])
        rows.append(
            _row(
                f"ingestor p50 / p99 at {rate}/s offered",
                f"{s['p50_ms']} / {s['p99_ms']} ms ({s['per_second']}/s, {s['failed']} failed)",
                f"crypto + produce p99 at max: {r['reference_crypto_produce']['p99_ms']} ms",
                "",
                "p99 ≤ 50 ms at 1,000/s" if rate == 1000 else "",
                s["p99_ms"] <= 50 if rate == 1000 else None,
            )
        )
    return rows


def _verifier_row(what: str, differences: int | None) -> str:
    return _row(
        f"verifier after {what}: quota figures of every period against a recount",
        "not run" if differences is None else f"{differences} differences",
        "",
        "",
        "0 differences",
        None if differences is None else differences == 0,
    )


def _drain_rows(r: dict[str, Any]) -> list[str]:
    rate = r["scorer"]["per_second"]
    return [
        _row(
            f"scorer drain, {r['events']:,} mixed records, {r['employees']:,} employees, "
            "until every score is current",
            f"{rate}/s ({r['scorer']['seconds']} s)",
            f"bare consume + parse: {r['bare_consume_parse']['per_second']}/s",
            r["ratio_to_bare"],
            "≥ 0.3 × bare consume + parse",
            r["ratio_to_bare"] >= 0.3,
        ),
        _row(
            "— of which applied to state (offsets stored with the data)",
            f"{r['scorer']['applied_per_second']}/s ({r['scorer']['applied_seconds']} s)",
            f"bare consume + parse: {r['bare_consume_parse']['per_second']}/s",
            round(r["scorer"]["applied_per_second"] / r["bare_consume_parse"]["per_second"], 3),
            "",
            None,
        ),
        _row(
            "scorer drain vs naive (a transaction + recompute per record)",
            f"{rate}/s",
            f"naive: {r['naive_per_event']['per_second']}/s "
            f"(sample of {r['naive_per_event']['records']})",
            f"{r['speedup_over_naive']}×",
            "≥ 5×",
            r["speedup_over_naive"] >= 5,
        ),
        _row(
            "scorer resident memory in the drain, peak",
            f"{r['scorer'].get('rss_peak_mb', '–')} MB (at the end {r['scorer']['rss_mb']} MB)",
            "",
            "",
            "≤ 500 MB",
            r["scorer"].get("rss_peak_mb", 0) <= 500 if "rss_peak_mb" in r["scorer"] else None,
        ),
        _verifier_row("the drain", r["scorer"].get("verifier_differences")),
    ]


QUOTA_P99_MS = {2000: 1000, 5000: 2000}
"""The event → quota figure targets per offered rate (events/s)."""
LAG_FLAT_PER_SECOND = 10.0
"""A consumer lag that rises by less than this many records a second while sending (the
least-squares slope) is taken as not growing: a fraction of one batch over three minutes."""


def _live_rows(r: dict[str, Any]) -> list[str]:
    rows = []
    for s in r["steps"]:
        rate = int(s["rate"])
        bound = QUOTA_P99_MS.get(rate)
        growth = live.lag_growth(s["series"], s["seconds"])
        rows.append(
            _row(
                f"event → month quota figure at {rate}/s for {int(s['seconds'])} s",
                f"p50 {s['p50_ms']} / p99 {s['p99_ms']} ms; lag max {s['max_lag']}, "
                f"rising {growth:+.0f}/s while sending"
                + ("" if s.get("caught_up", True) else "; not all scored within the limit"),
                f"Kafka alone p99 {s['kafka_p99_ms']} ms",
                s["p99_ratio_to_kafka"],
                f"p99 ≤ {bound / 1000:g} s, lag not growing" if bound else "",
                s["p99_ms"] <= bound and growth <= LAG_FLAT_PER_SECOND and s.get("caught_up", True)
                if bound
                else None,
            )
        )
        if s.get("anomaly_p99_ms") is not None:
            rows.append(
                _row(
                    f"event → month anomaly score at {rate}/s",
                    f"p50 {s['anomaly_p50_ms']} / p99 {s['anomaly_p99_ms']} ms",
                    f"Kafka alone p99 {s['kafka_p99_ms']} ms",
                    round(s["anomaly_p99_ms"] / max(s["kafka_p99_ms"], 1), 1),
                    "p99 ≤ 10 s at 2,000/s" if rate == 2000 else "",
                    s["anomaly_p99_ms"] <= 10_000 if rate == 2000 else None,
                )
            )
        if "branch_read_p99_ms" in s:
            api, sql = s["branch_read_p99_ms"], s["branch_read_sql_p99_ms"]
            rows.append(
                _row(
                    f"GET /v1/scores one branch (month, 200 rows) during {rate}/s",
                    f"p50 {s['branch_read_p50_ms']} / p99 {api} ms ({s['branch_reads']} reads)",
                    f"same rows by SQL p99 {sql} ms",
                    round(api / sql, 1) if sql else None,
                    "p99 ≤ 50 ms at 2,000/s" if rate == 2000 else "",
                    api <= 50 if rate == 2000 else None,
                )
            )
        peaks = [s["rss_mb_first_half_max"], s["rss_mb_second_half_max"]]
        other = s.get("refresh_rss_mb_peak")
        rows.append(
            _row(
                f"scorer resident memory during {rate}/s, peak",
                f"{' + '.join(s.get('roles', ['scorer']))}: {max(peaks)} MB"
                + (f" + {other} MB" if other is not None else ""),
                "",
                "",
                "≤ 500 MB each",
                max(peaks + ([other] if other is not None else [])) <= 500,
            )
        )
        rows.append(_verifier_row(f"the {rate}/s step", s.get("verifier_differences")))
    return rows


def _soak_rows(r: dict[str, Any]) -> list[str]:
    title = f"soak, 3 services, {int(r['rate'])} callbacks/s for {r['minutes']:g} min"
    rss = r["rss"]
    memory = "; ".join(
        f"{name} {v['first_half_max_mb']} → {v['second_half_max_mb']} MB "
        f"({v['slope_last_two_thirds_mb_per_10_min']:+} MB/10 min)"
        for name, v in rss.items()
    )
    lag = r["lag"]
    return [
        _row(
            f"{title}: resident memory, max 1st → 2nd half (slope, last ⅔)",
            memory,
            "start: " + ", ".join(f"{n} {v['start_mb']} MB" for n, v in rss.items()),
            "",
            "flat, each ≤ 500 MB",
            r["memory_flat"] and all(v["under_500_mb"] for v in rss.values()),
        ),
        _row(
            f"{title}: lag (ingestor: callbacks not answered yet; scorer, notifier: "
            "consumer lag), max in the last third (fitted rise, last ⅔)",
            "; ".join(
                f"{g} {v['last_third_max']} ({v['fitted_rise_last_two_thirds']:+})"
                for g, v in lag.items()
            ),
            "max over the run: " + ", ".join(f"{g} {v['max']}" for g, v in lag.items()),
            "",
            "bounded, not growing",
            r["lag_flat"],
        ),
        _row(
            f"{title}: event → month score p50 / p99; callback p99",
            f"{r['score_p50_ms']} / {r['score_p99_ms']} ms; {r['callback_p99_ms']} ms",
            f"{r['callbacks_failed']} callbacks failed; drained {r['drained_after_seconds']} s "
            "after the load",
            "",
            "",
            None,
        ),
    ]


def _scaleout_rows(r: dict[str, Any]) -> list[str]:
    return [
        _row(
            f"two scorers, {r['partitions']} partitions, {r['events']:,} records",
            f"{r['two_instances']['per_second']}/s, figures identical: {r['figures_identical']}"
            f", anomaly scores identical (at rest): {r.get('anomaly_scores_identical')}",
            f"one scorer: {r['one_instance']['per_second']}/s",
            r["ratio_two_to_one"],
            "identical figures, anomaly included",
            bool(r["figures_identical"] and r.get("anomaly_scores_identical")),
        ),
        *(
            _verifier_row(f"the {n} run", r[key].get("verifier_differences"))
            for n, key in (("one-scorer", "one_instance"), ("two-scorer", "two_instances"))
        ),
    ]


def _state_rows(r: dict[str, Any]) -> list[str]:
    c, q = r["close"], r["scores_one_branch"]
    return [
        _row(
            f"close a month, {r['employees']:,} employees, "
            f"{r['relations_loaded']['relations']:,} relations",
            f"{c['seconds']} s",
            f"reading its inputs by SQL: {c['reference_read_seconds']} s",
            c["ratio_to_reference"],
            "≤ 15 s",
            c["seconds"] <= 15,
        ),
        _row(
            f"GET /v1/scores one branch ({q['rows']} rows)",
            f"p50 {q['p50_ms']} / p99 {q['p99_ms']} ms",
            f"same rows by SQL p99 {q['sql_p99_ms']} ms",
            round(q["p99_ms"] / q["sql_p99_ms"], 1) if q["sql_p99_ms"] else "",
            "",
            None,
        ),
        _row(
            "scorer resident memory (peak)",
            f"{r['scorer_peak_rss_mb']} MB",
            "",
            "",
            "≤ 500 MB",
            r["scorer_peak_rss_mb"] <= 500,
        ),
    ]


ROWS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "ingest": _ingest_rows,
    "drain": _drain_rows,
    "live": _live_rows,
    "scaleout": _scaleout_rows,
    "state": _state_rows,
    "lookups": lookups.table_rows,
    "spool": spool.table_rows,
    "soak": _soak_rows,
}


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| figure | measured | reference (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if "failed" in result:
            lines.append(_row(f"`{name}` did not finish", result["failed"], "", "", "", False))
            continue
        lines += ROWS[name](result)
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", nargs="*", choices=list(BENCHES), default=default_benches())
    args = p.parse_args()
    default_stack()
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for name in args.only:
        module = BENCHES[name]
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            # uvloop: the load generators' own loop costs less of the shared cores
            results[name] = uvloop.run(module.run(module.parser().parse_args([])))
        except Exception as exc:  # one benchmark's failure leaves the others' figures
            traceback.print_exc()
            results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
        write_result(name, results[name])
        print(f"   {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    text = table(results)
    mode = "quick" if quick() else "full"
    header = f"`make bench` ({mode}), {time.monotonic() - started:.0f} s in all\n\n"
    (RESULTS / "table.md").write_text(header + text + "\n")
    write_result("summary", {"mode": mode, "table": text})
    print(header + text)
    print(orjson.dumps({"results": str(RESULTS)}).decode())
    failed = [name for name, result in results.items() if "failed" in result]
    if failed:
        sys.exit(f"benchmarks that did not finish: {', '.join(failed)} (the table has the rest)")


if __name__ == "__main__":
    main()

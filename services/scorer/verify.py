"""`python -m services.scorer.verify --period P [--period P ...] | --all`: the quota and
quality figures kept by deltas, checked against a recount the slow way.

Due timers are run first (a window that ended is not a difference, only work not yet done);
then, in one repeatable-read snapshot, every relation whose first add falls in the period is
judged from the stored facts (each lookup made afresh, and compared with what its standing
keeps of them: a staff account, a handover, a reviewer's verdict, removals), the quota and
quality counters (matched customers by tier included) are recounted from those verdicts, the
chat figures (chat-days, answered ones, the median first reply, messages sent) from the stored
messages, the gross adds from the stored add events, and each is compared with `quota_counter`
(what the read API shows of an open period) and, for a period still open, with the quota and
quality columns of `employee_period_score` (their copies in the rows, which the refresh writes
once a row has settled: a row still waiting for it in `score_dirty` is not compared yet). The
peers' baseline tallies, as counted from what the standings keep, and each employee's anomaly
features as kept by deltas (`add_bucket`, domain/features.py) are compared with the same
counted from the relations. Every difference is listed; the exit status is 1 if there is any.

A period whose contact data was purged (CONTACT_DATA_RETENTION_MONTHS, migration 0017) cannot
be recounted: it is skipped, and the output says so. What erased contacts still count in a
closed period (`erasure_carry`, `wecom-quota erase`) is added to its recount."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.scorer import buckets, inputs, tally
from services.scorer.domain.features import FIELDS, Bucket, Features, features_of
from services.scorer.domain.tally import COUNTERS, TIER_PREFIX, standing_of, totals
from services.scorer.domain.validity import ContactFacts
from services.scorer.scoring import Scorer
from services.scorer.settings import ScorerSettings
from shared.calendar import Period, parse_period
from shared.db import SERVER_SETTINGS, Connection
from shared.schemas import ADD_CHANGES


@dataclass(frozen=True)
class Difference:
    period: str
    employee_id: str
    figure: str
    kept: object
    recounted: object

    def __str__(self) -> str:
        return (
            f"{self.period} {self.employee_id} {self.figure}: kept {self.kept}, "
            f"recounted {self.recounted}"
        )


@dataclass(frozen=True)
class Skipped:
    period: str
    purged_before: datetime
    purged_at: datetime

    def __str__(self) -> str:
        return (
            f"{self.period}: skipped, its contact data before {self.purged_before.isoformat()} "
            f"was purged on {self.purged_at.isoformat()} (CONTACT_DATA_RETENTION_MONTHS): "
            "its figures are kept as they stood and cannot be recounted"
        )


PURGED_SQL = "SELECT period, purged_before, purged_at FROM purged_period WHERE period = $1"
CARRY_SQL = "SELECT * FROM erasure_carry WHERE period = $1"

GROSS_SQL = """
SELECT employee_id, count(*)::int AS gross_adds FROM contact_event
 WHERE change_type = ANY($3::text[]) AND occurred_at >= $1 AND occurred_at < $2
 GROUP BY employee_id
"""


async def added_in(
    conn: Connection, scorer: Scorer, period: Period, live: bool
) -> list[ContactFacts]:
    """The facts of every relation first added in `period`: `live`, every lookup made afresh;
    else as the refresh and the close read them (the lookups the standings keep)."""
    tz = scorer.calendar.tz
    ids = [
        r["employee_id"]
        for r in await conn.fetch(
            """SELECT DISTINCT employee_id FROM employee_contact
                WHERE first_added_at >= $1 AND first_added_at < $2""",
            period.start_at(tz),
            period.end_at(tz),
        )
    ]
    return await inputs.relations(conn, period, ids, tz, live=live)


def lookup_differences(
    period: Period, kept: Sequence[ContactFacts], live: Sequence[ContactFacts]
) -> list[Difference]:
    """Relations whose facts as read from their standings differ from the lookups made afresh
    (named by employee and fact, never by contact)."""
    fresh = {(f.employee_id, f.external_userid): f for f in live}
    out: list[Difference] = []
    for f in kept:
        wanted = fresh.get((f.employee_id, f.external_userid))
        for name in inputs.LOOKED_UP:
            have, want = getattr(f, name), getattr(wanted, name, None)
            if have != want:
                out.append(Difference(period.key, f.employee_id, f"relation {name}", have, want))
    return out


BASELINE_TALLY = ("decided", "hollow", "early_adds", "early_hollow", "late_adds")
BANK = "(every employee)"
"""The employee a bank-wide figure's difference is reported under."""


async def tally_differences(
    conn: Connection, scorer: Scorer, period: Period, now: datetime
) -> list[Difference]:
    """Employees whose tally for the peers' baseline, as the scorer reads it from the
    standings, differs from the tally counted from the relations and their contacts; and days
    whose hollow adds over the employees differ (under BANK)."""
    tail = scorer.tail(period, now)
    if tail is None:
        return []
    tz = scorer.calendar.tz
    kept = await inputs.tallies_of(conn, period, tz, now, tail)
    counted = await inputs.tallies_of(conn, period, tz, now, tail, from_relations=True)
    out: list[Difference] = []
    for employee_id in sorted(set(kept.employees) | set(counted.employees)):
        have, want = kept.employees.get(employee_id), counted.employees.get(employee_id)
        for name in BASELINE_TALLY:
            a = None if have is None else getattr(have, name)
            b = None if want is None else getattr(want, name)
            if a != b:
                out.append(Difference(period.key, employee_id, f"baseline tally {name}", a, b))
    for day in sorted(set(kept.days) | set(counted.days)):
        a_day, b_day = kept.days.get(day), counted.days.get(day)
        if a_day != b_day:
            out.append(Difference(period.key, BANK, f"baseline hollow adds {day}", a_day, b_day))
    return out


def feature_differences(
    scorer: Scorer, period: Period, kept: Mapping[str, Features], live: Sequence[ContactFacts]
) -> list[Difference]:
    """Employees whose anomaly features, as kept by deltas (`add_bucket`), differ from those
    counted from their relations judged afresh: one difference per bucket and count."""
    by_employee: dict[str, list[ContactFacts]] = defaultdict(list)
    for facts in live:
        by_employee[facts.employee_id].append(facts)
    now, tz = scorer.clock(), scorer.calendar.tz
    retention = scorer.rules.retention_window
    out: list[Difference] = []
    for employee_id in sorted(set(kept) | set(by_employee)):
        have = kept.get(employee_id, Features({})).buckets
        verdicts = scorer.verdicts(by_employee.get(employee_id, []), now)
        want = features_of(verdicts, tz, retention, campaigns=False)
        for b in sorted(set(have) | set(want.buckets), key=_bucket_order):
            a, w = have.get(b, NO_COUNTS), want.buckets.get(b, NO_COUNTS)
            out += [
                Difference(
                    period.key,
                    employee_id,
                    f"features {b.start.isoformat()} {b.channel} {f}",
                    x,
                    y,
                )
                for f, x, y in zip(FIELDS, a, w, strict=True)
                if x != y
            ]
    return out


NO_COUNTS = (0,) * len(FIELDS)


def _bucket_order(b: Bucket) -> tuple[datetime, str, str]:
    return b.start, b.channel, b.campaign or ""


async def recount(
    conn: Connection,
    scorer: Scorer,
    period: Period,
    now: datetime,
    medians: dict[str, float | None],
    relations: Sequence[ContactFacts],
) -> dict[str, Counter[str]]:
    """Per employee, the period's counters (tiers as `tier:<name>`) and gross adds recounted
    from the facts of its `relations` (`added_in`, live); the median first replies go to
    `medians`."""
    tz = scorer.calendar.tz
    by_employee: dict[str, list[ContactFacts]] = defaultdict(list)
    for facts in relations:
        by_employee[facts.employee_id].append(facts)
    standings = [
        (e, standing_of(v, scorer.rules, now))
        for e in sorted(by_employee)
        for v in scorer.verdicts(by_employee[e], now)
    ]
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for (employee_id, key), delta in totals(standings, tz).items():
        if key == period.key:
            out[employee_id].update(delta)
    adds = sorted(c.value for c in ADD_CHANGES)
    for r in await conn.fetch(GROSS_SQL, period.start_at(tz), period.end_at(tz), adds):
        out[r["employee_id"]]["gross_adds"] += r["gross_adds"]
    writers = [r[0] for r in await conn.fetch(WRITERS_SQL, period.start_at(tz), period.end_at(tz))]
    for employee_id, c in (await inputs.chat_stats(conn, period, writers, tz)).items():
        out[employee_id].update(
            customer_chats=c.customer_chats,
            answered_same_day=c.answered_same_day,
            one_to_one_sent=c.one_to_one_sent,
            mass_sent=c.mass_sent,
        )
        medians[employee_id] = c.median_first_reply_seconds
    return out


def _counts(r: Any) -> Counter[str]:
    """A counter row's counts, with its tiers as `tier:<name>`."""
    out = Counter({c: r[c] for c in tally.ADDED})
    out.update({TIER_PREFIX + t: n for t, n in tally.tiers_of(r).items()})
    return out


SETTLED_ROWS_SQL = """
SELECT * FROM employee_period_score s
 WHERE s.period = $1
   AND NOT EXISTS (SELECT 1 FROM score_dirty d
                    WHERE d.employee_id = s.employee_id AND d.period = s.period)"""
"""The period's score rows the refresh is not about to write again."""


async def kept(conn: Connection, scorer: Scorer, period: Period) -> Kept:
    """The counters as kept, the medians, and what the score rows hold of them: the quota
    columns, and the quality columns beside those the counters give."""
    out = Kept()
    weights = scorer.rules.quality_weights
    for r in await conn.fetch("SELECT * FROM quota_counter WHERE period = $1", period.key):
        out.counters[r["employee_id"]].update(_counts(r))
        out.medians[r["employee_id"]] = r["median_reply_seconds"]
        out.quality[r["employee_id"]] = tally.quality_fields(dict(r), weights)
    for r in await conn.fetch(SETTLED_ROWS_SQL, period.key):
        out.rows[r["employee_id"]] = r
    return out


@dataclass
class Kept:
    counters: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    medians: dict[str, float | None] = field(default_factory=dict)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, Any] = field(default_factory=dict)


WRITERS_SQL = """
SELECT DISTINCT employee_id FROM message WHERE sent_at >= $1 AND sent_at < $2
"""
ROW_FIGURES = ("gross_adds", *COUNTERS)
"""The counts a score row shows (the rest of the quota columns follow from them)."""


async def verify_period(
    conn: Connection, scorer: Scorer, period: Period, skipped: list[Skipped] | None = None
) -> list[Difference]:
    """The differences in `period`; none for a period whose contact data was purged, which is
    appended to `skipped` instead."""
    purged = await conn.fetchrow(PURGED_SQL, period.key)
    if purged is not None:
        if skipped is not None:
            skipped.append(Skipped(purged["period"], purged["purged_before"], purged["purged_at"]))
        return []
    now = scorer.clock()
    await tally.run_all_due(conn, scorer, now)
    medians: dict[str, float | None] = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        live = await added_in(conn, scorer, period, live=True)
        expected = await recount(conn, scorer, period, now, medians, live)
        stale = lookup_differences(period, await added_in(conn, scorer, period, live=False), live)
        stale += await tally_differences(conn, scorer, period, now)
        stale += feature_differences(
            scorer, period, await buckets.features(conn, period, None, scorer.calendar.tz), live
        )
        del live
        for r in await conn.fetch(CARRY_SQL, period.key):  # erased contacts, still counted
            expected[r["employee_id"]].update(_counts(r))
        have = await kept(conn, scorer, period)
        still_open = not await conn.fetchval(
            "SELECT 1 FROM period_close WHERE period = $1", period.key
        )
    out: list[Difference] = stale
    for employee_id in sorted(set(expected) | set(have.counters)):
        want = expected.get(employee_id, Counter())
        counted = have.counters.get(employee_id, Counter())
        out += [
            Difference(period.key, employee_id, f, counted[f], want[f])
            for f in sorted(
                set(tally.ADDED) | {n for n in (*want, *counted) if want[n] or counted[n]}
            )
            if counted[f] != want[f]
        ]
        median, wanted = have.medians.get(employee_id), medians.get(employee_id)
        if _rounded(median) != _rounded(wanted):
            out.append(Difference(period.key, employee_id, "median_reply_seconds", median, wanted))
    if still_open:
        for employee_id, row in sorted(have.rows.items()):
            counted = have.counters.get(employee_id, Counter())
            out += [
                Difference(period.key, employee_id, f"score row {f}", row[f], counted[f])
                for f in ROW_FIGURES
                if row[f] != counted[f]
            ]
            quality = have.quality.get(employee_id)
            if quality is not None:
                shown = {"quality_score": row["quality_score"], "quality": _json(row["quality"])}
                out += [
                    Difference(period.key, employee_id, f"score row {f}", shown[f], quality[f])
                    for f in ("quality_score", "quality")
                    if shown[f] != quality[f]
                ]
    return out


def _json(value: Any) -> Any:
    """A JSON column, decoded by the pool's codec or not (a plain connection)."""
    return orjson.loads(value) if isinstance(value, str) else value


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def verify_all(
    conn: Connection, scorer: Scorer, skipped: list[Skipped] | None = None
) -> list[Difference]:
    """Every period the counters hold, open or closed, one after the other (those whose
    contact data was purged go to `skipped`)."""
    keys = [r["period"] for r in await conn.fetch("SELECT DISTINCT period FROM quota_counter")]
    out: list[Difference] = []
    for key in sorted(keys):
        try:
            period = parse_period(key)
        except ValueError:
            continue
        out += await verify_period(conn, scorer, period, skipped)
    return out


def scorer_of(settings: ScorerSettings) -> Scorer:
    return Scorer(
        settings.rules(),
        settings.calendar(),
        clock=settings.clock(),
        inputs_group=settings.scorer_group_id,
    )


async def main(periods: Sequence[str]) -> int:
    """`periods` empty: every period the counters hold."""
    settings = ScorerSettings()
    scorer = scorer_of(settings)
    conn = await asyncpg.connect(
        settings.database_url.get_secret_value(), server_settings=SERVER_SETTINGS
    )
    try:
        differences: list[Difference] = []
        skipped: list[Skipped] = []
        if not periods:
            differences = await verify_all(conn, scorer, skipped)
            print(
                f"every period: {len(differences)} difference(s), "
                f"{len(skipped)} skipped (contact data purged)"
            )
        for key in periods:
            before = len(skipped)
            found = await verify_period(conn, scorer, parse_period(key), skipped)
            if len(skipped) == before:
                print(f"{key}: {len(found)} difference(s)")
            differences += found
    finally:
        await conn.close()
    for s in skipped:
        print(s)
    for d in differences:
        print(d)
    return 1 if differences else 0


def cli(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--period", action="append", help="e.g. 2026-12, 2026-W49")
    which.add_argument("--all", action="store_true", help="every period the counters hold")
    args = p.parse_args(argv)
    try:
        return asyncio.run(main([] if args.all else args.period))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())

"""A refresh round reads an employee's relations and chat traces once for all the periods it
recomputes for them (a day, its week, its month and quarter hold the same adds) and slices
them per period: on real PostgreSQL, every score it stores, anomaly reasons included, is
exactly what computing that period alone gives.

The stream crosses a week's, a month's and a quarter's end, so the periods claimed together
differ in which adds they hold; one employee bursts through a QR code, with contacts it shares
with a colleague of another team and chats that started before some of the periods."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from services.scorer import inputs
from services.scorer.refresh import Refresher, covers
from shared.calendar import parse_period
from shared.clock import ManualClock
from tests import factories as f
from tests.infra import Infra
from tests.integration.test_quota_tally import as_consumed, feed, scoring

pytestmark = pytest.mark.integration

FIRST = f.at("2026-09-28", 9)  # Monday of 2026-W40; the month and Q3 end on Wednesday
PERIODS = ("2026-09-29", "2026-W40", "2026-09", "2026-Q3", "2026-10-01", "2026-10", "2026-Q4")
# claimed differently: e1 every period, e2 a day and its month, e3 a week and two quarters, e4
# another day of that month only (read on its own: no longer period claimed for e4 holds it)
CLAIMED = {
    *(("e1", p) for p in PERIODS),
    ("e2", "2026-10-01"),
    ("e2", "2026-10"),
    ("e4", "2026-10-02"),
    ("e3", "2026-W40"),
    ("e3", "2026-Q3"),
    ("e3", "2026-Q4"),
}


def message(n: int, employee: str, contact: str, at: datetime, direction: str) -> dict[str, Any]:
    return {
        "type": "message",
        "message_id": f"m{n}",
        "employee_id": employee,
        "external_userid": contact,
        "direction": direction,
        "kind": "one_to_one",
        "sent_at": at.isoformat(),
    }


def stream() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        f.employee("e1", team_id="t1"),
        f.employee("e2", team_id="t2"),
        f.employee("e3", team_id="t1"),
        f.employee("e4", team_id="t3"),
    ]
    for i in range(3):  # August: in the third quarter, outside every shorter period claimed
        out.append(f.add("e1", f"wm-aug{i}", f.at("2026-08-20", 10 + i)))
        out.append(f.add("e3", f"wm-aug{i}", f.at("2026-08-21", 10 + i)))
    n = 0
    for day in range(5):  # Monday to Friday: September's last days, October's first
        base = FIRST + timedelta(days=day)
        for i in range(4):
            at = base + timedelta(hours=i)
            out.append(f.add("e1", f"wm-a{day}-{i}", at, state="walk-in"))
            out.append(f.add("e3", f"wm-c{day}-{i}", at + timedelta(minutes=7)))
            if i < 3:
                out.append(f.add("e4", f"wm-d{day}-{i}", at + timedelta(minutes=11)))
                n += 1
                sent = at + timedelta(minutes=20, days=i)
                out.append(message(n, "e4", f"wm-d{day}-{i}", sent, "from_customer"))
            if i % 2 == 0:  # a conversation that goes on into the next periods
                for k, direction in enumerate(("from_customer", "to_customer") * 2):
                    n += 1
                    sent = at + timedelta(minutes=5) + timedelta(days=k)
                    out.append(message(n, "e1", f"wm-a{day}-{i}", sent, direction))
    # a message archived before its contact's add (a relationship from before): a period
    # starting after it does not see it, whatever span the round read
    n += 1
    out.append(message(n, "e1", "wm-a3-0", FIRST + timedelta(days=2, hours=14), "from_customer"))
    burst = FIRST + timedelta(days=1, hours=21)  # Tuesday night, through one QR code
    for i in range(14):
        contact = f"wm-q{i}"
        out.append(f.add("e1", contact, burst + timedelta(minutes=4 * i), state="qr-7"))
        if i < 6:  # the same bought contacts, added by someone of another team too
            out.append(f.add("e2", contact, burst + timedelta(minutes=4 * i + 2)))
    burst = FIRST + timedelta(days=3, hours=12)  # Thursday 1 October, 21:00: e2's own QR burst
    for i in range(14):
        out.append(f.add("e2", f"wm-r{i}", burst + timedelta(minutes=3 * i), state="qr-9"))
    return out


async def test_a_round_stores_what_computing_each_period_alone_gives(infra: Infra) -> None:
    clock = ManualClock(FIRST + timedelta(days=5, hours=2))
    async with scoring(infra, clock) as (pool, scorer):
        await feed(pool, scorer, clock, as_consumed(stream()), [])
        await pool.execute("DELETE FROM score_dirty")
        await pool.executemany(
            "INSERT INTO score_dirty (employee_id, period) VALUES ($1, $2)",
            sorted(CLAIMED),
        )
        # what the round stores is told apart by its computing time
        await pool.execute("UPDATE employee_period_score SET computed_at = '2000-01-01Z'")
        refresher = Refresher(lambda: pool, scorer, settle=timedelta(0))
        assert await refresher.run_once() == len(CLAIMED)  # one round, every row
        assert await pool.fetchval("SELECT count(*) FROM score_dirty") == 0
        now = clock()
        flagged = 0
        for key in PERIODS:
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                alone = {
                    s["employee_id"]: s
                    for s in await scorer.compute(
                        conn, parse_period(key), ["e1", "e2", "e3", "e4"], now, False
                    )
                }
            stored = {
                r["employee_id"]: r
                for r in await pool.fetch(
                    "SELECT employee_id, anomaly_score, reasons FROM employee_period_score "
                    "WHERE period = $1 AND computed_at = $2",
                    key,
                    now,
                )
            }
            assert set(stored) == {e for e, p in CLAIMED if p == key}, key
            for employee, row in stored.items():
                expected = alone[employee]
                assert row["anomaly_score"] == expected["anomaly_score"], (key, employee)
                assert _json(row["reasons"]) == _json(expected["reasons"]), (key, employee)
                flagged += expected["anomaly_score"] > 0
        assert flagged >= 4  # e1's burst in its day, week, month and quarter, at least

        # the slices themselves: each period's verdicts and chat traces out of one span read
        ids = ["e1", "e2", "e3", "e4"]
        periods = [parse_period(k) for k in PERIODS]
        tz = scorer.calendar.tz
        async with pool.acquire() as conn:
            whole = replace(
                parse_period("2026-Q3"), key="Q3 and Q4", end=parse_period("2026-Q4").end
            )
            span = scorer.judge_span(await scorer.read_span(conn, whole, ids), now)
            for period in periods:
                traces = await inputs.chat_traces(conn, period, ids, tz)
                facts = await inputs.relations(conn, period, ids, tz)
                for e in ids:
                    verdicts, chats = span.of(e, period.start_at(tz), period.end_at(tz))
                    own = scorer.verdicts([x for x in facts if x.employee_id == e], now)
                    assert verdicts == own, (period.key, e)
                    assert chats == traces.get(e, {}), (period.key, e)
        assert any(
            m[0] < parse_period("2026-10").start_at(tz)
            for m in span.chats["e1"]["wm-a3-0"].messages
        )


def _json(value: Any) -> Any:
    return orjson.loads(value if isinstance(value, str | bytes) else orjson.dumps(value))


def test_each_claimed_period_is_read_under_the_longest_that_holds_it() -> None:
    day, week, month, q3, q4 = (
        parse_period(k) for k in ("2026-09-29", "2026-W40", "2026-09", "2026-Q3", "2026-Q4")
    )
    oct1, october = parse_period("2026-10-01"), parse_period("2026-10")
    # a day, its week, month and quarter: one read, over the quarter (the week straddles Q4)
    assert covers([day, week, month, q3]) == {q3: [q3, month, day], week: [week]}
    assert covers([week, oct1, october, q4]) == {q4: [q4, october, oct1], week: [week]}
    # scattered days, as a drain claims them: each read on its own, not their whole month
    other = parse_period("2026-09-03")
    assert covers([other, day]) == {other: [other], day: [day]}
    assert covers([day, week]) == {week: [week, day]}

"""A burst: 1,000 breaches for 50 supervisors of a realistic bank (12 branches of 2 to 10
teams; 6 to 40 customer managers a team; four branches post to one shared branch group robot,
the others have one robot per team), through the real pipeline: Kafka breach topic →
notifier → WeCom robot stand-in.

The robot limit runs on a time scale of 1:20 by default (20 messages per 3 s window instead
of per 60 s, on both sides), so the test takes well under a
minute. It checks that no robot ever got more than its limit in any window (the stand-in would
answer 45009), that every (alert, employee, period, recipient) arrived exactly once, in one
digest per supervisor and period (two if the intake outlasted the group wait), and it reports
the figures (`NOTIFIER_BURST_REPORT=path` writes them as JSON; `NOTIFIER_BURST_SCALE=1` runs
at production speed)."""

from __future__ import annotations

import math
import os
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.notifier.domain.ratelimit import LATENCY_MARGIN
from shared.schemas import AlertName, BreachEvent
from shared.settings import Topics
from tests.apps import eventually
from tests.infra import Infra
from tests.integration.test_notifier_delivery import make_settings, notifier, query
from tests.standins.wecom_robot import WeComStandIn, wecom_standin

pytestmark = pytest.mark.integration

PRODUCTION_WINDOW = 60.0
# NOTIFIER_BURST_SCALE=1 runs it at production speed (about 75 s more)
SCALE = float(os.environ.get("NOTIFIER_BURST_SCALE", "20"))
WINDOW = PRODUCTION_WINDOW / SCALE  # 3 s
LIMIT = 20
BREACHES = 1000
SUPERVISORS = 50
# a city branch with 10 teams down to small branches with 2; in some branches all teams post
# to the branch's one group robot (the hardest case for the limit), in the others each team
# has its own
TEAMS_PER_BRANCH = (10, 7, 6, 5, 4, 4, 3, 3, 2, 2, 2, 2)
SHARED_ROBOT_BRANCHES = frozenset({"b01", "b02", "b05", "b09"})
# the kinds of breach a month-end brings, with their periods
KINDS = [
    (AlertName.TARGET_MISSED, "2026-10", 0.45),
    (AlertName.PACE_BEHIND, "2026-11", 0.30),
    (AlertName.PACE_BEHIND, "2026-W45", 0.15),
    (AlertName.ANOMALY_FLAGGED, "2026-10", 0.10),
]
TOKEN = re.compile(r"\[B(\d{4})\]")


def bank(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """50 team leads over 12 branches of uneven size, with their customer managers; the
    robot key of each team (a branch group's robot where the branch shares one)."""
    people: list[dict[str, Any]] = []
    robots: dict[str, str] = {}
    s = 0
    for b, leads in enumerate(TEAMS_PER_BRANCH, start=1):
        branch = f"b{b:02d}"
        for _ in range(leads):
            team, lead = f"t{s:02d}", f"lead{s:02d}"
            robots[team] = f"robot-{branch}" if branch in SHARED_ROBOT_BRANCHES else f"robot-{team}"
            people.append({"id": lead, "branch": branch, "team": team, "supervisor": None})
            size = min(40, max(6, int(rng.lognormvariate(2.8, 0.5))))
            for m in range(size):
                people.append(
                    {"id": f"m{s:02d}{m:02d}", "branch": branch, "team": team, "supervisor": lead}
                )
            s += 1
    assert s == SUPERVISORS
    return people, robots


def breaches(rng: random.Random, people: list[dict[str, Any]]) -> list[BreachEvent]:
    """1,000 distinct conditions; weaker teams breach more (a per-team weight)."""
    staff = [p for p in people if p["supervisor"]]
    weakness = {p["team"]: rng.uniform(0.3, 3.0) for p in staff}
    conditions = [(p, kind) for p in staff for kind in KINDS]
    weights = [weakness[p["team"]] * kind[2] for p, kind in conditions]
    chosen: dict[tuple[str, str, str], tuple[dict[str, Any], Any]] = {}
    while len(chosen) < BREACHES:
        p, kind = rng.choices(conditions, weights)[0]
        chosen.setdefault((p["id"], kind[0].value, kind[1]), (p, kind))
    out = []
    for i, (p, (alertname, period, _)) in enumerate(chosen.values()):
        out.append(
            BreachEvent(
                event_id=BreachEvent.make_id(alertname, p["id"], period, "firing"),
                occurred_at=datetime(2026, 11, 1, 1, tzinfo=UTC),
                alertname=alertname,
                status="firing",
                employee_id=p["id"],
                period=period,
                supervisor_id=p["supervisor"],
                team_id=p["team"],
                branch_id=p["branch"],
                summary=f"[B{i:04d}] {p['id']} {alertname.value} {period}",
            )
        )
    rng.shuffle(out)
    return out


async def seed(
    infra: Infra, database: str, people: list[dict[str, Any]], urls: dict[str, str]
) -> None:
    conn = await asyncpg.connect(infra.owner_dsn(database))
    try:
        await conn.executemany(
            """INSERT INTO employee (employee_id, name, branch_id, team_id, supervisor_id, role,
                                     active, robot_webhook, as_of, event_id)
               VALUES ($1, $1, $2, $3, $4, $5, true, $6, now(), $1)""",
            [
                (
                    p["id"],
                    p["branch"],
                    p["team"],
                    p["supervisor"],
                    "customer_manager" if p["supervisor"] else "team_lead",
                    urls[p["team"]],
                )
                for p in people
            ],
        )
    finally:
        await conn.close()


def busiest_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for u in ordered[i:] if u - t < window) for i, t in enumerate(ordered)), default=0
    )


async def test_burst_of_1000_breaches_for_50_supervisors(
    infra: Infra, topics: Topics, database: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    people, robot_of_team = bank(rng)
    events = breaches(rng, people)
    async with wecom_standin(per_minute=LIMIT, window_seconds=WINDOW) as wecom:
        wecom.valid_keys = set(robot_of_team.values())
        urls = {team: wecom.robot_url(key) for team, key in robot_of_team.items()}
        await seed(infra, database, people, urls)
        config = {
            # the defaults, not scaled (they are about the intake of a burst, which takes as
            # long at any scale): wait 5 s to gather a digest, then 60 s before the next one
            # to the same recipient and period
            "timing": {"group_wait_seconds": 5.0, "group_interval_seconds": 60.0},
            "routes": [{"channels": ["robot"]}],
        }
        settings = make_settings(
            infra,
            topics,
            database,
            tmp_path,
            config,
            robot_messages_per_window=LIMIT,
            robot_window_seconds=WINDOW,
            delivery_interval_seconds=0.05,
        )
        async with notifier(settings):
            started = time.monotonic()
            producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
            await producer.start()
            try:
                for b in events:
                    await producer.send(
                        topics.breaches, b.to_json(), key=(b.employee_id or "-").encode()
                    )
                await producer.flush()
            finally:
                await producer.stop()
            published = time.monotonic()

            async def unsent() -> int:
                rows = await query(
                    infra,
                    database,
                    "SELECT count(*) FILTER (WHERE state <> 'sent') AS open, count(*) AS n "
                    "FROM notice_outbox",
                )
                return -1 if rows[0]["n"] < BREACHES else int(rows[0]["open"])

            await eventually(unsent, lambda n: n == 0, timeout=120 + 3 * WINDOW)
            finished = time.monotonic()
        digests = await query(infra, database, "SELECT recipient, period FROM notice_digest")
        intake = await query(
            infra,
            database,
            "SELECT extract(epoch FROM max(created_at) - min(created_at)) AS s FROM notice_outbox",
        )
        figures = _figures(wecom, robot_of_team, events, started, published, finished)
        figures["digests"] = len(digests)
        figures["supervisor_periods"] = len({(e.supervisor_id, e.period) for e in events})
        figures["seconds_intake_span"] = round(float(intake[0]["s"]), 2)
        print("\nnotifier burst:", orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
        if report := os.environ.get("NOTIFIER_BURST_REPORT"):
            Path(report).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))

        assert 45009 not in wecom.robot_answers and set(wecom.robot_answers) == {0}
        assert figures["busiest_robot_window"] <= LIMIT
        # every breach's line arrived exactly once, to its own supervisor, in a digest
        seen = Counter(int(n) for m in wecom.robot_messages for n in TOKEN.findall(m.content))
        assert sorted(seen) == list(range(BREACHES)) and set(seen.values()) == {1}
        for m in wecom.robot_messages:
            lead = re.search(r"<@(lead\d\d)>", m.content)
            assert lead is not None
            for n in TOKEN.findall(m.content):
                assert _supervisor(events, int(n)) == lead.group(1)
        # grouped: a digest per supervisor and period (a second one only for notices that
        # arrived after the first had formed, i.e. when intake outlasted the group wait),
        # each within one robot message
        groups = {(e.supervisor_id, e.period) for e in events}
        per_group = Counter((r["recipient"], r["period"]) for r in digests)
        assert set(per_group) == groups and max(per_group.values()) <= 2
        assert figures["messages"] == len(digests)


def _supervisor(events: list[BreachEvent], n: int) -> str | None:
    tag = f"[B{n:04d}]"
    return next(e.supervisor_id for e in events if e.summary.startswith(tag))


def _figures(
    wecom: WeComStandIn,
    robot_of_team: dict[str, str],
    events: list[BreachEvent],
    started: float,
    published: float,
    finished: float,
) -> dict[str, Any]:
    per_robot = {
        key: [m.at for m in wecom.robot_messages if m.key == key]
        for key in sorted(set(robot_of_team.values()))
    }
    counts = {k: len(v) for k, v in per_robot.items()}
    busiest = max(counts, key=lambda k: counts[k])
    first = min(m.at for m in wecom.robot_messages)
    last = max(m.at for m in wecom.robot_messages)
    windows_needed = math.ceil(counts[busiest] / LIMIT)
    processing = (finished - started) - (windows_needed - 1) * WINDOW * (1 + LATENCY_MARGIN)
    return {
        "breaches": len(events),
        "supervisors": len({e.supervisor_id for e in events}),
        "robots": len(per_robot),
        "messages": len(wecom.robot_messages),
        "messages_per_robot": {"min": min(counts.values()), "max": counts[busiest]},
        "busiest_robot_window": max(busiest_window(t, WINDOW) for t in per_robot.values()),
        "limit_per_window": LIMIT,
        "window_seconds_test": WINDOW,
        "answers_45009": wecom.robot_answers.count(45009),
        "seconds_to_publish": round(published - started, 2),
        "seconds_first_to_last_message": round(last - first, 2),
        "seconds_total_test_scale": round(finished - started, 2),
        # the busiest robot needs ceil(n/20) windows: the last one opens (that - 1) windows
        # after the first; the rest of the time is processing, which does not scale
        "production_estimate_seconds": round(
            (windows_needed - 1) * PRODUCTION_WINDOW * (1 + LATENCY_MARGIN) + max(processing, 0),
            1,
        ),
    }

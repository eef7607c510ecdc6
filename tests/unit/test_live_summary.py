"""The live summary's pure parts: counters out of exposition text, rates, and the screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tools.live_summary.metrics import counter_total
from tools.live_summary.view import Snapshot, evidence_text, rate, render

EXPOSITION = """\
# HELP ingestor_records_published_total Records published
# TYPE ingestor_records_published_total counter
ingestor_records_published_total{topic="bank.records.v1",type="EmployeeRecord"} 200.0
ingestor_records_published_total{topic="wecom.contact-events.v1",type="ContactEvent"} 21.0
ingestor_records_published_created{topic="bank.records.v1",type="EmployeeRecord"} 1.79e+09
# HELP scorer_records_total Records consumed by outcome
# TYPE scorer_records_total counter
scorer_records_total{outcome="applied"} 281.0
scorer_records_total{outcome="duplicate"} 4.0
"""
T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def employee(eid: str, status: str, score: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "employee_id": eid,
        "team_id": "t1",
        "target": 50,
        "valid_adds": 10,
        "pace": 0.5,
        "status": status,
        "anomaly_score": score,
        "flagged": score >= 40,
        "reasons": [],
        **extra,
    }


def test_counter_total_sums_matching_samples_only() -> None:
    assert counter_total(EXPOSITION, "ingestor_records_published_total") == 221.0
    assert counter_total(EXPOSITION, "scorer_records_total", outcome="applied") == 281.0
    assert counter_total(EXPOSITION, "scorer_records_total") == 285.0
    assert counter_total(EXPOSITION, "notifier_notices_total") is None
    assert counter_total(EXPOSITION, "scorer_records_total", outcome="nope") is None


def test_rate_between_readings_and_unknown_cases() -> None:
    before = Snapshot(at=T0, period="2026-11", ingested=100.0, scored=None)
    now = Snapshot(at=T0 + timedelta(seconds=4), period="2026-11", ingested=300.0, scored=5.0)
    assert rate(now, before, "ingested") == 50.0
    assert rate(now, None, "ingested") is None  # first reading
    assert rate(now, before, "scored") is None  # the source was missing before
    restarted = Snapshot(at=T0 + timedelta(seconds=8), period="2026-11", ingested=10.0)
    assert rate(restarted, now, "ingested") is None  # counter went back: a restart


def test_evidence_text_is_one_short_line_without_the_favourable_facts() -> None:
    evidence = {
        "state": "qr-7",
        "adds": 35,
        "share": 0.125,
        "partners": ["a", "b", "c", "d"],
        "in_favour": {"tenure_days": 900},
        "examples": ["wm-1", "wm-2"],
        "empty": None,
    }
    assert evidence_text(evidence) == "state=qr-7, adds=35, share=0.125, partners=a,b,c,…(+1)"
    assert evidence_text({"x": "y" * 200}, limit=20).endswith("…")
    assert len(evidence_text({"x": "y" * 200}, limit=20)) == 20


def test_render_shows_every_part_of_the_summary() -> None:
    ring = employee(
        "wangwu",
        "behind",
        score=72.4,
        reasons=[
            {"code": "MUTUAL_ADD_RING", "contribution": 48.0, "evidence": {"partners": ["x"]}},
            {"code": "SHARED_CONTACTS", "contribution": 24.4, "evidence": {}},
        ],
    )
    employees = [
        employee("zhangsan", "on_track"),
        employee("lisi", "behind", pace=0.2),
        employee("zhaoliu", "missed", pace=0.1),
        employee("met1", "met", score=10.0),
        ring,
    ]
    alerts = [
        {"alertname": "AnomalyFlagged", "notices": [{"state": "sent"}]},
        {"alertname": "TargetMissed", "notices": [{"state": "sent"}, {"state": "dead"}]},
    ]
    before = Snapshot(at=T0, period="2026-11", ingested=1000.0, scored=900.0)
    now = Snapshot(
        at=T0 + timedelta(seconds=2),
        period="2026-11",
        ingested=1600.0,
        scored=1500.0,
        notices_sent=3.0,
        lag={"scorer": 1234, "notifier": 0},
        employees=employees,
        alerts=alerts,
        problems=("alerts: ConnectError",),
    )
    screen = render(now, before, top=2, footer="Ctrl-C stops watching")
    lines = screen.splitlines()
    assert "period 2026-11" in lines[0]
    assert "ingested 300/s · scored 300/s" in screen
    assert "notifier 0 · scorer 1,234 records" in screen
    assert "on track 1 · behind 2 · met 1 · missed 1" in screen
    assert "behind target: 3" in screen
    # furthest behind first, by pace
    assert screen.index("zhaoliu") < screen.index("lisi")
    assert "Top anomalies 1 flagged" in screen
    assert "MUTUAL_ADD_RING 48 + SHARED_CONTACTS 24" in screen
    assert "MUTUAL_ADD_RING: partners=x" in screen
    # top=2: the ring member and the one other scored employee, ring first
    assert screen.index("wangwu") < screen.index("met1")
    assert "Alerts        2 (AnomalyFlagged 1, TargetMissed 1); notices: dead 1, sent 2" in screen
    assert "in 3 messages delivered" in screen
    assert "(!) alerts: ConnectError" in screen
    assert lines[-1] == "Ctrl-C stops watching"


def test_render_says_what_is_not_known() -> None:
    screen = render(Snapshot(at=T0, period="2026-11"))
    assert "ingested n/a · scored n/a" in screen
    assert "Consumer lag  n/a" in screen
    assert "scorer API not answering" in screen
    assert "notifier API not answering" in screen
    assert "Nothing answers: is the stack up?" in screen
    empty = render(Snapshot(at=T0, period="2026-11", employees=[], alerts=[]))
    assert "Employees     no scores yet for this period" in empty
    assert "Alerts        0 (none yet); notices: none" in empty

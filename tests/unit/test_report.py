"""The HTML report's pure parts: figures from the views' rows, and the page (escaped, self-
contained, the figures where the markup says they are)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from tools.report import charts
from tools.report.figures import (
    QUALITY_COMPONENTS,
    ReportData,
    alerts,
    leaderboard,
    quality_by_team,
    totals,
)
from tools.report.page import render

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def team(
    team_id: str, employees: int, target: int | None, valid: int, **extra: Any
) -> dict[str, Any]:
    return {
        "period": "2026-11",
        "branch_id": "b1",
        "team_id": team_id,
        "employees": employees,
        "target": target,
        "gross_adds": valid,
        "valid_adds": valid,
        "pending_adds": 1,
        "removed_adds": 0,
        "profile_unknown_adds": 1,
        "unverified_adds": 2,
        "inherited_adds": 3,
        "attainment": valid / target if target else None,
        "on_track": 0,
        "behind": employees,
        "met": 0,
        "missed": 0,
        "quality_score": 70.0,
        "anomaly_score": 5.0,
        "flagged": 0,
        **extra,
    }


def employee(eid: str, team_id: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "period": "2026-11",
        "employee_id": eid,
        "employee_name": f"Name {eid}",
        "branch_id": "b1",
        "team_id": team_id,
        "target": 10,
        "valid_adds": 4,
        "pending_adds": 1,
        "profile_unknown_adds": 1,
        "unverified_adds": 0,
        "inherited_adds": 2,
        "attainment": 0.4,
        "pace": 0.5,
        "status": "behind",
        "quality_score": 60.0,
        "anomaly_score": 0.0,
        "flagged": False,
        "reasons": [],
        "computed_at": AT,
        "closed": False,
        **{c: 0.5 for c in QUALITY_COMPONENTS},
    }
    return {**row, **extra}


def alert_row(alert_id: int, name: str, channel: str | None, state: str | None) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "alertname": name,
        "status": "firing",
        "employee_id": "e1",
        "team_id": "t1",
        "summary": f"summary {alert_id}",
        "received_at": AT,
        "channel": channel,
        "notice_state": state,
    }


RING = {
    "code": "PEER_INSTITUTION",
    "contribution": 48.0,
    "evidence": {
        "contacts": 4,
        "corp_names": ["某某银行", "<script>alert(1)</script>"],
        "in_favour": {"tenure_days": 900},
    },
}


def data(**extra: Any) -> ReportData:
    base: dict[str, Any] = {
        "period": "2026-11",
        "branch": "b1",
        "generated_at": AT,
        "teams": [team("t1", 2, 20, 8), team("t2", 1, None, 3)],
        "employees": [
            employee("e1", "t1", anomaly_score=48.0, flagged=True, reasons=[RING]),
            employee("e2", "t1", employee_name="张三 <b>&", quality_engagement=None),
            employee(
                "e3", "t2", target=None, attainment=None, status="on_track", anomaly_score=3.0
            ),
        ],
        "alert_log": [
            alert_row(1, "AnomalyFlagged", "webhook", "sent"),
            alert_row(2, "TargetMissed", "webhook", "sent"),
            alert_row(2, "TargetMissed", "email", "dead"),
            alert_row(3, "PaceBehind", None, None),
        ],
    }
    return ReportData(**{**base, **extra})


def test_totals_sum_the_teams_like_the_team_view() -> None:
    t = totals(data())
    assert (t.employees, t.target, t.valid_adds, t.pending_adds) == (3, 20, 11, 2)
    assert (t.profile_unknown_adds, t.unverified_adds, t.inherited_adds) == (2, 4, 6)
    assert t.attainment == 11 / 20  # valid adds of every team over the targets that exist
    assert t.statuses == {"on_track": 0, "behind": 3, "met": 0, "missed": 0}
    assert t.quality_score == 60.0
    assert totals(data(teams=[team("t2", 1, None, 3)])).attainment is None


def test_quality_means_leave_pending_components_out() -> None:
    by_team = quality_by_team(data().employees)
    assert list(by_team) == ["t1", "t2"]
    assert by_team["t1"]["quality_engagement"] == 0.5  # e2's unknown engagement is not a zero
    none = quality_by_team([employee("e9", "t9", quality_retention=None)])
    assert none["t9"]["quality_retention"] is None


def test_leaderboard_and_alerts() -> None:
    assert [e["employee_id"] for e in leaderboard(data().employees)] == ["e1", "e3"]
    items = alerts(data().alert_log)
    assert [a.alert_id for a in items] == [3, 2, 1]
    assert [a.sent for a in items] == [0, 1, 1]
    assert [len(a.notices) for a in items] == [0, 2, 1]


def cells(page: str, attr: str, key: str) -> dict[str, str]:
    """data-k → text of the table row carrying attr=key."""
    row = re.search(rf'<tr {attr}="{re.escape(key)}">(.*?)</tr>', page, re.S)
    assert row, f"no row {attr}={key}"
    return dict(re.findall(r'<td data-k="([^"]+)"[^>]*>([^<]*)</td>', row.group(1)))


def test_page_puts_the_figures_where_the_markup_says() -> None:
    page = render(data(), {})
    t1 = cells(page, "data-team", "t1")
    assert (t1["target"], t1["valid_adds"], t1["attainment"], t1["behind"]) == (
        "20",
        "8",
        "40.0%",
        "2",
    )
    assert cells(page, "data-team", "t2")["target"] == "—"
    assert (t1["profile_unknown_adds"], t1["unverified_adds"], t1["inherited_adds"]) == (
        "1",
        "2",
        "3",
    )
    assert cells(page, "data-employee", "e1")["inherited_adds"] == "2"
    assert 'data-tile="unverified"><b>4</b>' in page
    e3 = cells(page, "data-employee", "e3")
    assert (e3["target"], e3["attainment"], e3["status"]) == ("—", "—", "on track")
    assert cells(page, "data-employee", "e2")["quality_engagement"] == "—"
    assert cells(page, "data-anomaly", "e1")["anomaly_score"] == "48.0"
    assert 'data-tile="attainment"><b>55.0%</b>' in page
    assert 'data-tile="alert notices sent"><b>2</b>' in page
    assert "AnomalyFlagged 1, PaceBehind 1, TargetMissed 1" in page
    assert "email → dead" in page
    assert "PEER_INSTITUTION</b> 48.0" in page
    assert "in favour: tenure_days: 900" in page


def test_page_is_escaped_and_self_contained() -> None:
    png = charts.team_attainment(data().teams)
    page = render(data(), {"team_attainment": png})
    assert "张三 &lt;b&gt;&amp;" in page and "张三 <b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from anywhere
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert embedded and base64.b64decode(embedded.group(1)) == png


def test_every_chart_is_a_png() -> None:
    d = data()
    for png in (
        charts.team_attainment(d.teams),
        charts.status_counts(d.teams),
        charts.employee_attainment(d.employees),
        charts.quality_components(quality_by_team(d.employees)),
    ):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_period_without_scores_says_so() -> None:
    page = render(data(teams=[], employees=[], alert_log=[]), {})
    assert "No scores for this period and branch." in page

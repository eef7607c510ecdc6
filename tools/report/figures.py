"""What the report shows, computed from the views' rows (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any

Row = dict[str, Any]
STATUSES = ("on_track", "behind", "met", "missed")
QUALITY_COMPONENTS = (
    "quality_customer_match",
    "quality_engagement",
    "quality_retention",
    "quality_responsiveness",
    "quality_personal_touch",
)
WAITING_AND_APART = ("profile_unknown_adds", "unverified_adds", "inherited_adds")
"""Adds waiting for their contact's profile (part of pending), judged without one, and
inherited customers (counted apart from new adds)."""


@dataclass(frozen=True)
class ReportData:
    """The rows of one period and branch (None: every branch), as the views give them."""

    period: str
    branch: str | None
    generated_at: datetime
    teams: list[Row]  # v_team_period_summary
    employees: list[Row]  # v_employee_period_scores
    alert_log: list[Row]  # v_alert_log: one row per alert and notice


@dataclass(frozen=True)
class Totals:
    employees: int
    target: int | None
    valid_adds: int
    pending_adds: int
    profile_unknown_adds: int
    unverified_adds: int
    inherited_adds: int
    attainment: float | None
    statuses: dict[str, int]
    flagged: int
    quality_score: float | None


def totals(data: ReportData) -> Totals:
    """The branch's figures, summed from its teams the way the team view sums employees."""
    targets = [t["target"] for t in data.teams if t["target"] is not None]
    target = sum(targets) if targets else None
    valid = sum(t["valid_adds"] for t in data.teams)
    qualities = [e["quality_score"] for e in data.employees if e["quality_score"] is not None]
    return Totals(
        employees=sum(t["employees"] for t in data.teams),
        target=target,
        valid_adds=valid,
        pending_adds=sum(t["pending_adds"] for t in data.teams),
        profile_unknown_adds=sum(t["profile_unknown_adds"] for t in data.teams),
        unverified_adds=sum(t["unverified_adds"] for t in data.teams),
        inherited_adds=sum(t["inherited_adds"] for t in data.teams),
        attainment=valid / target if target else None,
        statuses={s: sum(t[s] for t in data.teams) for s in STATUSES},
        flagged=sum(t["flagged"] for t in data.teams),
        quality_score=fmean(qualities) if qualities else None,
    )


def quality_by_team(employees: list[Row]) -> dict[str, dict[str, float | None]]:
    """Per team, each quality component's mean over the employees where it is known (a window
    still open is pending, not zero, and stays out of the mean)."""
    teams: dict[str, dict[str, list[float]]] = {}
    for e in employees:
        comps = teams.setdefault(e["team_id"], {c: [] for c in QUALITY_COMPONENTS})
        for c in QUALITY_COMPONENTS:
            if e[c] is not None:
                comps[c].append(float(e[c]))
    return {
        team: {c: fmean(v) if v else None for c, v in comps.items()}
        for team, comps in sorted(teams.items())
    }


def leaderboard(employees: list[Row], top: int = 10) -> list[Row]:
    """The most anomalous employees (score above zero), highest first."""
    scored = [e for e in employees if (e["anomaly_score"] or 0) > 0]
    return sorted(scored, key=lambda e: (-float(e["anomaly_score"]), e["employee_id"]))[:top]


@dataclass(frozen=True)
class Alert:
    alert_id: int
    alertname: str
    status: str
    employee_id: str | None
    team_id: str | None
    summary: str
    received_at: datetime | None
    notices: list[Row]  # channel, recipient, notice_state, sent_at

    @property
    def sent(self) -> int:
        return sum(1 for n in self.notices if n["notice_state"] == "sent")


def alerts(alert_log: list[Row]) -> list[Alert]:
    """The alert log's rows (one per alert and notice) as alerts with their notices, newest
    first."""
    by_id: dict[int, Alert] = {}
    for r in alert_log:
        alert = by_id.setdefault(
            r["alert_id"],
            Alert(
                alert_id=r["alert_id"],
                alertname=r["alertname"],
                status=r["status"],
                employee_id=r["employee_id"],
                team_id=r["team_id"],
                summary=r["summary"] or "",
                received_at=r["received_at"],
                notices=[],
            ),
        )
        if r["channel"] is not None:
            alert.notices.append(r)
    return sorted(by_id.values(), key=lambda a: -a.alert_id)


def alert_counts(items: list[Alert]) -> dict[str, int]:
    return dict(sorted(Counter(a.alertname for a in items).items()))

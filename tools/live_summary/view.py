"""What the live summary shows, as text (pure: no I/O, no clock)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATUSES = ("on_track", "behind", "met", "missed")
# Left out of the one-line evidence: the facts in the employee's favour and sample contact ids
# (both are in the API and the HTML report).
HIDDEN_EVIDENCE = frozenset({"in_favour", "examples"})


@dataclass(frozen=True)
class Snapshot:
    """One reading of the running system; None where a source could not be read."""

    at: datetime
    period: str
    ingested: float | None = None  # records the ingestor published (counter)
    scored: float | None = None  # records the scorer applied (counter)
    notices_sent: float | None = None  # notice parts the notifier delivered (counter)
    lag: dict[str, int] | None = None  # consumer group -> records not yet applied
    employees: list[dict[str, Any]] | None = None  # /v1/scores employees
    alerts: list[dict[str, Any]] | None = None  # /v1/alerts alerts
    problems: tuple[str, ...] = field(default_factory=tuple)


def rate(now: Snapshot, before: Snapshot | None, name: str) -> float | None:
    """Per-second increase of counter `name` between two snapshots; None when unknown (first
    reading, a source missing, a restarted service whose counter went back)."""
    if before is None:
        return None
    a, b = getattr(before, name), getattr(now, name)
    seconds = (now.at - before.at).total_seconds()
    if a is None or b is None or seconds <= 0 or b < a:
        return None
    return float((b - a) / seconds)


def _num(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,.0f}{unit}"


def evidence_text(evidence: Any, limit: int = 70) -> str:
    """A reason's evidence in one short line."""
    if not isinstance(evidence, dict):
        return "" if evidence is None else str(evidence)[:limit]
    parts = []
    for key, value in evidence.items():
        if key in HIDDEN_EVIDENCE or value in (None, [], {}):
            continue
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, list):
            shown = ",".join(str(v) for v in value[:3])
            value = shown + (f",…(+{len(value) - 3})" if len(value) > 3 else "")
        elif isinstance(value, dict):
            value = f"{len(value)} items"
        parts.append(f"{key}={value}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reasons_text(reasons: list[dict[str, Any]]) -> str:
    return " + ".join(f"{r['code']} {float(r.get('contribution') or 0):.0f}" for r in reasons)


def top_anomalies(employees: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    scored = [e for e in employees if (e.get("anomaly_score") or 0) > 0]
    return sorted(scored, key=lambda e: (-float(e["anomaly_score"]), e["employee_id"]))[:top]


def furthest_behind(employees: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    behind = [e for e in employees if e.get("status") in ("behind", "missed")]
    return sorted(behind, key=lambda e: (e.get("pace") or 0.0, e["employee_id"]))[:top]


def _employees_lines(employees: list[dict[str, Any]] | None, top: int) -> list[str]:
    if employees is None:
        return ["Employees     n/a (scorer API not answering)"]
    if not employees:
        return ["Employees     no scores yet for this period"]
    counts = Counter(e.get("status") for e in employees)
    by_status = " · ".join(f"{s.replace('_', ' ')} {counts.get(s, 0)}" for s in STATUSES)
    behind = counts.get("behind", 0) + counts.get("missed", 0)
    lines = [f"Employees     {len(employees)}: {by_status}   → behind target: {behind}"]
    for e in furthest_behind(employees, top):
        target = (
            "no target" if e.get("target") is None else f"{e.get('valid_adds', 0)}/{e['target']}"
        )
        lines.append(
            f"   {e['employee_id']:<16} {e.get('team_id', ''):<12} valid/target {target:<10}"
            f" pace {float(e.get('pace') or 0):.2f}"
        )
    return lines


def _anomaly_lines(employees: list[dict[str, Any]] | None, top: int) -> list[str]:
    if employees is None:
        return []
    flagged = sum(1 for e in employees if e.get("flagged"))
    leaders = top_anomalies(employees, top)
    lines = [f"Top anomalies {flagged} flagged" + ("" if leaders else "; none scored yet")]
    for e in leaders:
        mark = "!" if e.get("flagged") else " "
        reasons = e.get("reasons") or []
        lines.append(
            f" {mark}{float(e['anomaly_score']):5.1f}  {e['employee_id']:<16} "
            f"{e.get('team_id', ''):<12} {reasons_text(reasons)}"
        )
        if reasons:
            lines.append(
                f"{'':25}{reasons[0]['code']}: {evidence_text(reasons[0].get('evidence'))}"
            )
    return lines


def _alert_lines(alerts: list[dict[str, Any]] | None, notices_sent: float | None) -> list[str]:
    if alerts is None:
        return ["Alerts        n/a (notifier API not answering)"]
    names = Counter(a.get("alertname") for a in alerts)
    states = Counter(n.get("state") for a in alerts for n in a.get("notices") or [])
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(names.items())) or "none yet"
    notices = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"
    sent = "" if not notices_sent else f", in {notices_sent:,.0f} messages delivered"
    return [f"Alerts        {len(alerts)} ({kinds}); notices: {notices}{sent}"]


def render(now: Snapshot, before: Snapshot | None = None, top: int = 5, footer: str = "") -> str:
    """The summary screen of `now`, with rates against the reading `before`."""
    ingested, scored = rate(now, before, "ingested"), rate(now, before, "scored")
    if now.lag is None:
        lag = "n/a"
    else:
        groups = " · ".join(f"{group} {n:,}" for group, n in sorted(now.lag.items()))
        lag = f"{groups or 'no consumer groups'} records"
    lines = [
        f"WeCom quota — live summary   {now.at:%Y-%m-%d %H:%M:%S %Z}   period {now.period}",
        f"Events/s      ingested {_num(ingested, '/s')} · scored {_num(scored, '/s')}"
        f"   (totals {_num(now.ingested)} / {_num(now.scored)})",
        f"Consumer lag  {lag}",
        *_employees_lines(now.employees, 3),
        *_anomaly_lines(now.employees, top),
        *_alert_lines(now.alerts, now.notices_sent),
    ]
    lines += [f"(!) {p}" for p in now.problems]
    if now.employees is None and now.alerts is None and now.ingested is None:
        lines.append("Nothing answers: is the stack up? (make up; make status)")
    if footer:
        lines.append(footer)
    return "\n".join(lines)

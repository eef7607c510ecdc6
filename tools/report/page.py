"""The report as one self-contained HTML page (pure): inline CSS, charts embedded as base64 PNG,
no scripts and no external resources, every value escaped — fit to be sent by e-mail."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from typing import Any

from tools.report.figures import (
    QUALITY_COMPONENTS,
    STATUSES,
    WAITING_AND_APART,
    Alert,
    ReportData,
    Row,
    alert_counts,
    alerts,
    leaderboard,
    totals,
)

CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC","Microsoft YaHei",
Arial,sans-serif;color:#222;max-width:1000px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px}.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.tile b{display:block;font-size:20px}.tile span{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px;margin:8px 0}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.on_track{color:#4c9a2a}.behind{color:#b07d00}.met{color:#2c6fbb}.missed{color:#c0392b}
.flag{color:#c0392b;font-weight:bold}.ev{color:#555}.none{color:#888}
img{max-width:100%}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M %Z}" if value else "—"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def img(png: bytes, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def cell(key: str, text: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<td data-k="{e(key)}"{klass}>{e(text)}</td>'


def who(row: Row) -> str:
    name = e(row["employee_name"] or "")
    return f'{name} <span class="none">{e(row["employee_id"])}</span>'


def fact(value: Any) -> str:
    """One evidence value in words: lists and mappings spelled out, not as Python reprs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {fact(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(fact(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def facts(evidence: Any) -> str:
    """A reason's evidence, escaped; the facts in the employee's favour are shown apart."""
    if not isinstance(evidence, dict):
        return e(fact(evidence))
    return "; ".join(f"{e(k)}: {e(fact(v))}" for k, v in evidence.items() if k != "in_favour")


def _tiles(data: ReportData, sent: int) -> str:
    t = totals(data)
    tiles = [
        ("employees", num(t.employees)),
        ("target", num(t.target)),
        ("valid adds", num(t.valid_adds)),
        ("awaiting profile", num(t.profile_unknown_adds)),
        ("unverified", num(t.unverified_adds)),
        ("inherited", num(t.inherited_adds)),
        ("attainment", pct(t.attainment)),
        *[(s.replace("_", " "), num(t.statuses[s])) for s in STATUSES],
        ("mean quality", num(t.quality_score, 1)),
        ("flagged", num(t.flagged)),
        ("alert notices sent", num(sent)),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile" data-tile="{e(label)}"><b>{e(value)}</b>'
            f"<span>{e(label)}</span></div>"
            for label, value in tiles
        )
        + "</div>"
    )


def _team_table(teams: list[Row]) -> str:
    head = (
        '<tr><th class="l">team</th><th>employees</th><th>target</th><th>valid</th>'
        "<th>pending</th><th>awaiting profile</th><th>unverified</th><th>inherited</th>"
        "<th>removed</th><th>attainment</th><th>on track</th><th>behind</th>"
        "<th>met</th><th>missed</th><th>quality</th><th>anomaly (mean)</th><th>flagged</th></tr>"
    )
    rows = "".join(
        f'<tr data-team="{e(t["team_id"])}"><td class="l">{e(t["team_id"])}</td>'
        + cell("employees", num(t["employees"]))
        + cell("target", num(t["target"]))
        + cell("valid_adds", num(t["valid_adds"]))
        + cell("pending_adds", num(t["pending_adds"]))
        + "".join(cell(c, num(t[c])) for c in WAITING_AND_APART)
        + cell("removed_adds", num(t["removed_adds"]))
        + cell("attainment", pct(t["attainment"]))
        + "".join(cell(s, num(t[s])) for s in STATUSES)
        + cell("quality_score", num(t["quality_score"], 1))
        + cell("anomaly_score", num(t["anomaly_score"], 1))
        + cell("flagged", num(t["flagged"]))
        + "</tr>"
        for t in teams
    )
    return f"<table>{head}{rows}</table>"


def _employee_table(employees: list[Row]) -> str:
    comps = "".join(
        f"<th>{e(c.removeprefix('quality_').replace('_', ' '))}</th>" for c in QUALITY_COMPONENTS
    )
    head = (
        '<tr><th class="l">employee</th><th class="l">team</th><th>target</th><th>valid</th>'
        "<th>pending</th><th>awaiting profile</th><th>unverified</th><th>inherited</th>"
        '<th>attainment</th><th>pace</th><th class="l">status</th>'
        f"<th>quality</th>{comps}<th>anomaly</th></tr>"
    )
    ordered = sorted(employees, key=lambda r: (r["team_id"], r["employee_id"]))
    rows = "".join(
        f'<tr data-employee="{e(r["employee_id"])}">'
        f'<td class="l">{who(r)}</td>'
        f'<td class="l">{e(r["team_id"])}</td>'
        + cell("target", num(r["target"]))
        + cell("valid_adds", num(r["valid_adds"]))
        + cell("pending_adds", num(r["pending_adds"]))
        + "".join(cell(c, num(r[c])) for c in WAITING_AND_APART)
        + cell("attainment", pct(r["attainment"]))
        + cell("pace", pct(r["pace"]))
        + cell("status", (r["status"] or "—").replace("_", " "), f"l {r['status'] or ''}".strip())
        + cell("quality_score", num(r["quality_score"], 1))
        + "".join(cell(c, pct(r[c])) for c in QUALITY_COMPONENTS)
        + cell("anomaly_score", num(r["anomaly_score"], 1), "flag" if r["flagged"] else "")
        + "</tr>"
        for r in ordered
    )
    return f"<table>{head}{rows}</table>"


def _leaderboard(employees: list[Row]) -> str:
    leaders = leaderboard(employees)
    if not leaders:
        return '<p class="none">No anomaly signals in this period.</p>'
    head = (
        '<tr><th>#</th><th class="l">employee</th><th class="l">team</th><th>score</th>'
        '<th class="l">reasons (contribution: evidence; in the employee\'s favour)</th></tr>'
    )
    rows = []
    for rank, r in enumerate(leaders, start=1):
        reasons = "".join(
            f"<div><b>{e(x.get('code'))}</b> {num(float(x.get('contribution') or 0), 1)}: "
            f'<span class="ev">{facts(x.get("evidence"))}</span>'
            + (
                f'<br><span class="none">in favour: {facts(x["evidence"]["in_favour"])}</span>'
                if isinstance(x.get("evidence"), dict) and x["evidence"].get("in_favour")
                else ""
            )
            + "</div>"
            for x in r["reasons"] or []
        )
        rows.append(
            f'<tr data-anomaly="{e(r["employee_id"])}"><td>{rank}</td>'
            f'<td class="l">{who(r)}</td>'
            f'<td class="l">{e(r["team_id"])}</td>'
            + cell("anomaly_score", num(r["anomaly_score"], 1), "flag" if r["flagged"] else "")
            + f'<td class="l">{reasons}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _notices(alert: Alert) -> str:
    return "<br>".join(e(f"{n['channel']} → {n['notice_state']}") for n in alert.notices) or "—"


def _alerts(items: list[Alert]) -> str:
    if not items:
        return '<p class="none">No alerts for this period.</p>'
    counts = ", ".join(f"{e(k)} {v}" for k, v in alert_counts(items).items())
    head = (
        '<tr><th class="l">received</th><th class="l">alert</th><th class="l">status</th>'
        '<th class="l">employee</th><th class="l">summary</th><th class="l">notices</th></tr>'
    )
    rows = "".join(
        f'<tr data-alert="{a.alert_id}"><td class="l">{e(_when(a.received_at))}</td>'
        f'<td class="l">{e(a.alertname)}</td><td class="l">{e(a.status)}</td>'
        f'<td class="l">{e(a.employee_id or "")}</td><td class="l">{e(a.summary)}</td>'
        f'<td class="l">{_notices(a)}</td></tr>'
        for a in items
    )
    return f"<p>{counts}</p><table>{head}{rows}</table>"


def render(data: ReportData, charts: dict[str, bytes]) -> str:
    """The whole page. `charts` maps team_attainment, status_counts, quality_components and
    employee_attainment to PNG bytes (absent ones are left out)."""
    items = alerts(data.alert_log)
    sent = sum(a.sent for a in items)
    scope = f"branch {data.branch}" if data.branch else "all branches"
    closed = any(r["closed"] for r in data.employees)
    as_of = max((r["computed_at"] for r in data.employees), default=None)

    def chart(key: str, alt: str) -> str:
        return img(charts[key], alt) if key in charts else ""

    body = f"""
<h1>WeCom customer adds — {e(scope)}, {e(data.period)}</h1>
<p class="meta">Period {"closed: final figures" if closed else "open: figures so far"} ·
scores as of {e(_when(as_of))} · report generated {e(_when(data.generated_at))} ·
valid adds only (docs/product.md rules)</p>
{_tiles(data, sent)}
<h2>Attainment by team</h2>
{chart("team_attainment", "attainment by team")}
{_team_table(data.teams)}
<h2>Status counts</h2>
{chart("status_counts", "employees by status per team")}
<h2>Quality components (team means, 0–100%)</h2>
{chart("quality_components", "quality components by team")}
<h2>Anomaly leaderboard</h2>
{_leaderboard(data.employees)}
<h2>Alerts sent</h2>
{_alerts(items)}
<h2>Employees</h2>
{chart("employee_attainment", "attainment by employee")}
{_employee_table(data.employees)}
"""
    if not data.employees:
        body = (
            f"<h1>WeCom customer adds — {e(scope)}, {e(data.period)}</h1>"
            '<p class="none">No scores for this period and branch.</p>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{e(f'WeCom adds {scope} {data.period}')}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )

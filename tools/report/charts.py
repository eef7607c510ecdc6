"""The report's charts as PNG bytes, drawn in memory (matplotlib's object API, no pyplot state)."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from tools.report.figures import QUALITY_COMPONENTS, STATUSES, Row

STATUS_COLOURS = {"on_track": "#4c9a2a", "behind": "#e0a100", "met": "#2c6fbb", "missed": "#c0392b"}
NO_STATUS = "#999999"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def team_attainment(teams: list[Row]) -> bytes:
    """Valid adds against target per team, as a percentage, with the 100% line."""
    names = [t["team_id"] for t in teams]
    values = [100 * (t["attainment"] or 0) for t in teams]
    fig = Figure(figsize=(7, 0.45 * len(teams) + 1.2))
    ax = fig.subplots()
    bars = ax.barh(names, values, color="#2c6fbb")
    ax.axvline(100, color="#c0392b", linestyle="--", linewidth=1)
    for bar, t in zip(bars, teams, strict=True):
        label = f"{t['valid_adds']}/{t['target']}" if t["target"] is not None else "no target"
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, label, va="center")
    ax.invert_yaxis()
    ax.set_xlabel("attainment % (valid adds / target)")
    ax.set_xlim(0, max([110.0, *[v * 1.2 for v in values]]))
    ax.set_title("Attainment by team")
    return _png(fig)


def status_counts(teams: list[Row]) -> bytes:
    """Employees by status per team, stacked."""
    names = [t["team_id"] for t in teams]
    fig = Figure(figsize=(7, 0.45 * len(teams) + 1.2))
    ax = fig.subplots()
    left = [0] * len(teams)
    for status in STATUSES:
        counts = [t[status] for t in teams]
        ax.barh(names, counts, left=left, color=STATUS_COLOURS[status], label=status)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("employees")
    ax.legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _png(fig)


def employee_attainment(employees: list[Row]) -> bytes:
    """Every employee's attainment, highest at the top, coloured by status."""
    ranked = sorted(employees, key=lambda e: (e["attainment"] or 0, e["employee_id"]))
    fig = Figure(figsize=(7, 0.22 * len(ranked) + 1.2))
    ax = fig.subplots()
    ax.barh(
        [e["employee_id"] for e in ranked],
        [100 * (e["attainment"] or 0) for e in ranked],
        color=[STATUS_COLOURS.get(e["status"], NO_STATUS) for e in ranked],
    )
    ax.axvline(100, color="#c0392b", linestyle="--", linewidth=1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("attainment % (colour: status)")
    ax.set_title("Attainment by employee")
    return _png(fig)


def quality_components(by_team: dict[str, dict[str, float | None]]) -> bytes:
    """Mean quality components per team in percent, grouped bars."""
    teams = list(by_team)
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    width = 0.8 / len(QUALITY_COMPONENTS)
    for i, comp in enumerate(QUALITY_COMPONENTS):
        xs = [t + i * width for t in range(len(teams))]
        values = [100 * (by_team[t][comp] or 0) for t in teams]
        ax.bar(xs, values, width, label=comp.removeprefix("quality_").replace("_", " "))
    ax.set_xticks([t + 0.4 - width / 2 for t in range(len(teams))], teams, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% (pending windows left out)")
    ax.legend(ncols=3, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _png(fig)

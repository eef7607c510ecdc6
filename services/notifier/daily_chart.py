"""The daily digest's content for one supervisor: the team's table (markdown) and a PNG chart
of attainment against target, rendered in memory with matplotlib's Agg backend (no display,
no files). Scheduling and sending it are not wired yet (see docs/NOTIFIER.md)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # the Agg backend is chosen above


@dataclass(frozen=True)
class TeamRow:
    employee_id: str
    valid_adds: int
    target: int

    @property
    def attainment(self) -> float:
        return self.valid_adds / self.target if self.target else 1.0


def team_table(period: str, supervisor: str, rows: Sequence[TeamRow]) -> str:
    lines = [
        f"**{period} 团队日报 daily digest** <@{supervisor}>",
        "| 员工 employee | 有效 valid | 目标 target | 达成 attainment |",
        "|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r.attainment):
        lines.append(f"| {r.employee_id} | {r.valid_adds} | {r.target} | {r.attainment:.0%} |")
    return "\n".join(lines)


def attainment_chart(period: str, rows: Sequence[TeamRow]) -> bytes:
    """A horizontal bar per employee (valid adds) with the target marked; PNG bytes."""
    ordered = sorted(rows, key=lambda r: r.attainment)
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.35 * len(ordered) + 1)), dpi=100)
    try:
        names = [r.employee_id for r in ordered]
        colours = ["#d9534f" if r.attainment < 1 else "#5cb85c" for r in ordered]
        ax.barh(names, [r.valid_adds for r in ordered], color=colours, label="valid adds")
        ax.scatter([r.target for r in ordered], names, marker="|", s=300, c="black", label="target")
        ax.set_title(f"Attainment against target, {period}")
        ax.set_xlabel("valid adds")
        ax.legend(loc="lower right")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)

"""The daily digest's chart: attainment against target per employee, a PNG rendered in memory
with matplotlib's Agg backend (no display, no files). The same content renders the same bytes,
so a part sent again after a crash carries the same image (and md5)."""

from __future__ import annotations

import io

import matplotlib

from services.notifier.domain.daily import DailyContent

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # the Agg backend is chosen above

ROBOT_IMAGE_LIMIT = 2 * 1024 * 1024  # docs/wecom.md §4: ≤ 2 MB before base64
DPI_STEPS = (100, 72, 48)


def attainment_chart(content: DailyContent, dpi: int = DPI_STEPS[0]) -> bytes:
    """A horizontal bar per employee (valid adds; red below target, green at or above) with
    the target marked; weakest at the top."""
    ordered = list(reversed(content.ordered))  # barh draws bottom-up
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.35 * len(ordered) + 1)), dpi=dpi)
    try:
        names = [r.employee_id for r in ordered]
        colours = [
            "#999999" if r.attainment is None else "#d9534f" if r.attainment < 1 else "#5cb85c"
            for r in ordered
        ]
        ax.barh(names, [r.valid_adds for r in ordered], color=colours, label="valid adds")
        targeted = [(r.employee_id, r.target) for r in ordered if r.target is not None]
        if targeted:
            ax.scatter(
                [target for _, target in targeted],
                [name for name, _ in targeted],
                marker="|",
                s=300,
                c="black",
                label="target",
            )
        ax.set_title(f"Attainment against target, {content.period} ({content.day.isoformat()})")
        ax.set_xlabel("valid adds")
        ax.legend(loc="lower right")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(fig)


def chart_within(content: DailyContent, limit: int = ROBOT_IMAGE_LIMIT) -> bytes | None:
    """The chart at the highest resolution that fits `limit` bytes; None if none does."""
    for dpi in DPI_STEPS:
        png = attainment_chart(content, dpi)
        if len(png) <= limit:
            return png
    return None

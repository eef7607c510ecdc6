"""The daily digest's table and chart render without a display."""

from __future__ import annotations

from services.notifier.daily_chart import TeamRow, attainment_chart, team_table


def test_table_lists_the_weakest_first_and_chart_is_a_png() -> None:
    rows = [TeamRow("e1", 3, 10), TeamRow("e2", 12, 12), TeamRow("e3", 0, 5)]
    table = team_table("2026-10", "lead1", rows)
    assert "<@lead1>" in table
    assert table.index("| e3 ") < table.index("| e1 ") < table.index("| e2 ")
    png = attainment_chart("2026-10", rows)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 2 * 1024 * 1024

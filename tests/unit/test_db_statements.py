"""Statements with optional filters (shared/db/statements.py): each combination its own
constant text, parameters numbered in order."""

from __future__ import annotations

from shared.db import filter_mask, filtered_statements


def test_each_combination_of_filters_numbers_its_parameters_in_order() -> None:
    sql = filtered_statements(
        "SELECT * FROM s WHERE period = $1", 1, ("branch_id =", "team_id ="), " LIMIT $next"
    )
    assert sql[filter_mask(None, None)] == "SELECT * FROM s WHERE period = $1 LIMIT $2"
    assert sql[filter_mask("b1", None)] == (
        "SELECT * FROM s WHERE period = $1 AND branch_id = $2 LIMIT $3"
    )
    assert sql[filter_mask(None, "t1")] == (
        "SELECT * FROM s WHERE period = $1 AND team_id = $2 LIMIT $3"
    )
    assert sql[filter_mask("b1", "t1")] == (
        "SELECT * FROM s WHERE period = $1 AND branch_id = $2 AND team_id = $3 LIMIT $4"
    )


def test_a_head_with_several_parameters() -> None:
    sql = filtered_statements("SELECT 1 WHERE a = $1 AND b = $2", 2, ("c >",))
    assert sql[filter_mask(0)] == "SELECT 1 WHERE a = $1 AND b = $2 AND c > $3"
    assert sql[filter_mask(None)] == "SELECT 1 WHERE a = $1 AND b = $2"

"""Statements with optional filters, as constants."""

from __future__ import annotations

from collections.abc import Sequence


def filtered_statements(
    head: str, head_params: int, filters: Sequence[str], tail: str = ""
) -> dict[int, str]:
    """One constant statement per combination of optional filters, keyed by `filter_mask` of
    the values given (a bit per filter, in order). `head` ends in a WHERE condition and uses
    `head_params` parameters; each filter is `column op` and takes the next $n; `$next` in
    `tail` is the parameter after them (a LIMIT).

    Not one statement with `($2::text IS NULL OR branch_id = $2)`: a prepared statement soon
    gets a generic plan, which cannot use an index for such a condition and scans everything
    (one branch of a 100,000-employee bank's month: a 143 ms scan instead of an index read)."""
    statements: dict[int, str] = {}
    for mask in range(1 << len(filters)):
        where = [head]
        for bit, condition in enumerate(filters):
            if mask >> bit & 1:
                where.append(f"{condition} ${head_params + len(where)}")
        after = f"${head_params + len(where)}"
        statements[mask] = " AND ".join(where) + tail.replace("$next", after)
    return statements


def filter_mask(*values: object) -> int:
    """Which optional filters are given (not None), as `filtered_statements` keys them."""
    return sum(1 << bit for bit, v in enumerate(values) if v is not None)

"""`make bench`'s table: a benchmark that did not finish is a row saying why, not a lost table."""

from __future__ import annotations

from bench.__main__ import table


def test_a_benchmark_that_failed_is_a_row_of_its_own_and_not_met() -> None:
    text = table(
        {
            "state": {"failed": "TimeoutError: http://127.0.0.1:41515 not ready"},
            "drain": {"failed": "RuntimeError: stack did not start"},
        }
    )
    rows = text.splitlines()[2:]
    assert rows == [
        "| `state` did not finish | TimeoutError: http://127.0.0.1:41515 not ready |  |  |  "
        "| **no** |",
        "| `drain` did not finish | RuntimeError: stack did not start |  |  |  | **no** |",
    ]

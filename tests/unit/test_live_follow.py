"""The live benchmark's sample of followed employees (bench/live.py)."""

from __future__ import annotations

import pytest

from bench import workload
from bench.live import followed_employees, parser


def test_one_in_ten_drawn_alike_every_run_and_from_every_branch() -> None:
    followed = followed_employees(2_000, 10)
    assert len(followed) == 200
    assert followed == followed_employees(2_000, 10)  # the same employees every run
    ids = [workload.employee_id(i) for i in range(2_000)]
    indices = [ids.index(e) for e in followed]
    # not a stride: a stride of ten would be every employee of one branch
    assert len({i % 10 for i in indices}) == 10
    assert followed_employees(2_000, 1) == ids


def test_follow_must_be_one_or_more() -> None:
    assert parser().parse_args(["--follow", "3"]).follow == 3
    for bad in ("0", "-2"):
        with pytest.raises(SystemExit):
            parser().parse_args(["--follow", bad])

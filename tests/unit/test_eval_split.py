"""The evaluation's split (tools/evaluate/split.py) is fixed: these values are the committed
ones, the sides never overlap, and every label maps to exactly one side."""

from __future__ import annotations

import pytest

from tools.evaluate import split
from tools.simulator.labels import GAMING_KINDS, HONEST_KINDS


def test_split_is_as_committed() -> None:
    assert split.TUNING_SEEDS == (1, 2, 3)
    assert split.HELD_OUT_SEEDS == (101, 102)
    assert {"BEHAVING_BOUGHT", "TEAM_RING", "STAFF_PADDING"} == split.HELD_OUT_GAMING_KINDS
    assert len(split.TUNING_GAMING_KINDS) == 9
    assert "BEHAVING_BOUGHT" not in split.TUNING_GAMING_KINDS


def test_sides_are_disjoint() -> None:
    assert not set(split.TUNING_SEEDS) & set(split.HELD_OUT_SEEDS)
    kinds = (split.TUNING_GAMING_KINDS, split.HELD_OUT_GAMING_KINDS, split.HONEST_KINDS)
    assert sum(len(k) for k in kinds) == len(frozenset().union(*kinds))


def test_every_seed_and_label_has_one_side() -> None:
    assert [split.seed_set(s) for s in (1, 2, 3, 101, 102)] == ["tuning"] * 3 + ["held_out"] * 2
    assert split.kind_set("BEHAVING_BOUGHT") == "held_out"
    assert split.kind_set("QR_BATCH_BURST") == "tuning"
    assert split.kind_set("hard_negative:prospector") == "honest"
    with pytest.raises(ValueError):
        split.seed_set(4)
    with pytest.raises(ValueError):
        split.kind_set("SOMETHING_ELSE")


def test_every_kind_the_simulator_labels_is_on_one_side() -> None:
    assert split.TUNING_GAMING_KINDS | split.HELD_OUT_GAMING_KINDS == GAMING_KINDS
    assert split.HONEST_KINDS == HONEST_KINDS

"""The bank-wide figures kept as JSON come back as they were (services/scorer/bankwide.py)."""

from __future__ import annotations

from datetime import date

import orjson

from services.scorer.bankwide import (
    Figure,
    decode_baseline,
    decode_blocks,
    encode_baseline,
    encode_blocks,
)
from services.scorer.domain.anomaly import PeerBaseline
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.surprise import Spread


def roundtrip(value: object) -> object:
    return orjson.loads(orjson.dumps(value))


def test_a_baseline_comes_back_equal() -> None:
    baseline = PeerBaseline(
        hollow_share=Spread(0.21, 0.07, 48),
        hollow_per_day=0.8,
        tail_lift=1.6,
        day_hollow_median={date(2026, 9, 1): 2.0, date(2026, 9, 30): 5.5},
    )
    assert decode_baseline(roundtrip(encode_baseline(baseline))) == baseline  # type: ignore[arg-type]
    assert decode_baseline(roundtrip(encode_baseline(PeerBaseline()))) == PeerBaseline()  # type: ignore[arg-type]


def test_blocks_come_back_equal_and_shared_by_their_employees() -> None:
    ring = DenseBlock(("e1", "e2", "e3"), ("wm-1", "wm-2"), 2.4, 1.5, 6, ("wm-5", "wm-6"))
    pair = DenseBlock(("e7", "e8"), ("wm-9",), 1.1, 1.0, 2)
    by_employee = {"e1": ring, "e2": ring, "e3": ring, "e7": pair, "e8": pair}
    back = decode_blocks(roundtrip(encode_blocks(by_employee)))  # type: ignore[arg-type]
    assert back == by_employee
    assert back["e1"] is back["e3"]
    assert encode_blocks({}) == [] and decode_blocks([]) == {}
    kept_before = [{k: v for k, v in encode_blocks({"e7": pair})[0].items() if k != "shared"}]
    assert decode_blocks(kept_before)["e7"] == pair  # kept before blocks named them


def test_only_figures_worth_reusing_are_kept() -> None:
    exact = Figure("baseline", 0.0, encode_baseline, decode_baseline)
    floored = Figure("blocks", 30.0, encode_blocks, decode_blocks)
    assert not exact.kept(0.05)  # quick: computed afresh from every snapshot
    assert exact.kept(0.5)
    assert floored.kept(0.05)

"""How the scorer cuts the employees of a recomputation into chunks (services/scorer/scoring.py):
bounded by employees and by relations, so a burst of adds cannot blow the memory up."""

from __future__ import annotations

from services.scorer.scoring import chunked


def test_chunks_are_bounded_by_employees_and_by_relations() -> None:
    ids = [f"e{i}" for i in range(7)]
    assert chunked(ids, {}, max_ids=3, max_weight=100) == [ids[0:3], ids[3:6], ids[6:7]]
    busy = {"e1": 60, "e2": 60, "e5": 500}
    assert chunked(ids, busy, max_ids=3, max_weight=100) == [
        ["e0", "e1"],
        ["e2", "e3", "e4"],
        ["e5"],  # heavier than a chunk: alone
        ["e6"],
    ]


def test_every_id_once_in_order() -> None:
    ids = [f"e{i}" for i in range(100)]
    weight = {i: (n * 37) % 90 for n, i in enumerate(ids)}
    chunks = chunked(ids, weight, max_ids=10, max_weight=200)
    assert [i for c in chunks for i in c] == ids
    assert all(len(c) <= 10 and (len(c) == 1 or sum(weight[i] for i in c) <= 200) for c in chunks)

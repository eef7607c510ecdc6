"""The evaluation's metrics on small hand-checked cases."""

from __future__ import annotations

from typing import Any

import pytest

from tools.evaluate.grading import (
    EmployeeResult,
    average_precision,
    grade,
    precision_at_k,
    roc_auc,
    summarise,
    summary_table,
)


def test_perfect_and_inverted_rankings() -> None:
    assert average_precision([3, 2, 1], [True, True, False]) == 1.0
    assert roc_auc([3, 2, 1], [True, True, False]) == 1.0
    assert roc_auc([1, 2, 3], [True, True, False]) == 0.0
    assert precision_at_k([3, 2, 1], [True, False, True], 2) == 0.5


def test_average_precision_by_hand() -> None:
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7], [True, False, True]) == pytest.approx(5 / 6)


def test_ties_are_not_in_the_detectors_favour() -> None:
    assert average_precision([1, 1], [True, False]) == 0.5
    assert roc_auc([1, 1], [True, False]) == 0.5


def result(
    label: str, score: float, flagged: bool, codes: set[str], valid: int = 1
) -> EmployeeResult:
    return EmployeeResult(label, score, flagged, frozenset(codes), valid, 1)


def test_grade_counts_recall_per_pattern_and_flag_rates() -> None:
    employees = {
        "a": result("QR_BATCH_BURST", 90, True, {"QR_BATCH_BURST"}),
        "b": result("MUTUAL_ADD_RING", 80, True, {"SHARED_CONTACTS"}),
        "c": result("QUICK_DELETE", 40, False, set()),
        "d": result("hard_negative:branch_event", 60, True, {"QR_BATCH_BURST"}),
        "e": result("clean", 0, False, set(), valid=2),
    }
    contact_labels = {("a", "x"): "QR_BATCH_BURST", ("a", "y"): "clean", ("d", "z"): "clean"}
    flags = {("a", "x"): ["QR_BATCH_BURST"], ("d", "z"): ["QR_BATCH_BURST"]}
    g = grade(employees, contact_labels, flags)
    assert g["recall_by_pattern"] == {
        "MUTUAL_ADD_RING": 1.0,
        "QR_BATCH_BURST": 1.0,
        "QUICK_DELETE": 0.0,
    }
    assert g["hard_negative_flag_rate"] == 1.0
    assert g["clean_flag_rate"] == 0.0
    assert g["contact_flag_precision"] == 0.5
    assert g["contact_flag_recall"] == 1.0
    assert g["valid_adds_equal"] is False
    assert g["valid_adds_mismatches"] == {"e": (2, 1)}


def hand_made_run(seed: int) -> dict[str, Any]:
    """Two tuning gamers (one caught), one held-out gamer (flagged, any code catches it), a
    prospector flagged, a clean employee; two honest contacts accused, one of whom has not
    written yet."""
    employees = {
        "a": result("QR_BATCH_BURST", 90, True, {"QR_BATCH_BURST"}),
        "b": result("SLOW_DRIP", 10, False, set()),
        "c": result("BEHAVING_BOUGHT", 50, True, {"NO_ENGAGEMENT"}),
        "p": result("hard_negative:prospector", 70, True, {"NO_ENGAGEMENT"}),
        "e": result("clean", 0, False, set()),
    }
    contact_labels = {
        ("a", "x"): "QR_BATCH_BURST",
        ("b", "y"): "SLOW_DRIP",
        ("c", "z"): "BEHAVING_BOUGHT",
        ("p", "q"): "hard_negative:prospector",
        ("p", "r"): "hard_negative:prospector",
    }
    accusations = {
        ("a", "x"): ["QR_BATCH_BURST"],
        ("c", "z"): ["NO_ENGAGEMENT"],
        ("p", "q"): ["NO_ENGAGEMENT"],
        ("p", "r"): ["NO_ENGAGEMENT"],
    }
    facts = {("p", "q"): ("not_written_yet",), ("b", "y"): ("not_written_yet",)}
    graded = grade(employees, contact_labels, {}, accusations, facts)
    return {"seed": seed, **graded}


def test_grading_per_kind_and_per_side_of_the_split() -> None:
    g = hand_made_run(1)
    assert g["recall_by_pattern"] == {
        "BEHAVING_BOUGHT": 1.0,
        "QR_BATCH_BURST": 1.0,
        "SLOW_DRIP": 0.0,
    }
    assert g["flag_rate_by_honest_kind"] == {"clean": 0.0, "hard_negative:prospector": 1.0}
    assert g["flagged_by_segment"] == {"acquisition": [1, 1], "servicing": [0, 1]}
    # tuning kinds ranked a (90), p (70), b (10), e (0); c left out: (1/1 + 2/3) / 2
    assert g["average_precision_by_kind_set"]["tuning"] == pytest.approx(0.8333, abs=1e-4)
    # held-out: p (70) outranks c (50): 1/2
    assert g["average_precision_by_kind_set"]["held_out"] == 0.5
    contacts = g["contacts"]
    assert contacts["precision"] == 0.5
    assert contacts["recall"] == {"tuning": 0.5, "held_out": 1.0}
    assert contacts["recall_by_kind"] == {
        "BEHAVING_BOUGHT": 1.0,
        "QR_BATCH_BURST": 1.0,
        "SLOW_DRIP": 0.0,
    }
    assert contacts["honest_accused"] == 2
    assert contacts["honest_accused_by_fact"] == {"none": 1, "not_written_yet": 1}


def test_summary_pools_runs_per_seed_side_and_refuses_unknown_seeds() -> None:
    summary = summarise([hand_made_run(1), hand_made_run(2), hand_made_run(101)])
    assert set(summary) == {"tuning", "held_out"}
    tuning = summary["tuning"]
    assert tuning["seeds"] == [1, 2] and tuning["runs"] == 2
    assert tuning["caught_by_kind"]["SLOW_DRIP"] == [0, 2]
    assert tuning["recall_by_kind"]["held_out"] == {"BEHAVING_BOUGHT": 1.0}
    assert tuning["flagged_by_honest_kind"]["hard_negative:prospector"] == [2, 2]
    assert tuning["flagged_by_segment"] == {"acquisition": [2, 2], "servicing": [0, 2]}
    assert tuning["contacts"]["honest_accused_by_fact"] == {"none": 2, "not_written_yet": 2}
    assert tuning["contacts"]["recall_by_kind"]["SLOW_DRIP"] == 0.0
    assert tuning["contacts"]["caught_by_kind"]["QR_BATCH_BURST"] == [2, 2]
    assert summary["held_out"]["average_precision"]["held_out"] == 0.5
    table = summary_table(summary)
    assert "held_out seeds (101; 1 runs)" in table and "BEHAVING_BOUGHT" in table
    assert "acquisition                    2/2    1.000" in table
    assert "contact recall, SLOW_DRIP" in table
    with pytest.raises(ValueError):
        summarise([hand_made_run(7)])

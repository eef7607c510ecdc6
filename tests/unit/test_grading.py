"""The evaluation's metrics on small hand-checked cases."""

from __future__ import annotations

import pytest

from tools.evaluate.grading import (
    EmployeeResult,
    average_precision,
    grade,
    precision_at_k,
    roc_auc,
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

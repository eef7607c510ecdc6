"""Grading the anomaly scores, flags and valid adds against the simulator's ground truth:
pure functions over plain data (no I/O), so the metrics themselves are unit-tested."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools.simulator import accepted_codes, is_gaming


def average_precision(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the precision–recall curve, ties broken pessimistically (negatives first)."""
    ranked = sorted(zip(scores, positives, strict=True), key=lambda x: (-x[0], x[1]))
    total = sum(positives)
    if not total:
        return 0.0
    hits, ap = 0, 0.0
    for rank, (_, positive) in enumerate(ranked, start=1):
        if positive:
            hits += 1
            ap += hits / rank
    return ap / total


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    if not pos or not neg:
        return 0.0
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def precision_at_k(scores: Sequence[float], positives: Sequence[bool], k: int) -> float:
    ranked = sorted(zip(scores, positives, strict=True), key=lambda x: (-x[0], x[1]))[:k]
    return sum(p for _, p in ranked) / max(k, 1)


@dataclass(frozen=True)
class EmployeeResult:
    label: str
    anomaly_score: float
    flagged: bool
    codes: frozenset[str]
    valid_adds: int
    expected_valid: int


def grade(
    employees: Mapping[str, EmployeeResult],
    contact_labels: Mapping[tuple[str, str], str],
    contact_flags: Mapping[tuple[str, str], Sequence[str]],
) -> dict[str, Any]:
    ids = sorted(employees)
    scores = [employees[i].anomaly_score for i in ids]
    positive = [is_gaming(employees[i].label) for i in ids]
    k = sum(positive)
    by_pattern: dict[str, list[EmployeeResult]] = defaultdict(list)
    for e in employees.values():
        by_pattern[e.label].append(e)
    recall = {
        label: sum(1 for e in group if e.flagged and e.codes & accepted_codes(label)) / len(group)
        for label, group in sorted(by_pattern.items())
        if is_gaming(label)
    }
    hard = [e for e in employees.values() if e.label.startswith("hard_negative")]
    clean = [e for e in employees.values() if e.label == "clean"]
    flagged_contacts = {key for key, codes in contact_flags.items() if codes}
    gaming_contacts = {key for key, label in contact_labels.items() if is_gaming(label)}
    true_flags = len(flagged_contacts & gaming_contacts)
    mismatched = {
        i: (employees[i].valid_adds, employees[i].expected_valid)
        for i in ids
        if employees[i].valid_adds != employees[i].expected_valid
    }
    return {
        "employee_count": len(ids),
        "gaming_employees": k,
        "average_precision": round(average_precision(scores, positive), 4),
        "roc_auc": round(roc_auc(scores, positive), 4),
        "precision_at_k": round(precision_at_k(scores, positive, k), 4),
        "recall_by_pattern": {p: round(r, 4) for p, r in recall.items()},
        "hard_negative_flag_rate": round(sum(e.flagged for e in hard) / max(len(hard), 1), 4),
        "hard_negative_flags": sorted(e.label for e in hard if e.flagged),
        "clean_flag_rate": round(sum(e.flagged for e in clean) / max(len(clean), 1), 4),
        "contact_flag_precision": round(true_flags / max(len(flagged_contacts), 1), 4),
        "contact_flag_recall": round(true_flags / max(len(gaming_contacts), 1), 4),
        "valid_adds_equal": not mismatched,
        "valid_adds_mismatches": dict(list(mismatched.items())[:20]),
        "scores": sorted(
            (
                [i, employees[i].label, employees[i].anomaly_score, sorted(employees[i].codes)]
                for i in ids
            ),
            key=lambda x: -float(x[2]),
        ),
    }

"""Grading the anomaly scores, flags and valid adds against the simulator's ground truth:
pure functions over plain data (no I/O), so the metrics themselves are unit-tested.

Every figure is also given per side of the evaluation split (`split.py`): average precision of
the gamers of the tuning kinds and of the held-out kinds, each against all honest employees;
recall per gaming kind; flag rate per honest kind; contact-level precision and recall of the
accusations. `summarise` pools the runs of the tuning seeds and of the held-out seeds apart."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools.evaluate.split import HONEST_KINDS, KindSet, kind_set, seed_set
from tools.simulator import is_caught, is_gaming


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


GAMING_SIDES: tuple[KindSet, ...] = ("tuning", "held_out")
NO_FACT = "none"
"""An accused honest contact with no fact that could explain the accusation."""


def _side_ap(employees: Mapping[str, EmployeeResult], side: KindSet) -> float | None:
    """Average precision of one side's gamers ranked among every honest employee (the other
    side's gamers left out); None when that side has no gamer in the run."""
    chosen = [
        e for e in employees.values() if (kind_set(e.label) == side if is_gaming(e.label) else True)
    ]
    positives = [is_gaming(e.label) for e in chosen]
    if not any(positives):
        return None
    return round(average_precision([e.anomaly_score for e in chosen], positives), 4)


def segment_of_honest(label: str) -> str:
    """The segment of work of an honest kind, as the bank would state it: a prospector does
    acquisition work, every other honest kind services an existing book (the simulator states
    no segment on the `employee` records: the scorer infers it, and is graded per true
    segment)."""
    return "acquisition" if label == "hard_negative:prospector" else "servicing"


def grade_contacts(
    contact_labels: Mapping[tuple[str, str], str],
    accusations: Mapping[tuple[str, str], Sequence[str]],
    facts: Mapping[tuple[str, str], Sequence[str]],
) -> dict[str, Any]:
    """Contact-level counts of the accusations (contact flags that back a reason of their
    employee's score), per side of the split, and the honest contacts accused, by the fact that
    holds for them (not written yet, deleted by the customer; `none`). Counts, so that runs pool."""
    accused = {key for key, codes in accusations.items() if codes}
    counts: dict[str, Any] = {
        "accused": len(accused),
        "accused_gaming": 0,
        "gaming": {side: 0 for side in GAMING_SIDES},
        "caught": {side: 0 for side in GAMING_SIDES},
        "honest_accused_by_fact": {},
    }
    by_fact: Counter[str] = Counter()
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key, label in contact_labels.items():
        hit = key in accused
        if is_gaming(label):
            side = kind_set(label)
            counts["gaming"][side] += 1
            counts["caught"][side] += hit
            counts["accused_gaming"] += hit
            by_kind[label][0] += hit
            by_kind[label][1] += 1
        elif hit:
            for fact in facts.get(key, ()) or (NO_FACT,):
                by_fact[fact] += 1
    counts["honest_accused_by_fact"] = dict(sorted(by_fact.items()))
    counts["caught_by_kind"] = dict(sorted(by_kind.items()))
    return counts


def contact_figures(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Precision of the accusations, recall per side, from `grade_contacts` counts."""
    return {
        "precision": round(counts["accused_gaming"] / max(counts["accused"], 1), 4),
        "recall": {
            side: round(counts["caught"][side] / max(counts["gaming"][side], 1), 4)
            for side in GAMING_SIDES
        },
        "recall_by_kind": {
            label: round(hits / max(total, 1), 4)
            for label, (hits, total) in counts["caught_by_kind"].items()
        },
        "caught_by_kind": counts["caught_by_kind"],
        "honest_accused": counts["accused"] - counts["accused_gaming"],
        "honest_accused_by_fact": counts["honest_accused_by_fact"],
    }


def grade(
    employees: Mapping[str, EmployeeResult],
    contact_labels: Mapping[tuple[str, str], str],
    contact_flags: Mapping[tuple[str, str], Sequence[str]],
    accusations: Mapping[tuple[str, str], Sequence[str]] | None = None,
    facts: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """`contact_flags`: the flags of flagged employees' contacts that back their reasons (what a
    supervisor is shown); `accusations`: the same over every employee with a reason."""
    ids = sorted(employees)
    scores = [employees[i].anomaly_score for i in ids]
    positive = [is_gaming(employees[i].label) for i in ids]
    k = sum(positive)
    by_pattern: dict[str, list[EmployeeResult]] = defaultdict(list)
    for e in employees.values():
        by_pattern[e.label].append(e)
    caught = {
        label: [sum(1 for e in group if is_caught(label, e.flagged, e.codes)), len(group)]
        for label, group in sorted(by_pattern.items())
        if is_gaming(label)
    }
    recall = {label: hits / total for label, (hits, total) in caught.items()}
    honest_flags = {
        label: [sum(1 for e in group if e.flagged), len(group)]
        for label, group in sorted(by_pattern.items())
        if label in HONEST_KINDS
    }
    by_segment: dict[str, list[int]] = {}
    for label, (hits, total) in honest_flags.items():
        pooled = by_segment.setdefault(segment_of_honest(label), [0, 0])
        pooled[0] += hits
        pooled[1] += total
    contacts = grade_contacts(
        contact_labels, contact_flags if accusations is None else accusations, facts or {}
    )
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
        "average_precision_by_kind_set": {side: _side_ap(employees, side) for side in GAMING_SIDES},
        "caught_by_kind": caught,
        "flagged_by_honest_kind": honest_flags,
        "flag_rate_by_honest_kind": {
            label: round(hits / total, 4) for label, (hits, total) in honest_flags.items()
        },
        "flagged_by_segment": dict(sorted(by_segment.items())),
        "contact_counts": contacts,
        "contacts": contact_figures(contacts),
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


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The graded runs pooled per side of the seed split: mean average precision per kind set,
    recall per gaming kind and flag rate per honest kind over all employees of those runs,
    contact precision and recall over all their contacts. Seeds outside the split are refused."""
    sides: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        sides[seed_set(int(run["seed"]))].append(run)
    summary: dict[str, Any] = {}
    for side, group in sorted(sides.items()):
        caught: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        flagged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        segments: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        contacts: dict[str, Any] = {
            "accused": 0,
            "accused_gaming": 0,
            "gaming": Counter(),
            "caught": Counter(),
            "honest_accused_by_fact": Counter(),
            "caught_by_kind": defaultdict(lambda: [0, 0]),
        }
        for run in group:
            for label, (hits, total) in run["caught_by_kind"].items():
                caught[label][0] += hits
                caught[label][1] += total
            for label, (hits, total) in run["flagged_by_honest_kind"].items():
                flagged[label][0] += hits
                flagged[label][1] += total
            for segment, (hits, total) in run.get("flagged_by_segment", {}).items():
                segments[segment][0] += hits
                segments[segment][1] += total
            counts = run["contact_counts"]
            contacts["accused"] += counts["accused"]
            contacts["accused_gaming"] += counts["accused_gaming"]
            for key in ("gaming", "caught", "honest_accused_by_fact"):
                contacts[key].update(counts[key])
            for label, (hits, total) in counts["caught_by_kind"].items():
                contacts["caught_by_kind"][label][0] += hits
                contacts["caught_by_kind"][label][1] += total
        aps = {
            kinds: [r["average_precision_by_kind_set"][kinds] for r in group]
            for kinds in GAMING_SIDES
        }
        summary[side] = {
            "seeds": sorted({int(r["seed"]) for r in group}),
            "runs": len(group),
            "average_precision": {
                kinds: round(sum(v) / len(v), 4)
                if (v := [a for a in values if a is not None])
                else None
                for kinds, values in aps.items()
            },
            "recall_by_kind": {
                kinds: {
                    label: round(hits / total, 4)
                    for label, (hits, total) in sorted(caught.items())
                    if kind_set(label) == kinds
                }
                for kinds in GAMING_SIDES
            },
            "caught_by_kind": dict(sorted(caught.items())),
            "flag_rate_by_honest_kind": {
                label: round(hits / total, 4) for label, (hits, total) in sorted(flagged.items())
            },
            "flagged_by_honest_kind": dict(sorted(flagged.items())),
            "flagged_by_segment": dict(sorted(segments.items())),
            "contacts": contact_figures(
                {
                    **contacts,
                    "honest_accused_by_fact": dict(contacts["honest_accused_by_fact"]),
                    "caught_by_kind": dict(sorted(contacts["caught_by_kind"].items())),
                }
            ),
        }
    return summary


def summary_table(summary: Mapping[str, Any]) -> str:
    """The summary as a plain-text table: one block per seed side, one line per kind."""
    lines: list[str] = []
    for side, s in summary.items():
        seeds = ", ".join(str(x) for x in s["seeds"])
        ap = s["average_precision"]
        lines.append(f"== {side} seeds ({seeds}; {s['runs']} runs) ==")
        lines.append(
            "employee AP: tuning kinds "
            + _fmt(ap["tuning"])
            + ", held-out kinds "
            + _fmt(ap["held_out"])
        )
        for kinds in GAMING_SIDES:
            lines.append(f"  recall, {kinds.replace('_', '-')} gaming kinds:")
            for label in s["recall_by_kind"][kinds]:
                hits, total = s["caught_by_kind"][label]
                lines.append(f"    {label:<28} {hits:>3}/{total:<3} {hits / total:6.2f}")
        lines.append("  flag rate, honest kinds:")
        for label, rate in s["flag_rate_by_honest_kind"].items():
            hits, total = s["flagged_by_honest_kind"][label]
            lines.append(f"    {label:<28} {hits:>3}/{total:<3} {rate:6.2f}")
        lines.append("  false-flag rate, honest employees by segment of work:")
        for segment, (hits, total) in s.get("flagged_by_segment", {}).items():
            lines.append(f"    {segment:<28} {hits:>3}/{total:<3} {hits / max(total, 1):6.3f}")
        c = s["contacts"]
        lines.append(
            f"  contacts: precision {c['precision']:.2f}, recall tuning "
            f"{c['recall']['tuning']:.2f} / held-out {c['recall']['held_out']:.2f}; "
            f"honest contacts accused {c['honest_accused']} "
            f"(by fact: {c['honest_accused_by_fact']})"
        )
        for label, (hits, total) in c["caught_by_kind"].items():
            recall = c["recall_by_kind"][label]
            lines.append(f"    contact recall, {label:<28} {hits:>5}/{total:<5} {recall:6.2f}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

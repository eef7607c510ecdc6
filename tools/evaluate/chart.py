"""The evaluation's picture: precision–recall curve of the anomaly score, and scores by label."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tools.simulator import is_gaming


def pr_curve(scores: list[float], positives: list[bool]) -> tuple[list[float], list[float]]:
    ranked = sorted(zip(scores, positives, strict=True), key=lambda x: -x[0])
    total = max(sum(positives), 1)
    precision, recall, hits = [], [], 0
    for rank, (_, p) in enumerate(ranked, start=1):
        hits += p
        precision.append(hits / rank)
        recall.append(hits / total)
    return recall, precision


def draw(runs: list[dict[str, Any]], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    by_label: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        employees = run["employees"]
        scores = [e.anomaly_score for e in employees.values()]
        positives = [is_gaming(e.label) for e in employees.values()]
        r, p = pr_curve(scores, positives)
        ax1.plot(r, p, label=f"seed {run['seed']} camouflage {run['camouflage']}")
        for e in employees.values():
            by_label[e.label].append(e.anomaly_score)
    ax1.set_xlabel("recall")
    ax1.set_ylabel("precision")
    ax1.set_title("Anomaly score: precision–recall over employees")
    ax1.set_ylim(0, 1.05)
    ax1.legend(fontsize=8)
    labels = sorted(by_label, key=lambda k: (not is_gaming(k), k))
    ax2.boxplot([by_label[k] for k in labels], vert=False)
    ax2.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax2.set_xlabel("anomaly score")
    ax2.set_title("Score by ground-truth label")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""`SCRIPTED_CHAT`: an employee's non-customer contacts who write like a script, not a person
(pure). Bought "real-person" adds greet at once and chat for weeks, so no silence or deletion
shows; what a seller cannot cheaply fake across dozens of accounts is the irregularity of real
people (`cadence.py`). Each contact is tested against the null model of human cadence; the
employee is judged on how many of their contacts fail it, against how many real contacts fail
it (`SCRIPTED_NULL_RATE`, measured on matched customers: docs/scoring.md, "Calibration"),
binomially. Once the pattern is shown, the contacts it accuses are chosen at a stated false
discovery rate among those tested (`accused_at`, Benjamini-Hochberg): a script run by one
operator is regular in every account, but a short chat shows it less clearly than a long one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.scorer.domain.cadence import ChatTrace, HumanCadence, judged_cadence
from services.scorer.domain.calibration import HUMAN_CADENCE, SCRIPTED_NULL_RATE
from services.scorer.domain.finding import Finding
from services.scorer.domain.surprise import binomial_surprise

SCRIPTED_LEVEL = 1e-3
"""A contact whose cadence a real person shows less than once in a thousand is scripted."""
MIN_SCRIPTED = 5
"""Fewer scripted contacts than this is not a pattern worth a reviewer's time."""
FALSE_DISCOVERY_RATE = 0.05
"""Of the contacts a shown pattern accuses, at most this share is expected to be real people
(more rarely still: the human null is a lower bound on real irregularity, so real people's
p-values sit above uniform)."""


def accused_at(ps: Sequence[tuple[str, float]], rate: float) -> list[str]:
    """Benjamini-Hochberg: the contacts with the k smallest p-values, k the largest rank whose
    p-value is at most rate · k / (contacts tested); in order of p."""
    ordered = sorted(ps, key=lambda t: (t[1], t[0]))
    m = len(ordered)
    k = max((i + 1 for i, (_, p) in enumerate(ordered) if p <= rate * (i + 1) / m), default=0)
    return [c for c, _ in ordered[:k]]


def scripted_chat(
    chats: Mapping[str, ChatTrace],
    tz: Any,
    human: HumanCadence = HUMAN_CADENCE,
    null_rate: float = SCRIPTED_NULL_RATE,
) -> Finding | None:
    """Of the non-customer contacts (`chats`: their traces, by contact) those with a testable
    cadence, how many are scripted, and how surprising that many is when each real contact is
    scripted with probability `null_rate` (measured: how often matched customers, people known
    to be real, fail the test)."""
    tested: list[tuple[str, float, dict[str, Any]]] = []
    for contact, trace in sorted(chats.items()):
        c, p = judged_cadence(trace, tz, human)
        if p is not None:
            tested.append((contact, p, c.evidence()))
    scripted = sorted((t for t in tested if t[1] < SCRIPTED_LEVEL), key=lambda t: (t[1], t[0]))
    if len(scripted) < MIN_SCRIPTED:
        return None
    surprise = binomial_surprise(len(scripted), len(tested), null_rate)
    discovered = accused_at([(c, p) for c, p, _ in tested], FALSE_DISCOVERY_RATE)
    accused = [c for c, _, _ in scripted] + sorted(set(discovered) - {c for c, _, _ in scripted})
    return Finding(
        surprise,
        {
            "scripted_contacts": len(scripted),
            "contacts_tested": len(tested),
            "expected_of_real_people": round(len(tested) * null_rate, 2),
            "human_reply_log_sd_at_least": human.latency_log_sd,
            "human_session_hour_sd_at_least": human.session_hour_sd,
            "examples": [
                {"external_userid": e, "p": float(f"{p:.1e}"), **ev} for e, p, ev in scripted[:5]
            ],
            "accused_contacts": len(accused),
            "accused_at_false_discovery_rate": FALSE_DISCOVERY_RATE,
            "surprise": round(surprise, 1),
        },
        accused,
    )

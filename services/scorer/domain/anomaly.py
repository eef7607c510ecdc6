"""Anomaly: how likely an employee's adds in a period are gamed, and why (PRODUCT.md).

A sum of capped signal contributions, so every point is explained by a reason code with
evidence a supervisor can check, plus the evidence in the employee's favour. Each signal asks
for volume AND low quality together: forty matched, replying customers scanning one QR code in
an hour is a successful branch event, not a burst of bought adds. Pure: the caller supplies the
verdicts, the shared-contact counts and the peers' medians."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.scorer.domain.validity import ContactVerdict

BURST_WINDOW = timedelta(hours=2)
# A signal at full strength is enough on its own to reach the default threshold (40): one
# pattern, clearly shown, deserves a reviewer's look; weaker evidence needs company.
CAPS = {
    "QR_BATCH_BURST": 60.0,
    "PEER_INSTITUTION": 60.0,
    "SHARED_CONTACTS": 60.0,
    "MUTUAL_ADD_RING": 60.0,
    "QUICK_DELETE": 50.0,
    "NO_ENGAGEMENT": 50.0,
    "PERIOD_END_PILEUP": 50.0,
}


@dataclass(frozen=True)
class PeerBaseline:
    """The same period's medians over all employees (robust to the gamers among them)."""

    median_first_adds: float = 0.0
    median_engagement: float | None = None


@dataclass
class AnomalyResult:
    score: float = 0.0
    reasons: list[dict[str, Any]] = field(default_factory=list)
    contact_flags: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, code: str, raw: float, evidence: dict[str, Any], contacts: Sequence[str]) -> None:
        contribution = round(min(CAPS[code], raw), 1)
        if contribution <= 0:
            return
        self.reasons.append({"code": code, "contribution": contribution, "evidence": evidence})
        for c in contacts:
            if code not in self.contact_flags[c]:
                self.contact_flags[c].append(code)


def _engaged(v: ContactVerdict, days: int = 7) -> bool:
    f = v.facts
    return f.first_customer_msg_at is not None and (
        f.first_customer_msg_at < f.first_added_at + timedelta(days=days)
    )


def _quality_of(verdicts: Sequence[ContactVerdict]) -> float:
    """How real a group of adds looks: a matched bank customer counts fully, a contact who
    holds a conversation (two or more messages) half; a single message, which bought accounts
    send to look alive, counts for nothing."""
    if not verdicts:
        return 0.0
    worth = sum(
        1.0 if v.facts.is_customer else 0.5 if v.facts.customer_msgs >= 2 else 0.0 for v in verdicts
    )
    return worth / len(verdicts)


def qr_batch_burst(verdicts: Sequence[ContactVerdict], result: AnomalyResult, tz: Any) -> None:
    by_state: dict[str, list[ContactVerdict]] = defaultdict(list)
    for v in verdicts:
        by_state[v.facts.state or f"add_way:{v.facts.add_way}"].append(v)
    worst: tuple[float, dict[str, Any], list[str]] | None = None
    for state, group in by_state.items():
        group.sort(key=lambda v: v.facts.first_added_at)
        start = 0
        for end in range(len(group)):
            while (
                group[end].facts.first_added_at - group[start].facts.first_added_at > BURST_WINDOW
            ):
                start += 1
            window = group[start : end + 1]
            if len(window) < 8:
                continue
            quality = _quality_of(window)
            raw = (len(window) - 6) * 3.0 * max(0.0, 1.0 - 2 * quality)
            off_hours = sum(
                1 for v in window if not 8 <= v.facts.first_added_at.astimezone(tz).hour < 20
            )
            raw *= 1.3 if off_hours > len(window) / 2 else 1.0
            if worst is None or raw > worst[0]:
                evidence = {
                    "state": state,
                    "adds": len(window),
                    "from": window[0].facts.first_added_at.isoformat(),
                    "to": window[-1].facts.first_added_at.isoformat(),
                    "matched_or_engaged_share": round(quality, 2),
                    "off_hours_adds": off_hours,
                }
                worst = (raw, evidence, [v.facts.external_userid for v in window])
    if worst is not None:
        result.add("QR_BATCH_BURST", worst[0], worst[1], worst[2])


def peer_institution(verdicts: Sequence[ContactVerdict], result: AnomalyResult) -> None:
    peers = [v for v in verdicts if "PEER_INSTITUTION" in v.reasons]
    if len(peers) >= 2:
        names = sorted({v.facts.corp_name or "own staff account" for v in peers})
        result.add(
            "PEER_INSTITUTION",
            12.0 * len(peers),
            {"contacts": len(peers), "corp_names": names[:10]},
            [v.facts.external_userid for v in peers],
        )


def shared_contacts(
    verdicts: Sequence[ContactVerdict], shared: dict[str, int], result: AnomalyResult
) -> None:
    """Non-customer contacts that employees of other teams also added."""
    hits = [
        v
        for v in verdicts
        if shared.get(v.facts.external_userid, 0) >= 2 and not v.facts.is_customer
    ]
    if len(hits) >= 3:
        share = len(hits) / max(len(verdicts), 1)
        result.add(
            "SHARED_CONTACTS",
            5.0 * len(hits) * (0.5 + share),
            {
                "contacts": len(hits),
                "share_of_adds": round(share, 2),
                "examples": sorted(v.facts.external_userid for v in hits)[:5],
                "max_other_employees": max(shared[v.facts.external_userid] for v in hits),
            },
            [v.facts.external_userid for v in hits],
        )


def mutual_add_ring(
    verdicts: Sequence[ContactVerdict], partners: dict[str, int], result: AnomalyResult
) -> None:
    """Several employees of other teams who each share three or more of this employee's
    contacts: a dense employee–contact block, which honest work rarely forms."""
    if len(partners) < 2:
        return
    strength = sum(min(n, 10) for n in partners.values())
    result.add(
        "MUTUAL_ADD_RING",
        12.0 * len(partners) + strength,
        {
            "partners": dict(sorted(partners.items(), key=lambda kv: -kv[1])[:10]),
            "shared_with_partners": sum(partners.values()),
        },
        [],
    )


def quick_delete(verdicts: Sequence[ContactVerdict], result: AnomalyResult) -> None:
    quick = [v for v in verdicts if v.removed_in_window is not None]
    readds = [v for v in verdicts if v.facts.add_count > 1]
    n = len(quick) + len(readds)
    share = n / max(len(verdicts), 1)
    if n >= 3 and share >= 0.15:
        result.add(
            "QUICK_DELETE",
            6.0 * n * min(1.0, 2 * share),
            {
                "removed_within_window": len(quick),
                "re_adds": len(readds),
                "share_of_adds": round(share, 2),
            },
            [v.facts.external_userid for v in quick + readds],
        )


def no_engagement(
    verdicts: Sequence[ContactVerdict],
    baseline: PeerBaseline,
    now: datetime,
    result: AnomalyResult,
) -> None:
    """Adds whose contact never wrote within the window, far above what the peers' silent
    share predicts for this many adds: the excess count is the evidence (a busy honest
    employee has many silent adds too, in the same proportion as everyone else)."""
    decided = [
        v for v in verdicts if _engaged(v) or now >= v.facts.first_added_at + timedelta(days=7)
    ]
    if len(decided) < 8:
        return
    silent = [v for v in decided if not _engaged(v)]
    share = len(silent) / len(decided)
    peer_share = 1 - baseline.median_engagement if baseline.median_engagement is not None else 0.5
    excess = len(silent) - len(decided) * peer_share
    if share >= peer_share + 0.2 and excess >= 10:
        result.add(
            "NO_ENGAGEMENT",
            excess,
            {
                "silent_adds": len(silent),
                "decided_adds": len(decided),
                "silent_share": round(share, 2),
                "peer_silent_share": round(peer_share, 2),
                "silent_adds_above_peers": round(excess, 1),
            },
            [v.facts.external_userid for v in silent if not v.facts.is_customer],
        )


@dataclass(frozen=True)
class PeriodTail:
    """The period's last working days, and the share of its working time they are."""

    start: datetime
    expected_share: float


def period_end_pileup(
    verdicts: Sequence[ContactVerdict],
    tail: PeriodTail,
    period_days: int,
    result: AnomalyResult,
) -> None:
    if period_days < 7 or len(verdicts) < 10:
        return
    expected = tail.expected_share
    late = [v for v in verdicts if v.facts.first_added_at >= tail.start]
    share = len(late) / len(verdicts)
    quality = _quality_of(late)
    if share >= max(0.4, 3 * expected) and len(late) >= 8 and quality < 0.4:
        result.add(
            "PERIOD_END_PILEUP",
            150.0 * (share - expected) * (1 - quality),
            {
                "adds_in_last_working_days": len(late),
                "share_of_period": round(share, 2),
                "expected_share": round(expected, 2),
                "tail_quality": round(quality, 2),
            },
            [v.facts.external_userid for v in late],
        )


def assess(
    verdicts: Sequence[ContactVerdict],
    shared: dict[str, int],
    baseline: PeerBaseline,
    period_end: datetime,
    period_days: int,
    now: datetime,
    tz: Any,
    partners: dict[str, int] | None = None,
    tail: PeriodTail | None = None,
) -> AnomalyResult:
    """`tail` defaults to the last three calendar days of a period ending at `period_end`."""
    result = AnomalyResult()
    tail = tail or PeriodTail(period_end - timedelta(days=3), 3 / max(period_days, 1))
    qr_batch_burst(verdicts, result, tz)
    peer_institution(verdicts, result)
    shared_contacts(verdicts, shared, result)
    mutual_add_ring(verdicts, partners or {}, result)
    quick_delete(verdicts, result)
    no_engagement(verdicts, baseline, now, result)
    period_end_pileup(verdicts, tail, period_days, result)
    result.reasons.sort(key=lambda r: -r["contribution"])
    result.score = round(min(100.0, sum(r["contribution"] for r in result.reasons)), 1)
    in_favour = {
        "adds": len(verdicts),
        "matched_customers": sum(1 for v in verdicts if v.facts.is_customer),
        "customers_who_wrote": sum(1 for v in verdicts if _engaged(v)),
    }
    for reason in result.reasons:
        reason["evidence"]["in_favour"] = in_favour
    return result

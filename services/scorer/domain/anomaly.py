"""Anomaly: how likely an employee's adds in a period are gamed, and why (docs/product.md).

A sum of capped signal contributions, so every point is explained by a reason code with
evidence a supervisor can check, plus the evidence in the employee's favour. Each signal asks
for volume AND low quality together: forty matched, replying customers scanning one QR code in
an hour is a successful branch event, not a burst of bought adds. Pure: the caller supplies the
verdicts, the shared-contact counts and the peers' medians."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.calibration import ACQUISITION_SILENCE
from services.scorer.domain.contact_flags import split
from services.scorer.domain.dense_block import MIN_DENSITY_RATIO, DenseBlock
from services.scorer.domain.excess import excess_accused, honest_count
from services.scorer.domain.finding import Finding
from services.scorer.domain.scripted import scripted_chat
from services.scorer.domain.segment import ACQUISITION, SegmentView, segment_of
from services.scorer.domain.surprise import (
    Spread,
    beta_binomial_surprise,
    median,
    negative_binomial_surprise,
)
from services.scorer.domain.validity import GAMED, GENUINE, STAFF_ACCOUNT, ContactVerdict
from services.scorer.domain.window_deletes import deleted_after_window

BURST_WINDOW = timedelta(hours=2)
BURST_MIN_ADDS = 8
WORKING_HOURS_PER_DAY = 9.0
MIN_EXCESS = 8.0
"""Fewer hollow adds than this above expectation is not worth a reviewer's time, however
improbable: every count signal asks for a surprising AND a material excess."""
POINTS_PER_SURPRISE = 40.0 / 3.0
"""Contribution per unit of surprise (-log10 p): a one-in-a-thousand excess (surprise 3) reaches
the default threshold (40) on its own, so each signal alone flags about one honest employee in
a thousand; weaker evidence needs company."""
MIN_SURPRISE = 1.5
COUNT_DISPERSION = 2.0
"""Negative-binomial size for an employee's daily counts (variance = mean + mean^2 / 2): people
have good and bad days, so a plain Poisson test would call every busy day a miracle."""
# A signal at full strength is enough on its own to reach the default threshold (40): one
# pattern, clearly shown, deserves a reviewer's look; weaker evidence needs company.
CAPS = {
    "QR_BATCH_BURST": 60.0,
    "PEER_INSTITUTION": 60.0,
    "STAFF_ACCOUNT": 60.0,
    "SHARED_CONTACTS": 60.0,
    "MUTUAL_ADD_RING": 60.0,
    "QUICK_DELETE": 50.0,
    "NO_ENGAGEMENT": 50.0,
    "PERIOD_END_PILEUP": 50.0,
    "SCRIPTED_CHAT": 60.0,
    "DELETED_AFTER_WINDOW": 50.0,
}


ENGAGEMENT_WINDOW = timedelta(days=7)
"""How long a contact has to engage after its add: an add still hollow once it has passed is
decided hollow, and a contact who wrote within it engaged."""
CONVERSATION_MESSAGES = 2
"""A contact who wrote this many messages holds a conversation; one message, which bought
accounts send to look alive, is not one."""
PRIOR_HOLLOW_SHARE = Spread(0.3, 0.12)
CAMPAIGN_MIN_QUALITY = 0.2
"""A campaign's burst below this quality (`_quality_of`: matched customers count fully,
conversations half) is judged like any other burst."""


@dataclass(frozen=True)
class PeerBaseline:
    """What the same period looks like over all employees, robustly (median / MAD, so the
    gamers among the peers do not move it). The defaults are a cautious prior for a bank whose
    peers are not known yet: hollow adds are common and vary a lot."""

    hollow_share: Spread = PRIOR_HOLLOW_SHARE
    """Share of an employee's decided adds that are hollow (see `is_hollow`)."""
    hollow_per_day: float = 1.0
    """Hollow adds per working day before the period's last working days."""
    tail_lift: float = 1.0
    """How much busier (adds per working day) the last working days are than the rest."""
    day_hollow_median: Mapping[date, float] = field(default_factory=dict)
    """Per local day, the median employee's hollow adds that day (days where it is above 0):
    on a bank-wide campaign day when most people's adds are hollow, one more is no surprise."""


@dataclass(frozen=True)
class EmployeeTally:
    """One employee's counts that the peer baseline is built from."""

    decided: int
    hollow: int
    early_adds: int
    early_hollow: int
    late_adds: int
    hollow_by_day: tuple[tuple[date, int], ...] = ()
    """Hollow adds per local day (days with none left out)."""


def tally(
    verdicts: Sequence[ContactVerdict], tail_start: datetime | None, now: datetime, tz: Any
) -> EmployeeTally:
    decided = [v for v in verdicts if _decided(v, now)]
    early = [v for v in verdicts if tail_start is None or v.facts.first_added_at < tail_start]
    return EmployeeTally(
        decided=len(decided),
        hollow=sum(1 for v in decided if is_hollow(v)),
        early_adds=len(early),
        early_hollow=sum(1 for v in early if is_hollow(v)),
        late_adds=len(verdicts) - len(early),
        hollow_by_day=tuple(
            sorted(
                Counter(
                    v.facts.first_added_at.astimezone(tz).date() for v in verdicts if is_hollow(v)
                ).items()
            )
        ),
    )


HollowDays = Mapping[date, Mapping[int, int]]
"""Per local day, how many employees had how many hollow adds that day (none: left out)."""


def hollow_days(tallies: Sequence[EmployeeTally]) -> dict[date, Counter[int]]:
    """The employees' hollow adds per day, counted over the employees (`HollowDays`)."""
    out: dict[date, Counter[int]] = defaultdict(Counter)
    for t in tallies:
        for d, n in t.hollow_by_day:
            out[d][n] += 1
    return dict(out)


def day_hollow_medians(days: HollowDays, employees: int) -> dict[date, float]:
    """The median employee's hollow adds per day (the `employees` without any that day count
    as zeros), where above zero: a median over people, so one gamer's burst moves no day."""
    out: dict[date, float] = {}
    for d, counts in sorted(days.items()):
        m = _median_of_counts(counts, employees)
        if m > 0:
            out[d] = m
    return out


def _median_of_counts(counts: Mapping[int, int], size: int) -> float:
    """`statistics.median` of `size` values given as value → how many, zeros filling up."""
    zeros = size - sum(n for value, n in counts.items() if value)
    if zeros < 0:
        raise ValueError(f"{size - zeros} employees with hollow adds on a day, {size} in all")
    ordered = sorted({**counts, 0: zeros}.items())

    def at(i: int) -> int:
        for value, n in ordered:
            if i < n:
                return value
            i -= n
        raise IndexError(i)

    if size % 2:
        return float(at(size // 2))
    return (at(size // 2 - 1) + at(size // 2)) / 2


def peer_baseline(
    tallies: Sequence[EmployeeTally],
    early_days: int,
    tail_days: int,
    known: PeerBaseline,
    days: HollowDays | None = None,
) -> PeerBaseline:
    """The peer baseline from every employee's tally (those with enough adds to say something)
    and their hollow adds per day (`days`, or each tally's `hollow_by_day`)."""
    shares = [t.hollow / t.decided for t in tallies if t.decided >= 20]
    busy = [t for t in tallies if t.early_adds >= 10]
    if len(shares) < 5 or len(busy) < 5 or early_days <= 0:
        return known
    spread = Spread.of(shares)
    # the peers' spread holds each one's sampling noise too; what is left is how much people
    # really differ (method of moments), which is what one employee is judged against
    noise = median(
        [
            t.hollow / t.decided * (1 - t.hollow / t.decided) / t.decided
            for t in tallies
            if t.decided >= 20
        ]
    )
    between = max(spread.sd**2 - noise, 0.03**2) ** 0.5
    lifts = [(t.late_adds / max(tail_days, 1)) / (t.early_adds / early_days) for t in busy]
    return replace(
        known,
        hollow_share=Spread(spread.centre, between, spread.peers),
        hollow_per_day=median([t.early_hollow / early_days for t in busy]),
        tail_lift=median(lifts),
        day_hollow_median=day_hollow_medians(
            hollow_days(tallies) if days is None else days, len(tallies)
        ),
    )


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


def _engaged(v: ContactVerdict) -> bool:
    f = v.facts
    return f.first_customer_msg_at is not None and (
        f.first_customer_msg_at < f.first_added_at + ENGAGEMENT_WINDOW
    )


def is_hollow(v: ContactVerdict) -> bool:
    """An add with nothing real behind it: not a matched bank customer, and no conversation
    (a single message, which bought accounts send to look alive, is not one). A reviewer's
    verdict decides it: `gamed` is hollow, `genuine` is not."""
    if v.facts.review is not None:
        return v.facts.review == GAMED
    return not v.facts.is_customer and v.facts.customer_msgs < CONVERSATION_MESSAGES


def _decided(v: ContactVerdict, now: datetime) -> bool:
    """Whether an add's engagement is known: it is real already, or its window has passed."""
    return not is_hollow(v) or now >= v.facts.first_added_at + ENGAGEMENT_WINDOW


def _quality_of(verdicts: Sequence[ContactVerdict]) -> float:
    """How real a group of adds looks: a matched bank customer counts fully, a contact who
    holds a conversation (two or more messages) half; a single message, which bought accounts
    send to look alive, counts for nothing."""
    if not verdicts:
        return 0.0
    worth = sum(
        1.0
        if v.facts.is_customer
        else 0.5
        if v.facts.customer_msgs >= CONVERSATION_MESSAGES
        else 0.0
        for v in verdicts
    )
    return worth / len(verdicts)


def _points(surprise: float) -> float:
    return POINTS_PER_SURPRISE * surprise if surprise >= MIN_SURPRISE else 0.0


def _bursts(group: Sequence[ContactVerdict]) -> list[list[ContactVerdict]]:
    """Disjoint runs of at least BURST_MIN_ADDS adds within BURST_WINDOW, earliest first."""
    out: list[list[ContactVerdict]] = []
    start = 0
    while start < len(group):
        end = start
        while (
            end + 1 < len(group)
            and group[end + 1].facts.first_added_at - group[start].facts.first_added_at
            <= BURST_WINDOW
        ):
            end += 1
        if end - start + 1 >= BURST_MIN_ADDS:
            out.append(list(group[start : end + 1]))
            start = end + 1
        else:
            start += 1
    return out


def channel_of(v: ContactVerdict) -> str:
    """The channel a QR burst is counted in: the add's channel state, else its add way."""
    return v.facts.state or f"add_way:{v.facts.add_way}"


def known_campaign(burst: Sequence[ContactVerdict]) -> bool:
    """Most of the burst came through a campaign ops registered (its channel state, the team,
    the time) and its quality is not low: context, not an anomaly."""
    through = sum(1 for v in burst if v.facts.campaign is not None)
    return 2 * through > len(burst) and _quality_of(burst) >= CAMPAIGN_MIN_QUALITY


def qr_batch_burst(
    verdicts: Sequence[ContactVerdict],
    baseline: PeerBaseline,
    working_days: float,
    result: AnomalyResult,
    tz: Any,
) -> None:
    """Bursts through one channel (QR `state`, else `add_way`) whose hollow adds are far more
    than the employee's own hollow rate, or the peers' if higher, puts in that many two-hour
    windows (negative binomial). A branch event's burst is matched customers who chat: the
    burst is there, the hollow excess is not."""
    by_state: dict[str, list[ContactVerdict]] = defaultdict(list)
    for v in verdicts:
        by_state[channel_of(v)].append(v)
    bursts: list[tuple[str, list[ContactVerdict]]] = []
    for state, group in sorted(by_state.items()):
        group.sort(key=lambda v: (v.facts.first_added_at, v.facts.external_userid))
        bursts += [(state, b) for b in _bursts(group) if not known_campaign(b)]
    if not bursts:
        return
    in_bursts = {v.facts.external_userid for _, b in bursts for v in b}
    own_rate = sum(
        1 for v in verdicts if is_hollow(v) and v.facts.external_userid not in in_bursts
    ) / max(working_days, 1.0)
    per_window = max(own_rate, baseline.hollow_per_day) * (
        BURST_WINDOW.total_seconds() / 3600 / WORKING_HOURS_PER_DAY
    )
    above = baseline.hollow_share.centre + 2 * baseline.hollow_share.sd
    suspicious = [
        (state, b, h)
        for state, b in bursts
        if len(h := [v for v in b if is_hollow(v)]) / len(b) > above
    ]
    hollow = sum(len(h) for _, _, h in suspicious)

    def peers_that_day(b: Sequence[ContactVerdict]) -> float:
        return baseline.day_hollow_median.get(b[0].facts.first_added_at.astimezone(tz).date(), 0.0)

    expected = sum(max(per_window, peers_that_day(b)) for _, b, _ in suspicious)
    if hollow - expected < MIN_EXCESS:
        return
    surprise = negative_binomial_surprise(hollow, expected, COUNT_DISPERSION)
    off_hours = sum(
        1
        for _, b, _ in suspicious
        for v in b
        if not 8 <= v.facts.first_added_at.astimezone(tz).hour < 20
    )
    adds = sum(len(b) for _, b, _ in suspicious)
    raw = _points(surprise) * (1.3 if off_hours > adds / 2 else 1.0)
    result.add(
        "QR_BATCH_BURST",
        raw,
        {
            "bursts": [
                {
                    "state": state,
                    "adds": len(b),
                    "hollow_adds": len(h),
                    "from": b[0].facts.first_added_at.isoformat(),
                    "to": b[-1].facts.first_added_at.isoformat(),
                    "peer_median_hollow_adds_that_day": peers_that_day(b),
                }
                for state, b, h in sorted(suspicious, key=lambda x: -len(x[2]))[:5]
            ],
            "hollow_adds_in_bursts": hollow,
            "expected_hollow_adds": round(expected, 1),
            "peer_hollow_share": round(baseline.hollow_share.centre, 2),
            "off_hours_adds": off_hours,
            "surprise": round(surprise, 1),
        },
        [v.facts.external_userid for _, _, h in suspicious for v in h],
    )


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


def staff_accounts(verdicts: Sequence[ContactVerdict], result: AnomalyResult) -> None:
    """Adds of employees' own personal WeChat accounts (HR's staff_account records): never
    valid, and shown as evidence even alone (one is worth a look, not a flag)."""
    hits = [v for v in verdicts if v.has(STAFF_ACCOUNT)]
    if hits:
        owners = sorted({v.facts.staff_account_of or "" for v in hits})
        result.add(
            "STAFF_ACCOUNT",
            15.0 * len(hits),
            {
                "contacts": len(hits),
                "examples": sorted(v.facts.external_userid for v in hits)[:5],
                "accounts_of_employees": owners[:10],
                "own_account": any(v.facts.staff_account_of == v.facts.employee_id for v in hits),
            },
            [v.facts.external_userid for v in hits],
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


def add_suspicion(is_customer: bool | None, customer_msgs: int) -> float:
    """How suspicious one add looks on its own, as the dense-block pass weighs its edge: a
    hollow add fully, a non-customer who holds a conversation half, a matched customer little."""
    if is_customer:
        return 0.1
    return 0.5 if customer_msgs >= CONVERSATION_MESSAGES else 1.0


def mutual_add_ring(
    verdicts: Sequence[ContactVerdict],
    shared: dict[str, int],
    partners: dict[str, int],
    block: DenseBlock | None,
    result: AnomalyResult,
) -> None:
    """Several employees of other teams who each share three or more of this employee's
    contacts (streaming counts), and the dense employee–contact block the periodic FRAUDAR
    pass found this employee in: structures honest work rarely forms."""
    raw = 0.0
    evidence: dict[str, Any] = {}
    if len(partners) >= 2:
        raw += 12.0 * len(partners) + sum(min(n, 10) for n in partners.values())
        evidence["partners"] = dict(sorted(partners.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        evidence["shared_with_partners"] = sum(partners.values())
    mine: list[str] = []
    if len(partners) >= 2:
        # the ring's own evidence: the non-customers it shares with employees of other teams
        mine = sorted(
            v.facts.external_userid
            for v in verdicts
            if shared.get(v.facts.external_userid, 0) >= 1 and not v.facts.is_customer
        )
    if block is not None:
        rank = block.contact_rank
        own = {v.facts.external_userid for v in verdicts}
        in_block = sorted((c for c in own if c in rank), key=rank.__getitem__)
        mine = in_block + sorted(set(mine) - set(in_block))
        raw += 40.0 * block.ratio / MIN_DENSITY_RATIO
        employee = verdicts[0].facts.employee_id if verdicts else None
        evidence["dense_block"] = {
            # the first 20 others, not a scan of the block (thousands of employees in a
            # large block, for each of them: quadratic)
            "other_employees": list(islice((e for e in block.employees if e != employee), 20)),
            "block_contacts": len(block.contacts),
            "own_contacts_in_block": len(in_block),
            "examples": in_block[:5],
            "density": round(block.density, 2),
            "densest_honest_shape": round(block.star_bound, 2),
        }
    if raw > 0:
        result.add("MUTUAL_ADD_RING", raw, evidence, mine)


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
    segment: SegmentView,
) -> None:
    """Hollow adds (neither a matched customer nor a conversation) far above the share the
    peers have, judged beta-binomially with the peers' own spread: a busy honest employee has
    many hollow adds too, in about the same proportion as everyone else. In acquisition, where
    most adds are not customers by the nature of the work, `acquisition_silence` instead."""
    decided: list[ContactVerdict] = []
    hollow: list[ContactVerdict] = []
    for v in verdicts:
        if not is_hollow(v):
            decided.append(v)
        elif now >= v.facts.first_added_at + ENGAGEMENT_WINDOW:  # `_decided`, in one pass
            decided.append(v)
            hollow.append(v)
    if len(decided) < BURST_MIN_ADDS:
        return
    if segment.segment == ACQUISITION:
        acquisition_silence(verdicts, segment, now, result)
        return
    peers = baseline.hollow_share
    expected = len(decided) * peers.centre
    if len(hollow) - expected < MIN_EXCESS:
        return
    surprise = beta_binomial_surprise(len(hollow), len(decided), peers)
    untouched = [v for v in hollow if v.facts.customer_msgs == 0 and v.facts.one_to_one_msgs == 0]
    excess_share = (len(hollow) - expected) / len(hollow)
    # the real adds measure the honest work: it brings peers.centre hollow adds in all its adds
    honest = honest_count(len(decided) - len(hollow), peers.centre)
    unexplained, accused = excess_accused(hollow, honest, lambda v: _accused(v, result))
    result.add(
        "NO_ENGAGEMENT",
        _points(surprise),
        {
            "hollow_adds": len(hollow),
            "silent_adds": sum(1 for v in decided if not _engaged(v)),
            "decided_adds": len(decided),
            "hollow_share": round(len(hollow) / len(decided), 2),
            "peer_hollow_share": round(peers.centre, 2),
            "peer_hollow_share_sd": round(peers.sd, 2),
            "hollow_adds_above_peers": round(len(hollow) - expected, 1),
            "never_interacted": len(untouched),
            "share_of_hollow_adds_above_peers": round(excess_share, 2),
            "hollow_adds_other_signals_accuse": len(hollow) - len(unexplained),
            "hollow_adds_own_real_adds_predict": round(honest, 1),
            "accused_adds": len(accused),
            "surprise": round(surprise, 1),
        },
        [v.facts.external_userid for v in accused],
    )


def _accused(v: ContactVerdict, result: AnomalyResult) -> bool:
    """Whether another signal already accuses this add (a customer's own delete accuses
    nobody: `contact_flags.split`)."""
    flags = result.contact_flags.get(v.facts.external_userid, [])
    return bool(flags and split(v, flags, employee_flagged=True)[0])


def is_silent(v: ContactVerdict) -> bool:
    """The contact never wrote (a reviewer's verdict decides it, as for `is_hollow`)."""
    if v.facts.review is not None:
        return v.facts.review == GAMED
    return v.facts.customer_msgs == 0


def acquisition_silence(
    verdicts: Sequence[ContactVerdict],
    segment: SegmentView,
    now: datetime,
    result: AnomalyResult,
) -> None:
    """`NO_ENGAGEMENT` in acquisition: contacts who never wrote a word, far above the share
    acquisition work has (the calibrated null, beta-binomial). Whether a contact is a bank
    customer yet is not counted: a prospect who answers is the work, not a hollow add."""
    decided = [v for v in verdicts if not is_silent(v) or _decided_silence(v, now)]
    silent = [v for v in decided if is_silent(v)]
    null = ACQUISITION_SILENCE
    expected = len(decided) * null.centre
    if len(silent) - expected < MIN_EXCESS:
        return
    surprise = beta_binomial_surprise(len(silent), len(decided), null)
    honest = honest_count(len(decided) - len(silent), null.centre)
    unexplained, accused = excess_accused(silent, honest, lambda v: _accused(v, result))
    result.add(
        "NO_ENGAGEMENT",
        _points(surprise),
        {
            "segment": segment.segment,
            "silent_adds": len(silent),
            "decided_adds": len(decided),
            "silent_share": round(len(silent) / len(decided), 2),
            "segment_silent_share": round(null.centre, 2),
            "segment_silent_share_sd": round(null.sd, 2),
            "silent_adds_above_segment": round(len(silent) - expected, 1),
            "silent_adds_other_signals_accuse": len(silent) - len(unexplained),
            "silent_adds_own_answered_adds_predict": round(honest, 1),
            "accused_adds": len(accused),
            "surprise": round(surprise, 1),
        },
        [v.facts.external_userid for v in accused],
    )


def _decided_silence(v: ContactVerdict, now: datetime) -> bool:
    return now >= v.facts.first_added_at + ENGAGEMENT_WINDOW


@dataclass(frozen=True)
class PeriodTail:
    """The period's last working days, and the share of its working time they are."""

    start: datetime
    expected_share: float
    days: int = 3
    early_days: int = 0
    """Working days before `start` already worked (all of them once the tail has begun)."""
    elapsed_days: float | None = None
    """Working days of the period worked so far; None: all of them."""

    @property
    def worked_days(self) -> float:
        return self.early_days + self.days if self.elapsed_days is None else self.elapsed_days


def effective_tail(tail: PeriodTail | None, period_end: datetime, period_days: int) -> PeriodTail:
    """The tail `assess` judges: the one given, else the period's last three calendar days."""
    return tail or PeriodTail(
        period_end - timedelta(days=3), 3 / max(period_days, 1), 3, max(period_days - 3, 0)
    )


def pileup_from(
    tail: PeriodTail | None, week: PeriodTail | None, period_end: datetime, period_days: int
) -> datetime:
    """The earliest add `period_end_pileup` may count as piled up at the period's end."""
    start = effective_tail(tail, period_end, period_days).start
    return start if week is None else min(start, week.start)


def period_end_pileup(
    verdicts: Sequence[ContactVerdict],
    tail: PeriodTail,
    baseline: PeerBaseline,
    result: AnomalyResult,
    week: PeriodTail | None = None,
) -> None:
    """Hollow adds in the last working days far above the employee's own hollow rate before
    them (or the peers' typical rate, when higher: a new hire has no history), scaled by how
    much busier everyone's last days are (negative binomial). A team's busy month end brings
    real customers: more adds, not more hollow ones. Judged over the last three working days
    and, when given, over the last working `week` (a pile-up spread thin over a week so that no
    three days stand out); the more surprising of the two counts."""
    found = [f for t in (tail, week) if t is not None and (f := _pileup(verdicts, t, baseline))]
    if found:
        best = max(found, key=lambda f: f.surprise)
        result.add("PERIOD_END_PILEUP", _points(best.surprise), best.evidence, best.contacts)


def _pileup(
    verdicts: Sequence[ContactVerdict], tail: PeriodTail, baseline: PeerBaseline
) -> Finding | None:
    if tail.early_days < 3:
        return None
    late = [v for v in verdicts if v.facts.first_added_at >= tail.start]
    hollow = [v for v in late if is_hollow(v)]
    early_hollow = sum(1 for v in verdicts if v.facts.first_added_at < tail.start and is_hollow(v))
    own_rate = early_hollow / tail.early_days
    lift = max(1.0, baseline.tail_lift)
    expected = max(own_rate, baseline.hollow_per_day) * tail.days * lift
    if len(hollow) - expected < MIN_EXCESS:
        return None
    surprise = negative_binomial_surprise(len(hollow), expected, COUNT_DISPERSION)
    return Finding(
        surprise,
        {
            "last_working_days": tail.days,
            "adds_in_last_working_days": len(late),
            "hollow_adds_in_last_working_days": len(hollow),
            "share_of_period": round(len(late) / max(len(verdicts), 1), 2),
            "own_hollow_adds_per_day_before": round(own_rate, 2),
            "peer_hollow_adds_per_day": round(baseline.hollow_per_day, 2),
            "peer_month_end_lift": round(baseline.tail_lift, 2),
            "expected_hollow_adds": round(expected, 1),
            "tail_quality": round(_quality_of(late), 2),
            "surprise": round(surprise, 1),
        },
        [v.facts.external_userid for v in hollow],
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
    block: DenseBlock | None = None,
    chats: Mapping[str, ChatTrace] | None = None,
    stated_segment: str | None = None,
    retention: timedelta = timedelta(days=7),
    week: PeriodTail | None = None,
) -> AnomalyResult:
    """`block` is the dense block the employee is in, if any; `tail` defaults to the last
    three calendar days of a period ending at `period_end`; `chats` are the one-to-one
    messages of the employee's contacts (by contact), `stated_segment` the segment of the
    employee record, if any; `week` the period's last working week (`period_end_pileup`)."""
    result = AnomalyResult()
    chats = chats or {}
    segment = segment_of(verdicts, chats, stated_segment)
    tail = effective_tail(tail, period_end, period_days)
    qr_batch_burst(verdicts, baseline, tail.worked_days, result, tz)
    peer_institution(verdicts, result)
    staff_accounts(verdicts, result)
    shared_contacts(verdicts, shared, result)
    mutual_add_ring(verdicts, shared, partners or {}, block, result)
    quick_delete(verdicts, result)
    for code, found in (
        ("SCRIPTED_CHAT", scripted_chat(verdicts, chats, tz)),
        ("DELETED_AFTER_WINDOW", deleted_after_window(verdicts, retention)),
    ):
        if found is not None:
            result.add(code, _points(found.surprise), found.evidence, found.contacts)
    if period_days >= 7 and len(verdicts) >= 10:
        period_end_pileup(verdicts, tail, baseline, result, week)
    # last: the hollow adds it accuses are those no other signal has accused already
    no_engagement(verdicts, baseline, now, result, segment)
    result.reasons.sort(key=lambda r: -r["contribution"])
    result.score = round(min(100.0, sum(r["contribution"] for r in result.reasons)), 1)
    in_favour: dict[str, Any] = {
        "adds": len(verdicts),
        "matched_customers": sum(1 for v in verdicts if v.facts.is_customer),
        "customers_who_wrote": sum(1 for v in verdicts if _engaged(v)),
        "conversations": sum(1 for v in verdicts if v.facts.customer_msgs >= CONVERSATION_MESSAGES),
        "segment": segment.evidence(),
    }
    campaigns = Counter(v.facts.campaign for v in verdicts if v.facts.campaign is not None)
    if campaigns:
        in_favour["campaign_adds"] = dict(sorted(campaigns.items()))
    genuine = sum(1 for v in verdicts if v.facts.review == GENUINE)
    if genuine:
        in_favour["reviewed_genuine"] = genuine
    for reason in result.reasons:
        reason["evidence"]["in_favour"] = in_favour
    return result

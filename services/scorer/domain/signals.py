"""The anomaly signals judged on an employee's features (pure): how many points each is worth
and the counts that show why, from the adds counted by ten minutes, channel and campaign
(domain/features.py) and what is known beside them (the contacts shared with other teams, the
dense block, the scripted chats, the segment of work).

Each signal asks for volume AND low quality together: forty matched, replying customers
scanning one QR code in an hour is a successful branch event, not a burst of bought adds. What
a signal found names the adds it accuses (`Fired.accuses`); which contacts those are, and the
evidence that names them, is `anomaly.explain`'s, from the relations themselves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.scorer.domain.baseline import PeerBaseline, PeriodTail
from services.scorer.domain.calibration import ACQUISITION_SILENCE, AFTER_WINDOW_DELETE_RATE
from services.scorer.domain.dense_block import MIN_DENSITY_RATIO, DenseBlock
from services.scorer.domain.excess import honest_count
from services.scorer.domain.features import (
    SPAN,
    Bucket,
    Features,
    channel_of,
    is_hollow,
    span_of,
)
from services.scorer.domain.finding import Finding
from services.scorer.domain.segment import ACQUISITION, SegmentView
from services.scorer.domain.surprise import (
    beta_binomial_surprise,
    binomial_surprise,
    negative_binomial_surprise,
)
from services.scorer.domain.validity import ContactVerdict
from services.scorer.domain.window_deletes import AFTER_WINDOW, MIN_DELETES, removed_just_after

BURST_WINDOW = timedelta(hours=2)
"""A burst is judged from one of its channel's buckets to the bucket this long after it, both
included: every add within this long of the first is in, and at most ten minutes more."""
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
CAMPAIGN_MIN_QUALITY = 0.2
"""A campaign's burst below this quality (`quality_of`: matched customers count fully,
conversations half) is judged like any other burst."""
QUICK_MIN = 3
QUICK_MIN_SHARE = 0.15
"""`QUICK_DELETE` asks for this many quick deletes and re-adds, and this share of the adds."""
PILEUP_MIN_DAYS = 7
PILEUP_MIN_ADDS = 10
"""A pile-up is judged in periods this long with this many adds."""
WORKING_HOURS = (8, 20)
"""Local hours [from, to) of the working day: a burst mostly outside them weighs more."""

Accuses = Callable[[ContactVerdict], bool]


def _nobody(_: ContactVerdict) -> bool:
    return False


@dataclass(frozen=True)
class Fired:
    """What one signal found: its raw points (capped when added), the counts that show it,
    and which adds it accuses."""

    code: str
    raw: float
    evidence: dict[str, Any]
    accuses: Accuses = _nobody


@dataclass(frozen=True)
class Context:
    """What an employee's features are judged against."""

    employee_id: str
    baseline: PeerBaseline
    now: datetime
    tz: Any
    period_days: int
    tail: PeriodTail
    week: PeriodTail | None
    segment: SegmentView
    retention: timedelta = timedelta(days=7)
    shared: Mapping[str, int] = field(default_factory=dict)
    """The employee's contacts in the period that employees of other teams also added, and how
    many of them: only those who are not matched customers (the others accuse nobody)."""
    partners: Mapping[str, int] = field(default_factory=dict)
    block: DenseBlock | None = None


def points(surprise: float) -> float:
    return POINTS_PER_SURPRISE * surprise if surprise >= MIN_SURPRISE else 0.0


def quality_of(customers: int, talkers: int, adds: int) -> float:
    """How real a group of adds looks: a matched bank customer counts fully, another contact
    who holds a conversation (two or more messages) half; a single message, which bought
    accounts send to look alive, counts for nothing."""
    return (customers + 0.5 * talkers) / adds if adds else 0.0


@dataclass(frozen=True)
class Burst:
    """The buckets of a channel from one to the one BURST_WINDOW on, with BURST_MIN_ADDS adds or
    more."""

    channel: str
    buckets: tuple[Bucket, ...]
    adds: int
    hollow: int
    campaign_adds: int
    quality: float

    @property
    def start(self) -> datetime:
        return self.buckets[0].start

    @property
    def end(self) -> datetime:
        return self.buckets[-1].start + SPAN

    @classmethod
    def of(cls, features: Features, channel: str, keys: tuple[Bucket, ...]) -> Burst:
        """The burst of these buckets of a channel."""
        adds = features.total("adds", keys)
        return cls(
            channel,
            keys,
            adds,
            features.total("hollow", keys),
            sum(features.buckets[b][0] for b in keys if b.campaign is not None),
            quality_of(features.total("customers", keys), features.total("talkers", keys), adds),
        )

    def known_campaign(self) -> bool:
        """Most of the burst came through a campaign ops registered (its channel state, the
        team, the time) and its quality is not low: context, not an anomaly."""
        return 2 * self.campaign_adds > self.adds and self.quality >= CAMPAIGN_MIN_QUALITY


def _order(b: Bucket) -> tuple[datetime, str]:
    return b.start, b.campaign or ""


def bursts(features: Features) -> list[Burst]:
    """Per channel, disjoint runs of at least BURST_MIN_ADDS adds from one bucket to the one
    BURST_WINDOW on (both included), earliest first (channels in order)."""
    by_channel: dict[str, list[Bucket]] = {}
    added: dict[str, int] = {}
    for b, counts in features.buckets.items():
        of = by_channel.get(b.channel)
        if of is None:
            of = by_channel[b.channel] = []
            added[b.channel] = 0
        of.append(b)
        added[b.channel] += counts[0]  # adds: FIELDS' first
    out: list[Burst] = []
    for channel in sorted(by_channel):
        if added[channel] < BURST_MIN_ADDS:
            continue  # no run of the channel can hold enough (a close judges 100,000 of them)
        spans = sorted(by_channel[channel], key=_order)
        counts_at = [features.buckets[b][0] for b in spans]
        # the window spans[first:end] holds `adds`, from the first bucket of a start
        first = end = adds = 0
        while first < len(spans):
            until = spans[first].start + BURST_WINDOW
            while end < len(spans) and spans[end].start <= until:
                adds += counts_at[end]
                end += 1
            if adds < BURST_MIN_ADDS:
                begun = spans[first].start
                while first < end and spans[first].start == begun:  # the next start's window
                    adds -= counts_at[first]
                    first += 1
                continue
            out.append(Burst.of(features, channel, tuple(spans[first:end])))
            first, adds = end, 0
    return out


def went_on(features: Features, burst: Burst, taken: set[datetime]) -> tuple[Bucket, ...]:
    """The buckets of the burst's channel that follow its last one with no quiet ten minutes
    between (a bucket of the channel starting where the one before it ends): the burst going
    on past the window it was judged in. It stops before a bucket in `taken` (the start of
    another burst of the channel, judged on its own)."""
    by_start: dict[datetime, list[Bucket]] = defaultdict(list)
    for b in features.buckets:
        if b.channel == burst.channel and b.start >= burst.end:
            by_start[b.start].append(b)
    out: list[Bucket] = []
    at = burst.end
    while at in by_start and at not in taken:
        out.extend(sorted(by_start[at], key=_order))
        at += SPAN
    return tuple(out)


def off_hours(at: datetime, tz: Any) -> bool:
    start, end = WORKING_HOURS
    return not start <= at.astimezone(tz).hour < end


def qr_batch_burst(features: Features, ctx: Context) -> Fired | None:
    """Bursts through one channel (QR `state`, else `add_way`) whose hollow adds are far more
    than the employee's own hollow rate, or the peers' if higher, puts in that many two-hour
    windows (negative binomial; a burst spans two hours and at most ten minutes more,
    `bursts`). A branch event's burst is matched customers who chat: the burst is there, the
    hollow excess is not. A suspicious burst accuses its hollow adds, and those of its channel
    as it went on past its window (`went_on`)."""
    every = bursts(features)
    found = [b for b in every if not b.known_campaign()]
    if not found:
        return None
    baseline = ctx.baseline
    outside = features.total("hollow") - sum(b.hollow for b in found)
    own_rate = outside / max(ctx.tail.worked_days, 1.0)
    per_window = max(own_rate, baseline.hollow_per_day) * (
        BURST_WINDOW.total_seconds() / 3600 / WORKING_HOURS_PER_DAY
    )
    above = baseline.hollow_share.centre + 2 * baseline.hollow_share.sd
    suspicious = [b for b in found if b.hollow / b.adds > above]
    hollow = sum(b.hollow for b in suspicious)

    def peers_that_day(b: Burst) -> float:
        return baseline.day_hollow_median.get(b.start.astimezone(ctx.tz).date(), 0.0)

    expected = sum(max(per_window, peers_that_day(b)) for b in suspicious)
    if hollow - expected < MIN_EXCESS:
        return None
    surprise = negative_binomial_surprise(hollow, expected, COUNT_DISPERSION)
    late = sum(
        features.total("adds", (k,))
        for b in suspicious
        for k in b.buckets
        if off_hours(k.start, ctx.tz)
    )
    adds = sum(b.adds for b in suspicious)
    starts = {(b.channel, b.start) for b in every}  # a known campaign's too: not going on
    after = {b: went_on(features, b, {s for c, s in starts if c == b.channel}) for b in suspicious}
    where = {(k.start, k.channel) for b in suspicious for k in (*b.buckets, *after[b])}
    tz = ctx.tz

    def accuses(v: ContactVerdict) -> bool:
        f = v.facts
        return is_hollow(v) and (span_of(f.first_added_at, tz), channel_of(v)) in where

    return Fired(
        "QR_BATCH_BURST",
        points(surprise) * (1.3 if late > adds / 2 else 1.0),
        {
            "bursts": [
                {
                    "state": b.channel,
                    "adds": b.adds,
                    "hollow_adds": b.hollow,
                    "from": b.start.isoformat(),
                    "to": b.end.isoformat(),
                    "peer_median_hollow_adds_that_day": peers_that_day(b),
                    **_went_on_evidence(features, after[b]),
                }
                for b in sorted(suspicious, key=lambda b: -b.hollow)[:5]
            ],
            "hollow_adds_in_bursts": hollow,
            "hollow_adds_as_bursts_went_on": sum(
                features.total("hollow", trail) for trail in after.values()
            ),
            "expected_hollow_adds": round(expected, 1),
            "peer_hollow_share": round(baseline.hollow_share.centre, 2),
            "off_hours_adds": late,
            "surprise": round(surprise, 1),
        },
        accuses,
    )


def _went_on_evidence(features: Features, trail: Sequence[Bucket]) -> dict[str, Any]:
    """How far a burst went on past its window, and its hollow adds there (accused with it,
    not counted in its surprise): nothing when it stopped."""
    if not trail:
        return {}
    return {
        "went_on_to": (trail[-1].start + SPAN).isoformat(),
        "hollow_adds_as_it_went_on": features.total("hollow", trail),
    }


def peer_institution(features: Features) -> Fired | None:
    n = features.total("peer")
    if n < 2:
        return None
    return Fired("PEER_INSTITUTION", 12.0 * n, {"contacts": n}, _is("PEER_INSTITUTION"))


def staff_accounts(features: Features) -> Fired | None:
    """Adds of employees' own personal WeChat accounts (HR's staff_account records): never
    valid, and shown as evidence even alone (one is worth a look, not a flag)."""
    n = features.total("staff")
    if not n:
        return None
    return Fired("STAFF_ACCOUNT", 15.0 * n, {"contacts": n}, _is("staff_account"))


def _is(reason: str) -> Accuses:
    def accuses(v: ContactVerdict) -> bool:
        return v.has(reason)

    return accuses


def shared_contacts(features: Features, ctx: Context) -> Fired | None:
    """Non-customer contacts that employees of other teams also added."""
    hits = sorted(c for c, n in ctx.shared.items() if n >= 2)
    if len(hits) < 3:
        return None
    share = len(hits) / max(features.total("adds"), 1)
    accused = frozenset(hits)
    return Fired(
        "SHARED_CONTACTS",
        5.0 * len(hits) * (0.5 + share),
        {
            "contacts": len(hits),
            "share_of_adds": round(share, 2),
            "examples": hits[:5],
            "max_other_employees": max(ctx.shared[c] for c in hits),
        },
        lambda v: v.facts.external_userid in accused,
    )


def mutual_add_ring(ctx: Context) -> Fired | None:
    """Several employees of other teams who each share three or more of this employee's
    contacts (streaming counts), and the dense employee–contact block the periodic FRAUDAR
    pass found this employee in: structures honest work rarely forms. The ring accuses the
    non-customers it shares with employees of other teams, the employee's contacts in the
    block, and its hollow adds that another of the block's employees also added hollow beyond
    the block's core (`DenseBlock.shared`: the ring's pool, in the team or across teams)."""
    raw = 0.0
    evidence: dict[str, Any] = {}
    partners, block = ctx.partners, ctx.block
    ring: frozenset[str] = frozenset()
    if len(partners) >= 2:
        raw += 12.0 * len(partners) + sum(min(n, 10) for n in partners.values())
        evidence["partners"] = dict(sorted(partners.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        evidence["shared_with_partners"] = sum(partners.values())
        ring = frozenset(c for c, n in ctx.shared.items() if n >= 1)
    rank: Mapping[str, int] = {}
    beyond: frozenset[str] = frozenset()
    if block is not None:
        rank = block.contact_rank
        beyond = frozenset(block.shared)
        raw += 40.0 * block.ratio / MIN_DENSITY_RATIO
        evidence["dense_block"] = {
            # the first 20 others, not a scan of the block (thousands of employees in a
            # large block, for each of them: quadratic)
            "other_employees": [e for e in block.employees if e != ctx.employee_id][:20],
            "block_contacts": len(block.contacts),
            "density": round(block.density, 2),
            "densest_honest_shape": round(block.star_bound, 2),
            "shared_hollow_beyond_block": len(block.shared),
        }
    if raw <= 0:
        return None

    def accuses(v: ContactVerdict) -> bool:
        c = v.facts.external_userid
        return c in ring or c in rank or (c in beyond and is_hollow(v))

    return Fired("MUTUAL_ADD_RING", raw, evidence, accuses)


def quick_delete(features: Features) -> Fired | None:
    quick, readds = features.total("quick"), features.total("re_added")
    n = quick + readds
    share = n / max(features.total("adds"), 1)
    if n < QUICK_MIN or share < QUICK_MIN_SHARE:
        return None
    return Fired(
        "QUICK_DELETE",
        6.0 * n * min(1.0, 2 * share),
        {"removed_within_window": quick, "re_adds": readds, "share_of_adds": round(share, 2)},
        lambda v: v.removed_in_window is not None or v.facts.add_count > 1,
    )


def scripted(found: Finding | None) -> Fired | None:
    """`SCRIPTED_CHAT`, as domain/scripted.py found it from the talkers' chats."""
    if found is None:
        return None
    accused = frozenset(found.contacts)
    return Fired(
        "SCRIPTED_CHAT",
        points(found.surprise),
        found.evidence,
        lambda v: v.facts.external_userid in accused,
    )


def deleted_after_window(features: Features, ctx: Context) -> Fired | None:
    """Adds the employee removed just after the retention window ended, judged against the
    employee's own removals elsewhere, or a cautious prior rate when that is lower (binomial):
    domain/window_deletes.py."""
    hits = features.total("after_window")
    if hits < MIN_DELETES:
        return None
    adds = features.total("adds")
    elsewhere = features.total("employee_removed") - hits
    # the employee's own removal rate, spread over the time an add can be removed in the
    # period (about a month), per span as long as the one judged
    own = elsewhere / max(adds, 1) * (AFTER_WINDOW / timedelta(days=30))
    rate = max(own, AFTER_WINDOW_DELETE_RATE)
    surprise = binomial_surprise(hits, adds, rate)
    retention = ctx.retention
    return Fired(
        "DELETED_AFTER_WINDOW",
        points(surprise),
        {
            "removed_just_after_window": hits,
            "adds": adds,
            "retention_window_days": retention / timedelta(days=1),
            "other_removals_by_employee": elsewhere,
            "expected": round(rate * adds, 2),
            "surprise": round(surprise, 1),
        },
        lambda v: removed_just_after(v, retention) is not None,
    )


def period_end_pileup(features: Features, ctx: Context) -> Fired | None:
    """Hollow adds in the last working days far above the employee's own hollow rate before
    them (or the peers' typical rate, when higher: a new hire has no history), scaled by how
    much busier everyone's last days are (negative binomial). A team's busy month end brings
    real customers: more adds, not more hollow ones. Judged over the last three working days
    and, when given, over the last working `week` (a pile-up spread thin over a week so that no
    three days stand out); the more surprising of the two counts."""
    if ctx.period_days < PILEUP_MIN_DAYS or features.total("adds") < PILEUP_MIN_ADDS:
        return None
    found = [f for t in (ctx.tail, ctx.week) if t is not None and (f := _pileup(features, t, ctx))]
    if not found:
        return None
    return max(found, key=lambda f: f.raw)


def _pileup(features: Features, tail: PeriodTail, ctx: Context) -> Fired | None:
    if tail.early_days < 3:
        return None
    late = features.since("adds", tail.start)
    hollow = features.since("hollow", tail.start)
    early_hollow = features.total("hollow") - hollow
    baseline = ctx.baseline
    own_rate = early_hollow / tail.early_days
    lift = max(1.0, baseline.tail_lift)
    expected = max(own_rate, baseline.hollow_per_day) * tail.days * lift
    if hollow - expected < MIN_EXCESS:
        return None
    surprise = negative_binomial_surprise(hollow, expected, COUNT_DISPERSION)
    start = tail.start
    return Fired(
        "PERIOD_END_PILEUP",
        points(surprise),
        {
            "last_working_days": tail.days,
            "from": start.isoformat(),
            "adds_in_last_working_days": late,
            "hollow_adds_in_last_working_days": hollow,
            "share_of_period": round(late / max(features.total("adds"), 1), 2),
            "own_hollow_adds_per_day_before": round(own_rate, 2),
            "peer_hollow_adds_per_day": round(baseline.hollow_per_day, 2),
            "peer_month_end_lift": round(baseline.tail_lift, 2),
            "expected_hollow_adds": round(expected, 1),
            "tail_quality": round(
                quality_of(
                    features.since("customers", start), features.since("talkers", start), late
                ),
                2,
            ),
            "surprise": round(surprise, 1),
        },
        lambda v: is_hollow(v) and v.facts.first_added_at >= start,
    )


def no_engagement(features: Features, ctx: Context) -> Fired | None:
    """Hollow adds (neither a matched customer nor a conversation) far above the share the
    peers have, judged beta-binomially with the peers' own spread: a busy honest employee has
    many hollow adds too, in about the same proportion as everyone else. In acquisition, where
    most adds are not customers by the nature of the work, `acquisition_silence` instead. Which
    of the hollow adds it accuses is `anomaly.explain`'s (domain/excess.py)."""
    now = ctx.now
    hollow = features.decided("hollow", now)
    decided = features.total("adds") - features.total("hollow") + hollow
    if decided < BURST_MIN_ADDS:
        return None
    if ctx.segment.segment == ACQUISITION:
        return acquisition_silence(features, ctx)
    peers = ctx.baseline.hollow_share
    expected = decided * peers.centre
    if hollow - expected < MIN_EXCESS:
        return None
    surprise = beta_binomial_surprise(hollow, decided, peers)
    engaged = (
        features.total("engaged")
        - features.total("hollow_engaged")
        + features.decided("hollow_engaged", now)
    )
    return Fired(
        "NO_ENGAGEMENT",
        points(surprise),
        {
            "hollow_adds": hollow,
            "silent_adds": decided - engaged,
            "decided_adds": decided,
            "hollow_share": round(hollow / decided, 2),
            "peer_hollow_share": round(peers.centre, 2),
            "peer_hollow_share_sd": round(peers.sd, 2),
            "hollow_adds_above_peers": round(hollow - expected, 1),
            "share_of_hollow_adds_above_peers": round((hollow - expected) / hollow, 2),
            "hollow_adds_own_real_adds_predict": round(
                honest_count(decided - hollow, peers.centre), 1
            ),
            "surprise": round(surprise, 1),
        },
    )


def acquisition_silence(features: Features, ctx: Context) -> Fired | None:
    """`NO_ENGAGEMENT` in acquisition: contacts who never wrote a word, far above the share
    acquisition work has (the calibrated null, beta-binomial). Whether a contact is a bank
    customer yet is not counted: a prospect who answers is the work, not a hollow add."""
    silent = features.decided("silent", ctx.now)
    decided = features.total("adds") - features.total("silent") + silent
    null = ACQUISITION_SILENCE
    expected = decided * null.centre
    if silent - expected < MIN_EXCESS:
        return None
    surprise = beta_binomial_surprise(silent, decided, null)
    return Fired(
        "NO_ENGAGEMENT",
        points(surprise),
        {
            "segment": ctx.segment.segment,
            "silent_adds": silent,
            "decided_adds": decided,
            "silent_share": round(silent / decided, 2),
            "segment_silent_share": round(null.centre, 2),
            "segment_silent_share_sd": round(null.sd, 2),
            "silent_adds_above_segment": round(silent - expected, 1),
            "silent_adds_own_answered_adds_predict": round(
                honest_count(decided - silent, null.centre), 1
            ),
            "surprise": round(surprise, 1),
        },
    )


def judge(features: Features, ctx: Context, found_scripted: Finding | None) -> list[Fired]:
    """Every signal that fired, in the order their contacts are accused (`NO_ENGAGEMENT`
    last: it accuses only the hollow adds no other signal accuses)."""
    found = [
        qr_batch_burst(features, ctx),
        peer_institution(features),
        staff_accounts(features),
        shared_contacts(features, ctx),
        mutual_add_ring(ctx),
        quick_delete(features),
        scripted(found_scripted),
        deleted_after_window(features, ctx),
        period_end_pileup(features, ctx),
        no_engagement(features, ctx),
    ]
    return [f for f in found if f is not None]


def in_favour(features: Features, segment: SegmentView) -> dict[str, Any]:
    """The evidence in the employee's favour, shown with every reason."""
    out: dict[str, Any] = {
        "adds": features.total("adds"),
        "matched_customers": features.total("customers"),
        "customers_who_wrote": features.total("engaged"),
        "conversations": features.total("conversations"),
        "segment": segment.evidence(),
    }
    campaigns = features.by_campaign()
    if campaigns:
        out["campaign_adds"] = campaigns
    genuine = features.total("genuine")
    if genuine:
        out["reviewed_genuine"] = genuine
    return out

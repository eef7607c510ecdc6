"""Anomaly: how likely an employee's adds in a period are gamed, and why (docs/product.md).

A sum of capped signal contributions, so every point is explained by a reason code with
evidence a supervisor can check, plus the evidence in the employee's favour. The signals are
judged on the employee's features, the adds counted by ten minutes, channel and campaign
(domain/features.py, domain/signals.py); which contacts each accuses, and the evidence that
names them, come from the relations themselves (`explain`). Pure: the caller supplies the
verdicts (or the features), the shared-contact counts and the peers' baseline."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.scorer.domain.baseline import (
    PRIOR_HOLLOW_SHARE,
    EmployeeTally,
    HollowDays,
    PeerBaseline,
    PeriodTail,
    day_hollow_medians,
    effective_tail,
    hollow_days,
    peer_baseline,
    tally,
)
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.calibration import (
    ACQUISITION_SILENCE,
    NON_CUSTOMERS,
    UNTOUCHED_CUSTOMERS,
)
from services.scorer.domain.contact_flags import split
from services.scorer.domain.dense_block import HOLLOW, DenseBlock
from services.scorer.domain.excess import excess_accused, excess_in_parts, honest_count
from services.scorer.domain.features import (
    CONVERSATION_MESSAGES,
    ENGAGEMENT_WINDOW,
    SPAN,
    Features,
    channel_of,
    features_of,
    is_hollow,
    is_silent,
    span_of,
)
from services.scorer.domain.scripted import MIN_SCRIPTED, scripted_chat
from services.scorer.domain.segment import (
    ACQUISITION,
    MIN_ADDS,
    MOST,
    SEGMENTS,
    SERVICING,
    SegmentView,
    segment_of,
)
from services.scorer.domain.signals import (
    BURST_MIN_ADDS,
    BURST_WINDOW,
    MIN_EXCESS,
    Context,
    Fired,
    in_favour,
    judge,
)
from services.scorer.domain.validity import GAMED, ContactVerdict
from services.scorer.domain.window_deletes import removed_just_after

__all__ = [
    "BURST_MIN_ADDS",
    "BURST_WINDOW",
    "CONVERSATION_MESSAGES",
    "ENGAGEMENT_WINDOW",
    "MIN_EXCESS",
    "PRIOR_HOLLOW_SHARE",
    "AnomalyResult",
    "EmployeeTally",
    "HollowDays",
    "PeerBaseline",
    "PeriodTail",
    "add_suspicion",
    "assess",
    "channel_of",
    "day_hollow_medians",
    "effective_tail",
    "explain",
    "from_features",
    "hollow_days",
    "is_hollow",
    "is_silent",
    "peer_baseline",
    "tally",
]

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


def add_suspicion(is_customer: bool | None, customer_msgs: int) -> float:
    """How suspicious one add looks on its own, as the dense-block pass weighs its edge: a
    hollow add fully, a non-customer who holds a conversation half, a matched customer little."""
    if is_customer:
        return 0.1
    return 0.5 if customer_msgs >= CONVERSATION_MESSAGES else HOLLOW


def explain(
    fired: Sequence[Fired],
    verdicts: Sequence[ContactVerdict],
    ctx: Context,
    favour: dict[str, Any],
) -> AnomalyResult:
    """The score and reasons of what the signals found, each reason's evidence completed from
    the relations (examples, names) and the contacts it accuses flagged: `verdicts` must hold
    at least the adds some signal accuses."""
    result = AnomalyResult()
    silence = [f for f in fired if f.code == "NO_ENGAGEMENT"]
    for f in [f for f in fired if f.code != "NO_ENGAGEMENT"]:
        evidence = dict(f.evidence)
        accused = [v for v in verdicts if f.accuses(v)]
        _name(f.code, accused, ctx, evidence)
        result.add(f.code, f.raw, evidence, [v.facts.external_userid for v in accused])
    # the sessions and the days of a signal reach from the contacts it accuses itself, not
    # from those the other of the two rules adds to it
    own = {
        code: [v for v in verdicts if code in result.contact_flags.get(v.facts.external_userid, ())]
        for code in IN_ITS_SESSIONS
    }
    _in_its_sessions(verdicts, own, ctx, result)
    _on_its_days(verdicts, own, ctx, result)
    _untouched_in_pileup(verdicts, ctx, result)
    for f in silence:  # last: it accuses only what no other signal accounts for
        evidence = dict(f.evidence)
        accused = _excess(evidence, verdicts, ctx, result)
        result.add(f.code, f.raw, evidence, [v.facts.external_userid for v in accused])
    result.reasons.sort(key=lambda r: -r["contribution"])
    result.score = round(min(100.0, sum(r["contribution"] for r in result.reasons)), 1)
    for reason in result.reasons:
        reason["evidence"]["in_favour"] = favour
    return result


def _name(
    code: str, accused: Sequence[ContactVerdict], ctx: Context, evidence: dict[str, Any]
) -> None:
    """Complete the evidence of a reason that names its contacts."""
    if code == "PEER_INSTITUTION":
        names = sorted({v.facts.corp_name or "own staff account" for v in accused})
        evidence["corp_names"] = names[:10]
    elif code == "STAFF_ACCOUNT":
        evidence |= {
            "examples": sorted(v.facts.external_userid for v in accused)[:5],
            "accounts_of_employees": sorted({v.facts.staff_account_of or "" for v in accused})[:10],
            "own_account": any(v.facts.staff_account_of == v.facts.employee_id for v in accused),
        }
    elif code == "DELETED_AFTER_WINDOW":
        hits = sorted(
            ((v, r) for v in accused if (r := removed_just_after(v, ctx.retention)) is not None),
            key=lambda vr: (vr[1].removed_at, vr[0].facts.external_userid),
        )
        delays = sorted(
            (r.removed_at - v.facts.first_added_at - ctx.retention).total_seconds() / 3600
            for v, r in hits
        )
        evidence["hours_after_window_median"] = round(delays[len(delays) // 2], 1)
        evidence["examples"] = [v.facts.external_userid for v, _ in hits[:5]]
    elif code == "MUTUAL_ADD_RING" and ctx.block is not None:
        rank = ctx.block.contact_rank
        in_block = sorted(
            (v.facts.external_userid for v in accused if v.facts.external_userid in rank),
            key=rank.__getitem__,
        )
        shared = frozenset(ctx.block.shared)
        beyond = sorted(
            c for v in accused if (c := v.facts.external_userid) not in rank and c in shared
        )
        evidence["dense_block"] = {
            **evidence["dense_block"],
            "own_contacts_in_block": len(in_block),
            "examples": in_block[:5],
            "own_hollow_adds_shared_beyond_block": len(beyond),
            "examples_beyond_block": beyond[:5],
        }


ON_ITS_DAYS = ("PEER_INSTITUTION", "STAFF_ACCOUNT", "SCRIPTED_CHAT")
"""Signals that accuse a contact for what it is or how it writes, not for when it was added:
the days their contacts were added on are the pattern's days, and its other hollow adds there,
beyond what that honest work brings, are the pattern's too (`_on_its_days`)."""
IN_ITS_SESSIONS = (*ON_ITS_DAYS, "MUTUAL_ADD_RING")
"""The signals whose sessions and days are judged (`_in_its_sessions`, `_on_its_days`): a
ring's only with its dense block, when its relations are read."""


def _on_its_days(
    verdicts: Sequence[ContactVerdict],
    own: Mapping[str, Sequence[ContactVerdict]],
    ctx: Context,
    result: AnomalyResult,
) -> None:
    """The hollow (silent, in acquisition) adds no signal accuses, made on the local days the
    contacts of a signal of ON_ITS_DAYS (or of a ring with its dense block) were added:
    accused with it when they are, together, four in five and materially (MIN_EXCESS) above
    what those days' real adds predict at the peers' hollow share (domain/excess.py; the
    signal's own contacts are not real work). A padder or a buyer works in sessions: the
    accounts a profile or a script gives away come with others that are only hollow. The days
    and counts go to the reason's evidence."""
    acquisition = ctx.segment.segment == ACQUISITION
    hollow = is_silent if acquisition else is_hollow
    share = ACQUISITION_SILENCE.centre if acquisition else ctx.baseline.hollow_share.centre
    noun = "silent" if acquisition else "hollow"

    def day_of(v: ContactVerdict) -> date:
        return v.facts.first_added_at.astimezone(ctx.tz).date()

    for code in IN_ITS_SESSIONS:
        reason = next((r for r in result.reasons if r["code"] == code), None)
        if reason is None or (code == "MUTUAL_ADD_RING" and ctx.block is None):
            continue
        days = {day_of(v) for v in own[code]}
        on_days = [v for v in verdicts if day_of(v) in days and not _accused(v, result)]
        unexplained = [v for v in on_days if hollow(v) and decided_by(v, ctx)]
        real = [v for v in on_days if not hollow(v)]
        parts = excess_in_parts(unexplained, real, _one_part, share, MIN_EXCESS)
        found = parts.get(True)
        if found is None:
            continue
        reason["evidence"]["accused_on_its_days"] = {
            "days": sorted(d.isoformat() for d in days),
            f"unexplained_{noun}_adds": len(found.unexplained),
            "real_adds": found.real_adds,
            f"{noun}_adds_real_adds_predict": round(found.predicted, 1),
        }
        for v in found.unexplained:
            result.contact_flags[v.facts.external_userid].append(code)


MIN_UNTOUCHED = 3
"""Untouched customers in a pile-up's span are accused only this many at the least above what
the employee's touched customers there predict: fewer is no pattern a reviewer can check."""


def is_untouched(v: ContactVerdict) -> bool:
    """A matched customer to whom no one-to-one message went either way: the employee sent no
    greeting, the customer never wrote (mass sends do not count). A reviewer's verdict decides
    it, as for `is_hollow`: a reviewed add is never untouched (gamed is hollow already)."""
    f = v.facts
    return (
        f.review is None and bool(f.is_customer) and f.customer_msgs == 0 and f.one_to_one_msgs == 0
    )


def _untouched_in_pileup(
    verdicts: Sequence[ContactVerdict], ctx: Context, result: AnomalyResult
) -> None:
    """A pile-up's matched customers whom nobody wrote to or heard from, in the span it judged:
    accused with it when they are four in five, and at least MIN_UNTOUCHED, above what the
    span's touched customers predict at the employee's own untouched share before the span (or
    honest work's, `UNTOUCHED_CUSTOMERS`, when higher): domain/excess.py. An honest employee
    greets nearly every customer they add; a pile-up of bought or listed accounts that happen to
    be bank customers is not greeted. The counts go to the pile-up's evidence."""
    reason = next((r for r in result.reasons if r["code"] == "PERIOD_END_PILEUP"), None)
    if reason is None:
        return
    start = datetime.fromisoformat(reason["evidence"]["from"])
    customers = [
        v for v in verdicts if v.facts.is_customer and v.facts.review is None and decided_by(v, ctx)
    ]
    before = [v for v in customers if v.facts.first_added_at < start]
    inside = [v for v in customers if v.facts.first_added_at >= start and not _accused(v, result)]
    own = sum(1 for v in before if is_untouched(v)) / len(before) if before else 0.0
    share = max(own, UNTOUCHED_CUSTOMERS.centre + UNTOUCHED_CUSTOMERS.sd)
    untouched = [v for v in inside if is_untouched(v)]
    touched = [v for v in inside if not is_untouched(v)]
    found = excess_in_parts(untouched, touched, _one_part, share, MIN_UNTOUCHED).get(True)
    if found is None:
        return
    reason["evidence"]["untouched_customers"] = {
        "accused": len(found.unexplained),
        "touched_customers": found.real_adds,
        "untouched_share": round(share, 3),
        "untouched_customers_touched_ones_predict": round(found.predicted, 1),
        "examples": sorted(v.facts.external_userid for v in found.unexplained)[:5],
    }
    for v in found.unexplained:
        result.contact_flags[v.facts.external_userid].append("PERIOD_END_PILEUP")


SESSION_REACH = timedelta(hours=1)
"""An add this close to one a signal accuses for what it is (or a ring's) is in its session."""
MIN_IN_SESSION = 3
"""Adds in a pattern's sessions are accused only this many at the least above what honest work
there predicts: fewer is no pattern a reviewer can check."""


def _in_its_sessions(
    verdicts: Sequence[ContactVerdict],
    own: Mapping[str, Sequence[ContactVerdict]],
    ctx: Context,
    result: AnomalyResult,
) -> None:
    """The adds that are not matched customers (in acquisition: that never wrote), that no
    signal accuses, made within SESSION_REACH of an add a signal of IN_ITS_SESSIONS accuses, or
    through the channel code (QR `state`) one of them came through between the first and last
    local day it did: accused with the signal when they are, together, four in five and at
    least MIN_IN_SESSION above what the matched customers (answered contacts) of the same
    reach predict at honest work's non-customer share plus its spread (`NON_CUSTOMERS`; in
    acquisition its silence, `ACQUISITION_SILENCE`). A padder or a seller's accounts come in
    sessions and through a code made for them; the accounts a profile, HR's records or a script
    give away come with others that chat (a colleague answers, a bought account greets) but are
    no customers either. A ring's reach is read only with its dense block (its relations are
    read). The reach and counts go to the reason's evidence (`accused_in_its_sessions`)."""
    acquisition = ctx.segment.segment == ACQUISITION
    if acquisition:
        share = ACQUISITION_SILENCE.centre + ACQUISITION_SILENCE.sd

        def candidate(v: ContactVerdict) -> bool:  # a matched customer is never one
            return is_silent(v) and not v.facts.is_customer

        def real(v: ContactVerdict) -> bool:
            return not is_silent(v)
    else:
        share = NON_CUSTOMERS.centre + NON_CUSTOMERS.sd

        def candidate(v: ContactVerdict) -> bool:
            return not v.facts.is_customer and (v.facts.review is None or v.facts.review == GAMED)

        def real(v: ContactVerdict) -> bool:
            return bool(v.facts.is_customer)

    for code in IN_ITS_SESSIONS:
        reason = next((r for r in result.reasons if r["code"] == code), None)
        if reason is None or (code == "MUTUAL_ADD_RING" and ctx.block is None):
            continue
        if not own[code]:
            continue
        in_reach, channels = _session_reach(own[code], ctx.tz)
        reach = [
            v for v in verdicts if in_reach(v) and not _accused(v, result) and decided_by(v, ctx)
        ]
        unexplained = [v for v in reach if candidate(v)]
        answered = [v for v in reach if real(v)]
        found = excess_in_parts(unexplained, answered, _one_part, share, MIN_IN_SESSION).get(True)
        if found is None:
            continue
        noun = "silent" if acquisition else "noncustomer"
        real_noun = "answered" if acquisition else "customer"
        reason["evidence"]["accused_in_its_sessions"] = {
            "minutes_from_its_adds": int(SESSION_REACH.total_seconds() // 60),
            "channels": channels[:5],
            f"unexplained_{noun}_adds": len(found.unexplained),
            f"{real_noun}_adds": found.real_adds,
            f"{noun}_adds_{real_noun}_adds_predict": round(found.predicted, 1),
            "examples": sorted(v.facts.external_userid for v in found.unexplained)[:5],
        }
        for v in found.unexplained:
            result.contact_flags[v.facts.external_userid].append(code)


def _session_reach(
    own: Sequence[ContactVerdict], tz: Any
) -> tuple[Callable[[ContactVerdict], bool], list[str]]:
    """Whether an add is in the sessions of `own` (within SESSION_REACH of one of them, or
    through one of their channel codes between the first and last local day it brought one of
    them), and those channel codes."""
    times = sorted(v.facts.first_added_at for v in own)
    channels: dict[str, tuple[date, date]] = {}
    for v in own:
        if v.facts.state:
            day = v.facts.first_added_at.astimezone(tz).date()
            first, last = channels.get(v.facts.state, (day, day))
            channels[v.facts.state] = (min(first, day), max(last, day))

    def in_reach(v: ContactVerdict) -> bool:
        at = v.facts.first_added_at
        k = bisect_left(times, at - SESSION_REACH)
        if k < len(times) and times[k] <= at + SESSION_REACH:
            return True
        days = channels.get(v.facts.state or "")
        return days is not None and days[0] <= at.astimezone(tz).date() <= days[1]

    return in_reach, sorted(channels)


def _one_part(_: ContactVerdict) -> bool:
    """The pattern's days judged together, as one part."""
    return True


def _excess(
    evidence: dict[str, Any],
    verdicts: Sequence[ContactVerdict],
    ctx: Context,
    result: AnomalyResult,
) -> list[ContactVerdict]:
    """`NO_ENGAGEMENT`'s accused adds: of its decided hollow (silent, in acquisition) adds,
    those no other signal accuses, when enough of them are above what the employee's own real
    adds predict (domain/excess.py); their count goes to the evidence."""
    acquisition = ctx.segment.segment == ACQUISITION
    hollow = is_silent if acquisition else is_hollow
    share = ACQUISITION_SILENCE.centre if acquisition else ctx.baseline.hollow_share.centre
    candidates = [v for v in verdicts if hollow(v) and decided_by(v, ctx)]
    decided = evidence["decided_adds"]
    honest = honest_count(decided - len(candidates), share)
    unexplained, accused = excess_accused(candidates, honest, lambda v: _accused(v, result))
    if not acquisition:
        evidence["never_interacted"] = sum(
            1 for v in candidates if v.facts.customer_msgs == 0 and v.facts.one_to_one_msgs == 0
        )
    noun = "silent" if acquisition else "hollow"
    if not accused:
        accused = _weeks(evidence, noun, unexplained, [v for v in verdicts if not hollow(v)], ctx)
    evidence[f"{noun}_adds_other_signals_accuse"] = len(candidates) - len(unexplained)
    evidence["accused_adds"] = len(accused)
    return accused


def _weeks(
    evidence: dict[str, Any],
    noun: str,
    unexplained: Sequence[ContactVerdict],
    real: Sequence[ContactVerdict],
    ctx: Context,
) -> list[ContactVerdict]:
    """The unexplained adds of the weeks that are an excess on their own (domain/excess.py),
    when the period as a whole is not; the weeks go to the evidence."""
    share = ACQUISITION_SILENCE.centre if noun == "silent" else ctx.baseline.hollow_share.centre

    def week_of(v: ContactVerdict) -> date:
        day = v.facts.first_added_at.astimezone(ctx.tz).date()
        return day - timedelta(days=day.weekday())

    weeks = excess_in_parts(unexplained, real, week_of, share, MIN_EXCESS)
    if weeks:
        real_noun = "answered" if noun == "silent" else "real"
        evidence["accused_weeks"] = [
            {
                "week_of": week.isoformat(),
                f"unexplained_{noun}_adds": len(part.unexplained),
                f"{real_noun}_adds": part.real_adds,
                f"{noun}_adds_{real_noun}_adds_predict": round(part.predicted, 1),
            }
            for week, part in sorted(weeks.items())
        ]
    return [v for part in weeks.values() for v in part.unexplained]


def decided_by(v: ContactVerdict, ctx: Context) -> bool:
    """Whether the add's engagement is decided at `ctx.now`, as its features count it."""
    return ctx.now >= span_of(v.facts.first_added_at, ctx.tz) + SPAN + ENGAGEMENT_WINDOW


def _accused(v: ContactVerdict, result: AnomalyResult) -> bool:
    """Whether another signal already accuses this add (a customer's own delete accuses
    nobody: `contact_flags.split`)."""
    flags = result.contact_flags.get(v.facts.external_userid, [])
    return bool(flags and split(v, flags, employee_flagged=True)[0])


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
    employee_id: str | None = None,
) -> AnomalyResult:
    """An employee's anomaly in a period from its judged relations. `block` is the dense block
    the employee is in, if any; `tail` defaults to the last three calendar days of a period
    ending at `period_end`; `chats` are the one-to-one messages of the employee's contacts (by
    contact), `stated_segment` the segment of the employee record, if any; `week` the period's
    last working week (`signals.period_end_pileup`)."""
    chats = chats or {}
    features = features_of(verdicts, tz, retention)
    others = {v.facts.external_userid for v in verdicts if not v.facts.is_customer}
    ctx = Context(
        employee_id or (verdicts[0].facts.employee_id if verdicts else ""),
        baseline,
        now,
        tz,
        period_days,
        effective_tail(tail, period_end, period_days),
        week,
        segment_of(verdicts, chats, stated_segment),
        retention,
        {c: n for c, n in shared.items() if c in others},
        partners or {},
        block,
    )
    talking = {c: t for c, t in chats.items() if c in others}
    fired = judge(features, ctx, scripted_chat(talking, tz))
    return explain(fired, verdicts, ctx, in_favour(features, ctx.segment))


NAMED = frozenset(
    {
        "PEER_INSTITUTION",
        "STAFF_ACCOUNT",
        "DELETED_AFTER_WINDOW",
        "NO_ENGAGEMENT",
        *ON_ITS_DAYS,
    }
)
"""Signals whose evidence names contacts (examples, names, delays, which hollow adds are
accused, the adds of their days), read from the relations; `MUTUAL_ADD_RING` too, with a dense
block."""
NO_FEATURES = Features({})


def _may_accuse_customers(features: Features, pileup: Mapping[str, Any]) -> bool:
    """Whether a pile-up's span holds enough matched customers for some to be accused as
    untouched (`_untouched_in_pileup`): then its evidence needs the relations."""
    start = datetime.fromisoformat(pileup["from"])
    return features.since("customers", start) >= MIN_UNTOUCHED


def from_features(
    features: Features,
    employee_id: str,
    shared: Mapping[str, int],
    partners: Mapping[str, int],
    block: DenseBlock | None,
    baseline: PeerBaseline,
    period_end: datetime,
    period_days: int,
    now: datetime,
    tz: Any,
    tail: PeriodTail | None,
    week: PeriodTail | None,
    stated_segment: str | None,
    retention: timedelta,
    talkers: Mapping[str, ChatTrace],
    campaigns: bool = False,
) -> AnomalyResult | None:
    """An employee's anomaly from its kept features alone: the score and reasons `assess`
    gives from its relations, as long as the features are theirs (the verifier checks that);
    no contact is flagged (the contacts endpoint assesses the relations). None when the
    relations are needed:
    - a campaign of its team may hold some of its adds (`campaigns`: the kept features leave
      campaigns out);
    - the employee may be inferred to be in acquisition (that needs its chats' exchanges);
    - three or more of its contacts were added by two or more employees of other teams (which
      of them are customers decides `SHARED_CONTACTS`);
    - a signal fired whose evidence names contacts (`NAMED`, or a ring with a dense block), or
      the segment's evidence in the employee's favour needs the exchanges.
    `talkers` are the chats of its non-customer contacts who wrote twice or more (what
    `SCRIPTED_CHAT` is judged on), needed only with MIN_SCRIPTED of them."""
    if campaigns:
        return None
    adds = features.total("adds")
    noncustomers, writers = features.total("noncustomers"), features.total("writers")
    stated = stated_segment in SEGMENTS
    if (
        not stated
        and adds >= MIN_ADDS
        and noncustomers > MOST * adds
        and writers > MOST * noncustomers
    ):
        return None
    if sum(1 for n in shared.values() if n >= 2) >= 3:
        return None
    if stated:
        segment = SegmentView(str(stated_segment), True, adds)
    else:
        share = noncustomers / adds if adds else 0.0
        segment = SegmentView(SERVICING, False, adds, share, 0.0)
    ctx = Context(
        employee_id,
        baseline,
        now,
        tz,
        period_days,
        effective_tail(tail, period_end, period_days),
        week,
        segment,
        retention,
        {},
        partners,
        block,
    )
    found = scripted_chat(talkers, tz) if features.total("talkers") >= MIN_SCRIPTED else None
    fired = [f for f in judge(features, ctx, found) if round(min(CAPS[f.code], f.raw), 1) > 0]
    if not fired:
        return AnomalyResult()
    named = any(
        f.code in NAMED
        or (f.code == "MUTUAL_ADD_RING" and block)
        or (f.code == "PERIOD_END_PILEUP" and _may_accuse_customers(features, f.evidence))
        for f in fired
    )
    if named or (not stated and noncustomers and writers):
        return None
    return explain(fired, [], ctx, in_favour(features, segment))

"""The screen: whether any anomaly signal can fire for an employee's period, told from counts
kept with the relations' standings, without reading or judging the relations (pure).

Each relation's standing keeps its signs (`signs`): what the signals ask of one add. A period's
counts of them (`Screen`, summed in PostgreSQL over the standings, `screen_of` here) bound what
each signal of `anomaly.assess` can find: a signal fires only with at least so many hollow adds
above the peers' share, so many in the last working days, so many in a channel's burst, two
peer-institution adds, one staff account, and so on (`loud`). An employee none of whose signals
can fire has an anomaly score of 0 and no reasons, exactly what `assess` gives: the refresh and
the close read and judge the relations of the others only. The bounds are necessary conditions,
never estimates: a loud screen says only that `assess` must look."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from services.scorer.domain.anomaly import (
    BURST_MIN_ADDS,
    BURST_WINDOW,
    CONVERSATION_MESSAGES,
    MIN_EXCESS,
    PeerBaseline,
    channel_of,
    is_hollow,
    is_silent,
)
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.calibration import ACQUISITION_SILENCE
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.scripted import MIN_SCRIPTED, scripted_count
from services.scorer.domain.segment import ACQUISITION, MIN_ADDS, MOST, SEGMENTS
from services.scorer.domain.signals import (
    PILEUP_MIN_ADDS,
    PILEUP_MIN_DAYS,
    QUICK_MIN,
    QUICK_MIN_SHARE,
)
from services.scorer.domain.validity import PEER_INSTITUTION, ContactVerdict
from services.scorer.domain.window_deletes import MIN_DELETES, removed_just_after

EPSILON = 1e-9
"""Slack for the floating-point products the signals compare against (a bound must not be
missed by a rounding)."""


SIGNS = ("hollow", "silent", "peer", "quick", "re_added", "after_window")
"""The yes/no signs a standing keeps (`signs`), beside its `channel`."""


def signs(v: ContactVerdict, retention: timedelta) -> dict[str, Any]:
    """What a relation's standing keeps for the screen (migration 0029): the domain's own
    predicates, so the screen counts exactly what the signals count."""
    return {
        "channel": channel_of(v),
        "hollow": is_hollow(v),
        "silent": is_silent(v),
        "peer": v.has(PEER_INSTITUTION),
        "quick": v.removed_in_window is not None,
        "re_added": v.facts.add_count > 1,
        "after_window": removed_just_after(v, retention) is not None,
    }


@dataclass(frozen=True)
class Screen:
    """An employee's adds in a period, counted by their signs."""

    adds: int = 0
    unknown: int = 0
    """Standings without their signs (judged before migration 0029): anything can be."""
    hollow: int = 0
    silent: int = 0
    tail_hollow: int = 0
    """Hollow adds from the earliest start of the period's tails on (`anomaly.pileup_from`)."""
    burst_hollow: int = 0
    """Hollow adds with BURST_MIN_ADDS adds of their channel within BURST_WINDOW either side
    (every add of a burst is one of these), counted only where `counts_bursts` (else 0)."""
    peer: int = 0
    staff: int = 0
    churned: int = 0
    """Adds removed within the retention window, plus re-adds (`signals.quick_delete`'s n)."""
    after_window: int = 0
    talkers: int = 0
    """Non-customers who wrote at least twice: every contact whose cadence can be tested
    (three replies or sessions) is one."""
    noncustomers: int = 0
    """Adds of contacts who are not matched customers (`segment.segment_of`)..."""
    writers: int = 0
    """...and those of them who wrote (or whose silence a reviewer overrode): every one in an
    exchange is one."""

    @classmethod
    def of_row(cls, row: Any) -> Screen:
        """A row of `inputs.SCREEN_SQL`."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def screen_of(
    verdicts: Sequence[ContactVerdict], pileup_start: datetime, retention: timedelta
) -> Screen:
    """The screen counted from judged relations: what the SQL over the standings must give
    (the verifier compares the two)."""
    marks = [(v, signs(v, retention)) for v in verdicts]
    times: dict[str, list[datetime]] = defaultdict(list)
    for v, s in marks:
        times[s["channel"]].append(v.facts.first_added_at)

    def near(v: ContactVerdict, channel: str) -> int:
        t = v.facts.first_added_at
        return sum(1 for u in times[channel] if abs(u - t) <= BURST_WINDOW)

    hollow = [(v, s) for v, s in marks if s["hollow"]]
    bursts = len(hollow) >= MIN_EXCESS
    return Screen(
        adds=len(marks),
        hollow=len(hollow),
        silent=sum(1 for _, s in marks if s["silent"]),
        tail_hollow=sum(1 for v, _ in hollow if v.facts.first_added_at >= pileup_start),
        burst_hollow=(
            sum(1 for v, s in hollow if near(v, s["channel"]) >= BURST_MIN_ADDS) if bursts else 0
        ),
        peer=sum(1 for _, s in marks if s["peer"]),
        staff=sum(1 for v, _ in marks if v.facts.staff_account_of is not None),
        churned=sum(int(s["quick"]) + int(s["re_added"]) for _, s in marks),
        after_window=sum(1 for _, s in marks if s["after_window"]),
        talkers=sum(1 for v, _ in marks if talker(v)),
        noncustomers=sum(1 for v, _ in marks if v.facts.is_customer is not True),
        writers=sum(
            1
            for v, s in marks
            if v.facts.is_customer is not True and (not s["silent"] or v.facts.review is not None)
        ),
    )


def counts_bursts(screen: Screen) -> bool:
    """Whether the hollow adds in bursts are worth counting: with fewer than MIN_EXCESS hollow
    adds in all, none can make a burst fire."""
    return screen.hollow >= MIN_EXCESS


def bursts_can_fire(baseline: PeerBaseline) -> bool:
    """A burst is suspicious only when its hollow share is above the peers' share plus two
    spreads: never, when that is a whole."""
    return baseline.hollow_share.centre + 2 * baseline.hollow_share.sd < 1


def talker(v: ContactVerdict) -> bool:
    return v.facts.is_customer is not True and v.facts.customer_msgs >= CONVERSATION_MESSAGES


def loud(
    screen: Screen,
    baseline: PeerBaseline,
    shared: Mapping[str, int],
    partners: Mapping[str, int],
    block: DenseBlock | None,
    period_days: int,
    stated: str | None = None,
) -> list[str]:
    """The signals that may fire for these counts (none: the anomaly score is 0, no reasons);
    `shared` and `partners` are the employee's overlap with other teams, `block` its dense
    block, `stated` the segment its employee record states, as `anomaly.assess` is given
    them. `SCRIPTED_CHAT` may be closed by the contacts' chats (`scripted_closed`)."""
    if screen.unknown:
        return ["UNKNOWN"]
    found: list[str] = []
    peers = baseline.hollow_share
    # a burst is suspicious only above the peers' share plus two spreads; its hollow adds must
    # exceed their expectation (at least 0) by MIN_EXCESS
    if screen.burst_hollow >= MIN_EXCESS and bursts_can_fire(baseline):
        found.append("QR_BATCH_BURST")
    if screen.peer >= 2:
        found.append("PEER_INSTITUTION")
    if screen.staff:
        found.append("STAFF_ACCOUNT")
    if sum(1 for n in shared.values() if n >= 2) >= 3:
        found.append("SHARED_CONTACTS")
    if len(partners) >= 2 or block is not None:
        found.append("MUTUAL_ADD_RING")
    if screen.churned >= QUICK_MIN and screen.churned >= QUICK_MIN_SHARE * screen.adds - EPSILON:
        found.append("QUICK_DELETE")
    if screen.talkers >= MIN_SCRIPTED:
        found.append("SCRIPTED_CHAT")
    if screen.after_window >= MIN_DELETES:
        found.append("DELETED_AFTER_WINDOW")
    if (
        period_days >= PILEUP_MIN_DAYS
        and screen.adds >= PILEUP_MIN_ADDS
        and screen.tail_hollow >= MIN_EXCESS
    ):
        found.append("PERIOD_END_PILEUP")
    # hollow adds (silent ones, in acquisition) among the decided ones above the share expected
    # of them: at most the period's hollow adds above that share of all its adds
    servicing = stated != ACQUISITION
    acquisition = stated == ACQUISITION or (
        stated not in SEGMENTS
        and screen.adds >= MIN_ADDS
        and screen.noncustomers > MOST * screen.adds
        and screen.writers > MOST * screen.noncustomers
    )
    if screen.adds >= BURST_MIN_ADDS and (
        (servicing and screen.hollow - peers.centre * screen.adds >= MIN_EXCESS - EPSILON)
        or (
            acquisition
            and screen.silent - ACQUISITION_SILENCE.centre * screen.adds >= MIN_EXCESS - EPSILON
        )
    ):
        found.append("NO_ENGAGEMENT")
    return found


def scripted_closed(codes: Sequence[str], traces: Iterable[ChatTrace], tz: Any) -> list[str]:
    """`codes` without `SCRIPTED_CHAT` when fewer than MIN_SCRIPTED of `traces` (those of the
    employee's `talker` contacts in the period, as `anomaly.assess` is given them) are
    scripted: its only way to fire."""
    if "SCRIPTED_CHAT" not in codes or scripted_count(traces, tz) >= MIN_SCRIPTED:
        return list(codes)
    return [c for c in codes if c != "SCRIPTED_CHAT"]

"""How a contact writes, from chat metadata only (pure, no I/O): is it a person or a script?

A real person's replies come at irregular latencies (they are at work, cooking, asleep) and
their conversations start at different times of day. A paid "real-person" account works to a
script, or an operator runs dozens of them from one desk: the replies come after the same
short latency, the sessions at the same hour. Cheap to fake is a greeting or a message a week;
expensive to fake is the irregularity of a life, across dozens of accounts at once.

Each contact is tested against a null model of human cadence (`HumanCadence`): under it the
log of a reply latency varies with a standard deviation of at least `latency_log_sd`, and the
hour at which a session starts with at least `session_hour_sd`. A contact whose sample spread
is far below that (a chi-square lower tail, Fisher-combined over the two tests) is scripted at
level `p`. The null is stated as a lower bound on human irregularity, measured on matched bank
customers (people known to be real): docs/scoring.md, "Calibration"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SESSION_GAP = timedelta(hours=6)
"""A contact message after this long without any message starts a new session: it is not a
reply but a new conversation, judged by its hour, not its latency."""
MIN_REPLIES = 3
"""Replies needed before their latencies say anything (two degrees of freedom)."""
MIN_SESSIONS = 3
"""Sessions needed before their hours say anything."""


@dataclass(frozen=True)
class HumanCadence:
    """The null model: how irregular real people are at the least (lower bounds)."""

    latency_log_sd: float = 0.8
    """Standard deviation of ln(reply latency in seconds) of one real person's replies."""
    session_hour_sd: float = 1.5
    """Standard deviation (hours) of the local time at which one real person starts chats."""


@dataclass(frozen=True)
class ChatTrace:
    """One relation's one-to-one messages in time order: (sent_at, from the contact)."""

    external_userid: str
    messages: tuple[tuple[datetime, bool], ...]
    known: dict[Any, Any] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )
    """What was worked out from the messages (`judged_cadence`, segment.exchanged), kept with
    them: a refresh round scores the same trace for a day, its week, month and quarter."""


@dataclass(frozen=True)
class Cadence:
    """What a trace shows: the contact's reply latencies (seconds) and session start hours."""

    latencies: tuple[float, ...]
    session_hours: tuple[float, ...]

    def evidence(self) -> dict[str, Any]:
        return {
            "replies": len(self.latencies),
            "median_reply_seconds": round(_median(self.latencies), 1) if self.latencies else None,
            "reply_log_sd": round(_sd([math.log(max(x, 1.0)) for x in self.latencies]), 2)
            if len(self.latencies) >= 2
            else None,
            "sessions": len(self.session_hours),
            "session_hour_sd": round(_circular_sd(self.session_hours), 2)
            if len(self.session_hours) >= 2
            else None,
        }


def cadence(trace: ChatTrace, tz: Any) -> Cadence:
    """Reply latencies: a contact message within SESSION_GAP of an employee message that came
    after the contact's previous message (the first answer to it). Session starts: a contact
    message after SESSION_GAP without any message, or the contact's first message."""
    latencies: list[float] = []
    hours: list[float] = []
    last_any: datetime | None = None
    awaiting: datetime | None = None  # the employee's message the contact has not answered yet
    for at, from_contact in trace.messages:
        if from_contact:
            if last_any is None or at - last_any >= SESSION_GAP or not hours:
                local = at.astimezone(tz)
                hours.append(local.hour + local.minute / 60 + local.second / 3600)
            elif awaiting is not None and at - awaiting < SESSION_GAP:
                latencies.append(max((at - awaiting).total_seconds(), 1.0))
            awaiting = None
        elif awaiting is None:
            awaiting = at
        last_any = at
    return Cadence(tuple(latencies), tuple(hours))


def judged_cadence(trace: ChatTrace, tz: Any, null: HumanCadence) -> tuple[Cadence, float | None]:
    """The trace's cadence and `scripted_p`, worked out once per trace."""
    key = ("tested", tz, null)
    found: tuple[Cadence, float | None] | None = trace.known.get(key)
    if found is None:
        c = cadence(trace, tz)
        found = trace.known[key] = (c, scripted_p(c, null))
    return found


def scripted_p(c: Cadence, null: HumanCadence) -> float | None:
    """How likely a real person (the null) writes at least this regularly; None: too few
    replies and sessions to tell."""
    ps: list[float] = []
    if len(c.latencies) >= MIN_REPLIES:
        logs = [math.log(x) for x in c.latencies]
        ps.append(_spread_p(_sum_sq(logs), len(logs) - 1, null.latency_log_sd))
    if len(c.session_hours) >= MIN_SESSIONS:
        centred = _unwrapped(c.session_hours)
        ps.append(_spread_p(_sum_sq(centred), len(centred) - 1, null.session_hour_sd))
    if not ps:
        return None
    return _fisher(ps)


def _spread_p(sum_sq: float, dof: int, sd: float) -> float:
    """P(a sample of dof+1 normal values with this sd has a sum of squares <= sum_sq)."""
    return chi2_cdf(sum_sq / sd**2, dof)


def _fisher(ps: Sequence[float]) -> float:
    """Fisher's combination of independent p-values."""
    if len(ps) == 1:
        return ps[0]
    stat = -2.0 * sum(math.log(max(p, 1e-300)) for p in ps)
    return 1.0 - chi2_cdf(stat, 2 * len(ps))


def chi2_cdf(x: float, dof: int) -> float:
    """P(chi-square with `dof` degrees of freedom <= x): the regularised lower incomplete
    gamma P(dof/2, x/2), by its series (the arguments here are small or moderate)."""
    if x <= 0:
        return 0.0
    a, z = dof / 2.0, x / 2.0
    if z > a + 40:
        return 1.0
    term = 1.0 / a
    total = term
    n = 0
    while abs(term) > 1e-15 * abs(total) and n < 10_000:
        n += 1
        term *= z / (a + n)
        total += term
    return min(1.0, math.exp(-z + a * math.log(z) - math.lgamma(a)) * total)


def _sum_sq(values: Sequence[float]) -> float:
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values)


def _sd(values: Sequence[float]) -> float:
    return math.sqrt(_sum_sq(values) / (len(values) - 1)) if len(values) >= 2 else 0.0


def _unwrapped(hours: Sequence[float]) -> list[float]:
    """Hours of day moved to within 12 h of their circular mean (23:50 and 00:10 are close)."""
    angles = [h / 24 * 2 * math.pi for h in hours]
    mean = math.atan2(sum(math.sin(a) for a in angles), sum(math.cos(a) for a in angles))
    centre = (mean / (2 * math.pi) * 24) % 24
    return [((h - centre + 12) % 24) - 12 for h in hours]


def _circular_sd(hours: Sequence[float]) -> float:
    return _sd(_unwrapped(hours))


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

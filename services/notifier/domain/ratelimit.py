"""The per-robot send limit: WeCom allows 20 messages a minute per group robot and answers
45009 beyond that. We keep the send times of the last minute (a sliding window, stored in
PostgreSQL so every notifier process shares it): unlike a refilling token bucket, no 60-second
window can ever hold more than the limit, so WeCom never has to refuse us."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

ROBOT_PER_MINUTE = 20
ONE_MINUTE = timedelta(minutes=1)
# We time a send when we take its slot; WeCom counts it when it arrives. If the 1st message of
# a window travels slower than the 21st, WeCom could see 21 in one minute although we sent 20:
# our window is longer by a twentieth (3 s in a minute) to absorb that difference in latency.
LATENCY_MARGIN = 1 / 20


def guarded(window: timedelta) -> timedelta:
    """The window we keep so that the receiver's window never holds more than the limit."""
    return window * (1 + LATENCY_MARGIN)


@dataclass(frozen=True)
class Decision:
    granted: bool
    sent: tuple[datetime, ...]  # the window to store (with this send when granted)
    retry_at: datetime


def take(
    sent: Sequence[datetime],
    now: datetime,
    limit: int = ROBOT_PER_MINUTE,
    window: timedelta = ONE_MINUTE,
    blocked_until: datetime | None = None,
) -> Decision:
    """Whether one more message may go now; if not, when the window has room again."""
    recent = tuple(sorted(t for t in sent if t > now - window))
    if blocked_until is not None and now < blocked_until:
        return Decision(False, recent, blocked_until)
    if len(recent) < limit:
        return Decision(True, (*recent, now), now)
    return Decision(False, recent, recent[len(recent) - limit] + window)


def pause_after_refusal(now: datetime, window: timedelta = ONE_MINUTE) -> datetime:
    """After a 45009 the robot's minute is used up elsewhere (another system shares the
    robot): send nothing for a whole window."""
    return now + window

"""An employee's adds counted by ten minutes, channel and campaign (pure): what the anomaly
signals are judged on, so that a period's score is computed from a few counts per busy spell
instead of from every relation.

Each add falls in one bucket: the local ten minutes of its first add (`SPAN`, kept as the
instant it starts), the channel its QR bursts are counted in (`channel_of`) and the campaign it
came through, if any (the buckets kept in PostgreSQL leave the campaign out: whether an add
came through one is looked up as its relation is read, and an employee whose team has a
campaign in the period is judged from its relations). A bucket counts its adds by the signs the
signals ask of one add (`FIELDS`). A period's features are
the buckets of the adds first made in it; every signal's count is a sum over some of them:
- the last working days start at a local midnight, and the working hours (8:00 to 20:00) on
  the hour, so counts by time are exact;
- a burst is judged from one bucket of a channel to the bucket two hours on, both included
  (`signals.qr_batch_burst`);
- an add's engagement is decided once its bucket's last add has had its whole engagement
  window (`ENGAGEMENT_WINDOW`), up to ten minutes after its own window ended."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple

from services.scorer.domain.validity import (
    GAMED,
    GENUINE,
    PEER_INSTITUTION,
    STAFF_ACCOUNT,
    ContactVerdict,
)
from services.scorer.domain.window_deletes import employee_removals, removed_just_after

SPAN = timedelta(minutes=10)
"""How long a bucket is: it divides an hour, so hours and days start on a bucket's start."""
CONVERSATION_MESSAGES = 2
"""A contact who wrote this many messages holds a conversation; one message, which bought
accounts send to look alive, is not one."""
ENGAGEMENT_WINDOW = timedelta(days=7)
"""How long a contact has to engage after its add: an add still hollow once it has passed is
decided hollow, and a contact who wrote within it engaged."""

FIELDS = (
    "adds",
    "hollow",
    "silent",
    "customers",
    "conversations",
    "talkers",
    "engaged",
    "hollow_engaged",
    "peer",
    "staff",
    "quick",
    "re_added",
    "after_window",
    "employee_removed",
    "noncustomers",
    "writers",
    "genuine",
)
"""What a bucket counts of its adds (`signs_of`), in the order of its vector:
- `hollow`: neither a matched customer nor a conversation (`is_hollow`); `silent`: the contact
  never wrote (`is_silent`); a reviewer's verdict decides both;
- `customers`: matched bank customers; `conversations`: contacts who wrote at least twice;
  `talkers`: those of them who are not matched customers;
- `engaged`: wrote within the engagement window; `hollow_engaged`: hollow and engaged;
- `peer`, `staff`: a peer institution's staff, an employee's own account;
- `quick`: removed within the retention window; `re_added`: added more than once;
  `after_window`: removed by the employee just after the window; `employee_removed`: removed by
  the employee at any time;
- `noncustomers`: not matched customers; `writers`: of those, who wrote (or whose silence a
  reviewer overrode);
- `genuine`: a reviewer found it genuine."""
INDEX = {name: i for i, name in enumerate(FIELDS)}


class Bucket(NamedTuple):
    """Where an add is counted: the start of its local ten minutes (an instant in UTC: two
    local times of a clock turned back are two buckets), its channel and campaign. A named
    tuple, hashed in C: a close looks up a bank's month of buckets."""

    start: datetime
    channel: str
    campaign: str | None = None


def is_hollow(v: ContactVerdict) -> bool:
    """An add with nothing real behind it: not a matched bank customer, and no conversation
    (a single message, which bought accounts send to look alive, is not one). A reviewer's
    verdict decides it: `gamed` is hollow, `genuine` is not."""
    if v.facts.review is not None:
        return v.facts.review == GAMED
    return not v.facts.is_customer and v.facts.customer_msgs < CONVERSATION_MESSAGES


def is_silent(v: ContactVerdict) -> bool:
    """The contact never wrote (a reviewer's verdict decides it, as for `is_hollow`)."""
    if v.facts.review is not None:
        return v.facts.review == GAMED
    return v.facts.customer_msgs == 0


def is_engaged(v: ContactVerdict) -> bool:
    f = v.facts
    return f.first_customer_msg_at is not None and (
        f.first_customer_msg_at < f.first_added_at + ENGAGEMENT_WINDOW
    )


def channel_of(v: ContactVerdict) -> str:
    """The channel a QR burst is counted in: the add's channel state, else its add way."""
    return v.facts.state or f"add_way:{v.facts.add_way}"


def span_of(at: datetime, tz: Any) -> datetime:
    """The start of the local ten minutes (`SPAN`) holding `at`, in UTC."""
    local = at.astimezone(tz)
    start = local.replace(minute=local.minute - local.minute % 10, second=0, microsecond=0)
    return start.astimezone(UTC)


def bucket_of(v: ContactVerdict, tz: Any, campaigns: bool = True) -> Bucket:
    campaign = v.facts.campaign if campaigns else None
    return Bucket(span_of(v.facts.first_added_at, tz), channel_of(v), campaign)


def signs_of(v: ContactVerdict, retention: timedelta) -> tuple[int, ...]:
    """What one add counts, in the order of FIELDS."""
    f = v.facts
    hollow = is_hollow(v)
    silent = is_silent(v)
    customer = f.is_customer is True
    engaged = is_engaged(v)
    conversation = f.customer_msgs >= CONVERSATION_MESSAGES
    return (
        1,
        int(hollow),
        int(silent),
        int(customer),
        int(conversation),
        int(conversation and not customer),
        int(engaged),
        int(hollow and engaged),
        int(v.has(PEER_INSTITUTION)),
        int(v.has(STAFF_ACCOUNT)),
        int(v.removed_in_window is not None),
        int(f.add_count > 1),
        int(removed_just_after(v, retention) is not None),
        int(bool(f.removals) and bool(employee_removals(v))),
        int(not customer),
        int(not customer and (not silent or f.review is not None)),
        int(f.review == GENUINE),
    )


def bits(signs: Sequence[int]) -> int:
    """The signs of one add as a bit set (bit i: the i-th of FIELDS), as its standing keeps
    them."""
    return sum(1 << i for i, n in enumerate(signs) if n)


def unpacked(bits: int) -> tuple[int, ...]:
    """The signs of a bit set (`bits`)."""
    return tuple((bits >> i) & 1 for i in range(len(FIELDS)))


Counts = list[int]
"""A bucket's counts, in the order of FIELDS."""


@dataclass(frozen=True)
class Features:
    """One employee's adds in a period, by bucket."""

    buckets: Mapping[Bucket, Sequence[int]]

    @cached_property
    def totals(self) -> tuple[int, ...]:
        """Every count over all buckets, in the order of FIELDS."""
        return tuple(sum(column) for column in zip(*self.buckets.values(), strict=True)) or (
            (0,) * len(FIELDS)
        )

    def total(self, name: str, where: Iterable[Bucket] | None = None) -> int:
        i = INDEX[name]
        if where is None:
            return self.totals[i]
        return sum(self.buckets[b][i] for b in where if b in self.buckets)

    def since(self, name: str, start: datetime) -> int:
        """Of the adds first made from `start` on (a bucket's start: a local midnight)."""
        i = INDEX[name]
        return sum(counts[i] for b, counts in self.buckets.items() if b.start >= start)

    def decided(self, name: str, now: datetime) -> int:
        """Of the adds whose bucket's engagement windows have all ended by `now`."""
        i = INDEX[name]
        return sum(
            counts[i]
            for b, counts in self.buckets.items()
            if now >= b.start + SPAN + ENGAGEMENT_WINDOW
        )

    def by_campaign(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for b, counts in self.buckets.items():
            if b.campaign is not None:
                out[b.campaign] += counts[0]
        return dict(sorted(out.items()))


def features_of(
    verdicts: Iterable[ContactVerdict], tz: Any, retention: timedelta, campaigns: bool = True
) -> Features:
    """The features counted from judged relations; without `campaigns`, as PostgreSQL keeps
    them (what those must add up to)."""
    buckets: dict[Bucket, Counts] = {}
    for v in verdicts:
        key = bucket_of(v, tz, campaigns)
        signs = signs_of(v, retention)
        counts = buckets.get(key)
        if counts is None:
            buckets[key] = list(signs)
        else:
            for i, n in enumerate(signs):
                counts[i] += n
    return Features(buckets)

"""Is a period's data complete enough to close it? Pure: the scorer's own state in, the reasons
to hold the close out (none: it may close).

A period is final only when its inputs are complete, so nobody is told "missed" on partial
data (a backfill still arriving, lookups outstanding, WeCom's callbacks broken):

- **contact events**: on every partition of the contact-event topic, the event time of what
  was consumed has passed the period's end plus the retention window (the adds' windows have
  run). A partition that has consumed nothing for `idle` stops holding it back: a quiet
  partition must not keep every period open for ever;
- **required bank sources**: each has declared itself complete through the period's end
  (`source_watermark` records); none is required by default;
- **lookups**: no contact added in the period is still waiting for its profile;
- **WeCom data**: not stale, or a reconciliation completed after the period's end (it walks
  WeCom's own lists, so what the callbacks missed is in)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.schemas import RECONCILIATION_SOURCE


@dataclass(frozen=True)
class PartitionProgress:
    """How far one contact-event partition has been consumed, by event time."""

    partition: int
    latest_event_at: datetime | None  # None: assigned, nothing consumed yet
    consumed_at: datetime  # by the scorer's clock: last applied (or assigned) at


@dataclass(frozen=True)
class CloseInputs:
    partitions: Sequence[PartitionProgress]
    sources: Mapping[str, datetime]  # complete_through, per source
    profile_unknown_adds: int
    data_stale: bool


@dataclass(frozen=True)
class CompletenessRules:
    required_sources: frozenset[str] = frozenset()
    idle_partition: timedelta = timedelta(minutes=30)


def close_holds(
    period_end: datetime,
    retention: timedelta,
    inputs: CloseInputs,
    rules: CompletenessRules,
    now: datetime,
) -> list[str]:
    """The reasons the close must wait, each a short code (with a detail after a colon)."""
    holds: list[str] = []
    behind = sorted(
        p.partition
        for p in inputs.partitions
        if now - p.consumed_at < rules.idle_partition
        and (p.latest_event_at is None or p.latest_event_at < period_end + retention)
    )
    if behind:
        holds.append(f"contact_watermark:{','.join(map(str, behind))}")
    for source in sorted(rules.required_sources):
        through = inputs.sources.get(source)
        if through is None or through < period_end:
            holds.append(f"source_watermark:{source}")
    if inputs.profile_unknown_adds > 0:
        holds.append(f"profile_unknown:{inputs.profile_unknown_adds}")
    reconciled = inputs.sources.get(RECONCILIATION_SOURCE)
    if inputs.data_stale and (reconciled is None or reconciled < period_end):
        holds.append("data_stale")
    return holds


def reason_code(hold: str) -> str:
    """The metric label of a hold: its code without the detail."""
    return hold.split(":", 1)[0]

"""An employee's segment of work, stated or inferred (pure): compare like with like.

An acquisition employee's job is people who are not bank customers yet: most of their adds are
not matched customers, and that is the work, not a sign of gaming. Judged against servicing
peers (whose contacts are mostly customers), their "hollow" share looks far too high. So:

- a segment stated on the `employee` record (`acquisition`, `servicing`, `counter`) is used;
- else an employee is inferred to be in acquisition when most of their adds are not matched
  customers AND most of those non-customers are in a real two-sided exchange (they wrote and
  were answered one-to-one after it): prospecting, as the bank would describe it. Low customer
  match without the exchanges is not prospecting, and the employee is judged as servicing;
- everyone else is `servicing` (a counter cannot be told from servicing by its adds: it can
  only be stated).

What the segment changes: in acquisition, customer match is not counted against an add (the
silence signal counts contacts who never wrote, against acquisition work's own null), and the
evidence says so in the employee's favour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.validity import ContactVerdict

ACQUISITION = "acquisition"
SERVICING = "servicing"
COUNTER = "counter"
SEGMENTS = (ACQUISITION, SERVICING, COUNTER)
MOST = 0.5
""""Most of the adds" and "most of those contacts": more than half."""
MIN_ADDS = 20
"""Fewer adds than this say nothing about the kind of work: judged as servicing."""


@dataclass(frozen=True)
class SegmentView:
    """The segment an employee is compared in, and why."""

    segment: str
    stated: bool
    adds: int = 0
    non_customer_share: float = 0.0
    exchange_share: float = 0.0
    """Of the non-customer adds, the share in a two-sided exchange."""

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"segment": self.segment, "stated": self.stated}
        if not self.stated:
            out |= {
                "non_customer_share": round(self.non_customer_share, 2),
                "non_customers_in_exchanges": round(self.exchange_share, 2),
            }
        if self.segment == ACQUISITION:
            out["customer_match_not_counted_against"] = True
        return out


def exchanged(trace: ChatTrace | None) -> bool:
    """The contact wrote, and the employee answered one-to-one after it."""
    if trace is None:
        return False
    found: bool | None = trace.known.get("exchanged")
    if found is None:
        first = next((at for at, from_contact in trace.messages if from_contact), None)
        found = trace.known["exchanged"] = first is not None and any(
            not from_contact and at > first for at, from_contact in trace.messages
        )
    return found


def segment_of(
    verdicts: Sequence[ContactVerdict], chats: Mapping[str, ChatTrace], stated: str | None
) -> SegmentView:
    if stated in SEGMENTS:
        return SegmentView(stated, True, len(verdicts))
    others = [v for v in verdicts if not v.facts.is_customer]
    share = len(others) / len(verdicts) if verdicts else 0.0
    exchanges = sum(1 for v in others if exchanged(chats.get(v.facts.external_userid)))
    in_exchange = exchanges / len(others) if others else 0.0
    prospecting = len(verdicts) >= MIN_ADDS and share > MOST and in_exchange > MOST
    return SegmentView(
        ACQUISITION if prospecting else SERVICING, False, len(verdicts), share, in_exchange
    )

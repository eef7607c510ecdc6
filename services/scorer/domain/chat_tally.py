"""Chat figures kept by deltas (pure, no I/O): docs/product.md, Quality (responsiveness,
personal touch).

A customer-initiated chat-day is one (employee, contact, local day) on which the customer
wrote one-to-one; it is answered when the employee replied one-to-one later that day. Each
counts in every period containing its day (`customer_chats`, `answered_same_day`); when a
message changes a chat-day (an earlier question, a reply), the counters move by the
difference. Messages the employee sent count as they arrive (`one_to_one_sent`, `mass_sent`).
The median first reply of a period is read from the chat-days themselves (exact, not kept by
deltas)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.calendar import local_date, period_keys_of

CHAT_COUNTERS = ("customer_chats", "answered_same_day", "one_to_one_sent", "mass_sent")
"""The chat counters of an (employee, period), in the order the store keeps them."""

Key = tuple[str, str]
Deltas = dict[Key, Counter[str]]


@dataclass(frozen=True)
class ChatDay:
    asked: datetime
    reply: datetime | None = None


def day_changes(
    into: Deltas,
    employee_id: str,
    day: date,
    before: ChatDay | None,
    after: ChatDay | None,
) -> None:
    """Add the change of one chat-day (None: not a chat-day) to `into`."""
    asked = int(after is not None) - int(before is not None)
    answered = int(after is not None and after.reply is not None) - int(
        before is not None and before.reply is not None
    )
    if not asked and not answered:
        return
    for key in period_keys_of(day):
        delta = into.setdefault((employee_id, key), Counter())
        delta["customer_chats"] += asked
        delta["answered_same_day"] += answered


def sent_changes(
    into: Deltas,
    employee_id: str,
    sent_at: datetime,
    direction: str,
    kind: str,
    tz: ZoneInfo,
    sign: int = 1,
) -> None:
    """Add one message the employee sent (one-to-one or mass) to `into`; others count
    nothing."""
    if direction != "to_customer" or kind not in ("one_to_one", "mass"):
        return
    name = "one_to_one_sent" if kind == "one_to_one" else "mass_sent"
    for key in period_keys_of(local_date(sent_at, tz)):
        into.setdefault((employee_id, key), Counter())[name] += sign

"""Property: the figures do not depend on the order events arrived in.

The scoring state in PostgreSQL is built by order-free statements (first add = the earliest,
removals a set, counts sums, duplicates dropped by event_id); what it hands the pure domain is
a list whose order is whatever the database returned. So the pure domain must give the same
verdicts, counts and quality for any order of its inputs (and of each relation's removals), and
the per-batch gross counts must add up the same however the events are split and ordered.
The same on real Kafka and PostgreSQL: tests/integration/test_scorer_order.py."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scorer.domain.quality import ChatStats, count_by_status, quality
from services.scorer.domain.quota import gross_add_increments
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import ContactFacts, Removal
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar
from shared.clock import ManualClock
from shared.schemas import DELETE_BY_TRANSFER, ContactEvent

START = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 9, 20, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SCORER = Scorer(
    ScoringRules(max_adds_per_state_per_day=2, require_customer_match=False),
    BusinessCalendar(tz=SHANGHAI),
    clock=ManualClock(NOW),
    inputs_group="",
)

minutes = st.integers(min_value=0, max_value=60 * 24 * 18)
removals = st.lists(
    st.builds(
        Removal,
        removed_at=minutes.map(lambda m: START + timedelta(minutes=m)),
        removed_by=st.sampled_from(["employee", "customer"]),
        source=st.sampled_from([None, DELETE_BY_TRANSFER, "RECONCILIATION"]),
    ),
    max_size=3,
)


@st.composite
def relations(draw: st.DrawFn) -> list[ContactFacts]:
    n = draw(st.integers(min_value=1, max_value=25))
    out = []
    for i in range(n):
        # few distinct times and states, so ties (same minute, same channel) are common
        added = START + timedelta(minutes=draw(st.sampled_from([0, 1, 60, 1440, 2000, 8000])))
        peer = draw(st.booleans())
        out.append(
            ContactFacts(
                employee_id="e1",
                external_userid=f"wm{i:02d}",
                first_added_at=added,
                add_count=draw(st.integers(min_value=1, max_value=3)),
                contact_type=2 if peer else 1,
                corp_name="某某银行" if peer and draw(st.booleans()) else None,
                state=draw(st.sampled_from([None, "qr1", "qr2"])),
                first_customer_msg_at=(
                    added + timedelta(hours=draw(st.integers(0, 300)))
                    if draw(st.booleans())
                    else None
                ),
                customer_msgs=draw(st.integers(0, 3)),
                one_to_one_msgs=draw(st.integers(0, 3)),
                mass_msgs=draw(st.integers(0, 3)),
                profile_found=draw(st.sampled_from([True, True, False, None])),
                staff_account_of=draw(st.sampled_from([None, None, None, "e2"])),
                handed_over=draw(st.booleans()),
                removals=tuple(draw(removals)),
            )
        )
    return out


def figures(facts: list[ContactFacts]) -> tuple[object, ...]:
    verdicts = SCORER.verdicts(facts, NOW)
    per_contact = sorted(
        (v.facts.external_userid, v.status.value, v.reasons, v.removed_in_window) for v in verdicts
    )
    counts = sorted((k.value, n) for k, n in count_by_status(verdicts).items())
    score = quality(verdicts, ChatStats(), SCORER.rules, NOW)
    return per_contact, counts, score


@settings(max_examples=150, deadline=None)
@given(facts=relations(), data=st.data())
def test_any_order_of_relations_and_removals_gives_the_same_figures(
    facts: list[ContactFacts], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(facts))
    reordered = [
        ContactFacts(**{**f.__dict__, "removals": tuple(data.draw(st.permutations(f.removals)))})
        for f in shuffled
    ]
    assert figures(reordered) == figures(facts)


events = st.lists(
    st.builds(
        lambda who, contact, m, change: ContactEvent.model_validate(
            {
                "ChangeType": change,
                "UserID": who,
                "ExternalUserID": contact,
                "CreateTime": int((START + timedelta(minutes=m)).timestamp()),
            }
        ),
        st.sampled_from(["e1", "e2"]),
        st.sampled_from(["wmA", "wmB", "wmC"]),
        minutes,
        st.sampled_from(["add_external_contact", "add_half_external_contact", "del_follow_user"]),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(stream=events, data=st.data())
def test_gross_counts_add_up_the_same_however_batched_and_ordered(
    stream: list[ContactEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(stream))
    cut = data.draw(st.integers(min_value=0, max_value=len(shuffled)))
    batched: Counter[tuple[str, str]] = Counter()
    for batch in (shuffled[:cut], shuffled[cut:]):
        batched.update(gross_add_increments(batch, SHANGHAI))
    assert batched == gross_add_increments(stream, SHANGHAI)

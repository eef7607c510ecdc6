"""Segments (domain/segment.py): a prospector is compared with acquisition work, where customer
match is not counted against an add; low customer match without real exchanges is not
prospecting; a stated segment wins. And the `employee` record's optional `segment`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.scorer.domain.anomaly import PeerBaseline, assess
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.segment import ACQUISITION, SERVICING, segment_of
from services.scorer.domain.surprise import Spread
from services.scorer.domain.validity import ContactFacts, ContactVerdict, classify
from shared.schemas.records import EmployeeRecord

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)
END = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
SERVICING_PEERS = PeerBaseline(hollow_share=Spread(0.12, 0.05, 100))


def add(i: int, *, customer: bool, writes: int) -> ContactVerdict:
    return classify(
        ContactFacts(
            "e1",
            f"wm{i}",
            START + timedelta(hours=3 * i),
            is_customer=customer,
            customer_msgs=writes,
            one_to_one_msgs=1,
            profile_found=True,
        ),
        ScoringRules(),
        NOW,
    )


def exchange(contact: str, at: datetime, lines: int) -> ChatTrace:
    """The employee greets, the contact writes `lines` lines hours later, each answered."""
    messages = [(at + timedelta(minutes=2), False)]
    for n in range(lines):
        asked = at + timedelta(hours=5 + n)
        messages += [(asked, True), (asked + timedelta(minutes=10), False)]
    return ChatTrace(contact, tuple(messages))


def prospector(adds: int = 100) -> tuple[list[ContactVerdict], dict[str, ChatTrace]]:
    """70 % not customers; of those, 30 % never answer, 35 % answer one line, the rest chat."""
    vs: list[ContactVerdict] = []
    chats: dict[str, ChatTrace] = {}
    for i in range(adds):
        customer = i % 10 >= 7
        kind = i % 20
        writes = 0 if kind < 6 else 1 if kind < 13 else 3
        v = add(i, customer=customer, writes=writes)
        vs.append(v)
        chats[v.facts.external_userid] = exchange(
            v.facts.external_userid, v.facts.first_added_at, writes
        )
    return vs, chats


def test_prospecting_is_inferred_from_non_customers_in_real_exchanges() -> None:
    vs, chats = prospector()
    view = segment_of(vs, chats, None)
    assert view.segment == ACQUISITION and not view.stated
    assert view.non_customer_share == pytest.approx(0.7)
    assert view.exchange_share > 0.5


def test_low_customer_match_without_exchanges_is_not_prospecting() -> None:
    vs = [add(i, customer=i % 10 >= 7, writes=0) for i in range(100)]
    assert segment_of(vs, {}, None).segment == SERVICING


def test_a_stated_segment_wins() -> None:
    vs, chats = prospector()
    view = segment_of(vs, chats, "servicing")
    assert view.segment == SERVICING and view.stated


def test_a_prospector_is_not_flagged_and_is_told_why() -> None:
    vs, chats = prospector()
    # judged as servicing (stated), the same adds are an excess of hollow adds
    as_servicing = assess(
        vs, {}, SERVICING_PEERS, END, 31, NOW, TZ, chats=chats, stated_segment="servicing"
    )
    assert any(r["code"] == "NO_ENGAGEMENT" for r in as_servicing.reasons)
    inferred = assess(vs, {}, SERVICING_PEERS, END, 31, NOW, TZ, chats=chats)
    assert inferred.reasons == []


def test_silence_far_above_acquisition_work_still_flags_an_acquisition_employee() -> None:
    vs = [add(i, customer=False, writes=0 if i % 10 < 8 else 2) for i in range(120)]
    chats = {
        v.facts.external_userid: exchange(
            v.facts.external_userid, v.facts.first_added_at, v.facts.customer_msgs
        )
        for v in vs
    }
    result = assess(
        vs, {}, SERVICING_PEERS, END, 31, NOW, TZ, chats=chats, stated_segment="acquisition"
    )
    reason = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")
    assert reason["evidence"]["segment"] == ACQUISITION
    assert reason["evidence"]["silent_adds"] == 96
    assert reason["evidence"]["in_favour"]["segment"]["customer_match_not_counted_against"]


def test_employee_record_takes_an_optional_known_segment() -> None:
    base = {
        "type": "employee",
        "employee_id": "e1",
        "name": "王芳",
        "branch_id": "b1",
        "team_id": "t1",
        "role": "客户经理",
    }
    assert EmployeeRecord.model_validate(base).segment is None
    assert (
        EmployeeRecord.model_validate({**base, "segment": "acquisition"}).segment == "acquisition"
    )
    with pytest.raises(ValidationError):
        EmployeeRecord.model_validate({**base, "segment": "sales"})

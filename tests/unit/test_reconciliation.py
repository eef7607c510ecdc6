"""Reconciliation's pure parts: the plan of corrections, the fold of the known followers, and
when the daily run is due."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.ingestor.reconcile_schedule import due, last_slot
from services.ingestor.reconcile_store import RunRecord
from services.ingestor.reconciliation import (
    Fact,
    TooManyDeletesError,
    fold,
    followed,
    plan,
    removal_event,
)
from services.ingestor.settings import IngestorSettings
from shared.schemas import ChangeType, ContactEvent, contact_event_id
from shared.settings import Topics
from tests.clocks import AS_OF

CORP = "wwcorp"
TOPICS = Topics()
NOW = datetime(2026, 10, 20, 18, 30, tzinfo=UTC)
T0 = 1_760_000_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def row(user: str, external: str, createtime: int) -> dict[str, Any]:
    return {
        "external_contact": {"external_userid": external, "type": 1, "name": "x"},
        "follow_info": {"userid": user, "createtime": createtime, "add_way": 1, "state": ""},
    }


def contact_events(out: Any) -> list[ContactEvent]:
    return [
        ContactEvent.model_validate_json(o.value)
        for o in out.outgoing
        if o.topic == TOPICS.contact_events
    ]


def test_walk_equal_to_belief_corrects_nothing_but_resends_idempotent_adds() -> None:
    known = {("e1", "wmA"): T0, ("e1", "wmB"): T0 + 5}
    out = plan(CORP, known, [row("e1", "wmA", T0), row("e1", "wmB", T0 + 5)], TOPICS, NOW)
    assert (out.missed_adds, out.missed_deletes) == (0, 0)
    events = contact_events(out)
    assert [e.event_id for e in events] == [
        contact_event_id(CORP, "add_external_contact", "e1", x, t)
        for x, t in (("wmA", T0), ("wmB", T0 + 5))
    ]
    assert out.walked == known


def test_missed_add_and_missed_delete() -> None:
    known = {("e1", "wmA"): T0, ("e1", "wmGone"): T0 + 1}
    out = plan(CORP, known, [row("e1", "wmA", T0), row("e1", "wmNew", T0 + 9)], TOPICS, NOW)
    assert (out.missed_adds, out.missed_deletes) == (1, 1)
    gone = contact_events(out)[0]
    # actor unknown: never an employee's delete; time = the observation, the latest possible
    assert gone.change_type is ChangeType.DELETE_BY_CUSTOMER
    assert gone.source == "RECONCILIATION" and gone.origin == "reconciliation"
    assert gone.occurred_at == NOW
    assert (gone.employee_id, gone.external_userid) == ("e1", "wmGone")
    assert out.walked == {("e1", "wmA"): T0, ("e1", "wmNew"): T0 + 9}


def test_a_corrective_delete_has_the_same_id_whenever_it_is_observed() -> None:
    first = removal_event(CORP, ("e1", "wmA"), T0, NOW)
    later = removal_event(CORP, ("e1", "wmA"), T0, NOW + timedelta(days=1))
    other_add = removal_event(CORP, ("e1", "wmA"), T0 + 86_400, NOW)
    assert first.event_id == later.event_id != other_add.event_id


def test_silent_delete_and_re_add_between_walks() -> None:
    readded = T0 + 3 * 86_400
    out = plan(CORP, {("e1", "wmA"): T0}, [row("e1", "wmA", readded)], TOPICS, NOW)
    assert (out.missed_adds, out.missed_deletes) == (1, 1)
    delete, add = contact_events(out)
    assert delete.occurred_at == datetime.fromtimestamp(readded - 1, UTC)
    assert add.is_add and add.create_time == readded


def test_a_callback_time_a_moment_off_the_follow_time_is_the_same_relation() -> None:
    out = plan(CORP, {("e1", "wmA"): T0}, [row("e1", "wmA", T0 + 3)], TOPICS, NOW)
    assert (out.missed_adds, out.missed_deletes) == (0, 0)


def test_a_walk_that_loses_too_much_publishes_nothing() -> None:
    known = {("e1", f"wm{i}"): T0 for i in range(50)}
    with pytest.raises(TooManyDeletesError, match="lost 50 of 50"):
        plan(CORP, known, [], TOPICS, NOW)
    # a few losses are ordinary
    out = plan(CORP, known, [row("e1", f"wm{i}", T0) for i in range(45)], TOPICS, NOW)
    assert out.missed_deletes == 5


def event(change: str, external: str, at: int) -> ContactEvent:
    return ContactEvent.model_validate(
        {"ChangeType": change, "UserID": "e1", "ExternalUserID": external, "CreateTime": at}
    )


def test_fold_follows_event_time_not_arrival() -> None:
    facts: dict[tuple[str, str], Fact] = {}
    fold(facts, event("add_external_contact", "wmA", T0))
    fold(facts, event("add_external_contact", "wmA", T0 + 100))  # re-add
    fold(facts, event("del_follow_user", "wmA", T0 + 50))  # late delete of the older relation
    assert followed(facts[("e1", "wmA")]) == T0 + 100
    fold(facts, event("del_external_contact", "wmA", T0 + 200))
    assert followed(facts[("e1", "wmA")]) is None
    fold(facts, event("edit_external_contact", "wmB", T0))
    assert ("e1", "wmB") not in facts


def test_fold_a_delete_read_before_its_add() -> None:
    facts: dict[tuple[str, str], Fact] = {}
    fold(facts, event("del_follow_user", "wmA", T0 + 10))
    fold(facts, event("add_external_contact", "wmA", T0))
    assert followed(facts[("e1", "wmA")]) is None


def run(at: datetime, outcome: str = "succeeded") -> RunRecord:
    return RunRecord(at, at, outcome, 0, 0)


def test_daily_run_is_due_once_per_slot_and_catches_up_after_downtime() -> None:
    at = time(2, 30)
    slot = datetime(2026, 10, 20, 2, 30, tzinfo=SHANGHAI)
    assert last_slot(slot + timedelta(hours=5), at, SHANGHAI) == slot
    assert last_slot(slot - timedelta(minutes=1), at, SHANGHAI) == slot - timedelta(days=1)
    retry = timedelta(minutes=30)
    yesterday = run(slot - timedelta(days=1))
    # down at the slot: runs when it comes back, hours later
    assert due(slot + timedelta(hours=7), at, SHANGHAI, yesterday, yesterday, retry)
    # after today's success a restart does not run again
    today = run(slot + timedelta(minutes=1))
    assert not due(slot + timedelta(hours=7), at, SHANGHAI, today, today, retry)
    # a failed attempt is retried after the retry interval, not before
    failed = run(slot + timedelta(minutes=1), "failed")
    assert not due(slot + timedelta(minutes=10), at, SHANGHAI, yesterday, failed, retry)
    assert due(slot + timedelta(minutes=31), at, SHANGHAI, yesterday, failed, retry)
    # never ran: due at once
    assert due(slot + timedelta(minutes=1), at, SHANGHAI, None, None, retry)


@pytest.mark.parametrize("day", AS_OF)
def test_a_slot_just_passed_is_due_then_not_again_until_the_next_day(day: datetime) -> None:
    slot = day - timedelta(minutes=1)
    at = slot.astimezone(SHANGHAI).time()
    retry = timedelta(minutes=30)
    assert last_slot(day, at, SHANGHAI) == slot
    assert due(day, at, SHANGHAI, None, None, retry)
    done = run(day)
    assert not due(slot + timedelta(hours=23, minutes=59), at, SHANGHAI, done, done, retry)
    assert last_slot(day + timedelta(days=1), at, SHANGHAI) == slot + timedelta(days=1)
    assert due(day + timedelta(days=1), at, SHANGHAI, done, done, retry)


def test_the_schedule_is_read_from_the_environment_and_needs_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECONCILE_DAILY_AT", "02:30")
    with pytest.raises(ValueError, match="RECONCILE_DAILY_AT needs WECOM_CORP_ID"):
        IngestorSettings()
    monkeypatch.setenv("WECOM_CORP_ID", "wwcorp")
    monkeypatch.setenv("WECOM_CORP_SECRET", "a-real-looking-secret-0123")
    assert IngestorSettings().reconcile_daily_at == time(2, 30)

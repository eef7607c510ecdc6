"""The lookup ledger (SQLite in a temporary folder): what waits, what is answered, offsets
stored with the rows, and what survives reopening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.ingestor.lookups.feed import want_of
from services.ingestor.lookups.ledger import (
    Answered,
    Failure,
    Folded,
    LookupLedger,
    Want,
    ledger_path,
)
from shared.clock import ManualClock
from shared.schemas import ChangeType, ContactEvent

TOPIC = "wecom.contact-events.v1"


def clock() -> ManualClock:
    return ManualClock(datetime(2026, 10, 15, 9, tzinfo=UTC))


def ledger(tmp_path: Path) -> LookupLedger:
    return LookupLedger(ledger_path(tmp_path, TOPIC))


def adds(*pairs: tuple[str, str], start: int = 0, partition: int = 0) -> list[Folded]:
    return [
        Folded(partition, start + i, Want(contact, employee))
        for i, (contact, employee) in enumerate(pairs)
    ]


def test_an_added_contact_waits_once_however_often_it_is_added(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1"), ("wmA", "e1"), ("wmB", "e1")), now().timestamp())
    due = book.due(now().timestamp(), 10)
    assert [(d.external_userid, d.followers) for d in due] == [("wmA", ("e1",)), ("wmB", ("e1",))]
    assert book.backlog().waiting == 2


def test_an_answered_contact_is_not_looked_up_again(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1")), now().timestamp())
    book.record([Answered("wmA", ("e1",), "profiled")], [], now().timestamp())
    book.fold(TOPIC, adds(("wmA", "e1"), start=1), now().timestamp())  # re-added, edited
    assert book.due(now().timestamp(), 10) == []
    assert book.outcomes() == {"wmA": "profiled"}
    assert book.backlog().waiting == 0 and book.backlog().oldest_since is None


def test_a_new_follower_the_answer_did_not_cover_gets_one_refresh(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1")), now().timestamp())
    book.record([Answered("wmA", ("e1",), "profiled")], [], now().timestamp())
    book.fold(TOPIC, adds(("wmA", "e2"), start=1), now().timestamp())
    [due] = book.due(now().timestamp(), 10)
    assert due.followers == ("e2",)  # e1 is covered already
    book.record([Answered("wmA", ("e2",), "profiled")], [], now().timestamp())
    assert book.due(now().timestamp(), 10) == []


def test_a_follower_added_during_the_lookup_is_due_again_at_once(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1")), now().timestamp())
    [due] = book.due(now().timestamp(), 10)
    book.fold(TOPIC, adds(("wmA", "e2"), start=1), now().timestamp())  # while in flight
    book.record([Answered("wmA", due.followers, "profiled")], [], now().timestamp())
    [again] = book.due(now().timestamp(), 10)
    assert again.followers == ("e2",) and again.failures == 0


def test_a_walked_follower_needs_no_lookup(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    walked = [Folded(0, 0, Want("wmA", "e1", walked=True))]
    book.fold(TOPIC, walked, now().timestamp())
    assert book.due(now().timestamp(), 10) == []
    book.fold(TOPIC, adds(("wmB", "e1"), start=1), now().timestamp())
    book.fold(TOPIC, [Folded(0, 2, Want("wmB", "e1", walked=True))], now().timestamp())
    assert book.due(now().timestamp(), 10) == []  # the walk answered the waiting one
    assert book.outcomes() == {"wmA": "walked", "wmB": "walked"}


def test_a_failure_waits_its_backoff_and_is_never_given_up(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1")), now().timestamp())
    for n in range(1, 30):
        [due] = book.due(now().timestamp(), 10)
        assert due.failures == n - 1
        later = now().timestamp() + 60
        book.record([], [Failure("wmA", later, "http_5xx: HTTP 503")], now().timestamp())
        assert book.due(now().timestamp(), 10) == []
        now.advance(timedelta(seconds=61))
    assert book.backlog().waiting == 1
    # the age of the oldest waiting contact counts from when it started waiting
    assert book.backlog().oldest_since == clock()().timestamp()


def test_busy_contacts_are_not_handed_out_twice(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(*[(f"wm{i}", "e1") for i in range(5)]), now().timestamp())
    first = book.due(now().timestamp(), 2)
    rest = book.due(now().timestamp(), 10, busy={d.external_userid for d in first})
    assert {d.external_userid for d in first}.isdisjoint(d.external_userid for d in rest)
    assert len(first) + len(rest) == 5


def test_offsets_are_stored_with_the_rows_and_replays_are_skipped(tmp_path: Path) -> None:
    now = clock()
    book = ledger(tmp_path)
    book.fold(TOPIC, adds(("wmA", "e1"), ("wmB", "e1")), now().timestamp())
    book.fold(TOPIC, adds(("wmC", "e2"), partition=1), now().timestamp())
    book.record([Answered("wmA", ("e1",), "profiled")], [], now().timestamp())
    # a rebalance delivers offset 0 again: skipped, wmA stays answered
    applied = book.fold(TOPIC, adds(("wmA", "e9"), start=0), now().timestamp())
    assert applied == 0
    book.close()
    reopened = ledger(tmp_path)
    assert reopened.offsets(TOPIC) == {0: 2, 1: 1}
    assert {d.external_userid for d in reopened.due(now().timestamp(), 10)} == {"wmB", "wmC"}


def test_a_file_per_topic(tmp_path: Path) -> None:
    assert ledger_path(tmp_path, TOPIC).name == f"{TOPIC}.sqlite3"
    assert ledger_path(tmp_path, "a/b c").name == "a_b_c.sqlite3"


def event(change: ChangeType, origin: str = "callback") -> bytes:
    return ContactEvent.model_validate(
        {
            "change_type": change,
            "employee_id": "e1",
            "external_userid": "wmA",
            "occurred_at": 1_790_000_000,
            "origin": origin,
        }
    ).to_json()


def test_adds_and_edits_want_a_lookup_deletes_and_garbage_do_not() -> None:
    assert want_of(event(ChangeType.ADD)) == Want("wmA", "e1")
    assert want_of(event(ChangeType.ADD_HALF)) == Want("wmA", "e1")
    assert want_of(event(ChangeType.EDIT, origin="bank")) == Want("wmA", "e1")
    assert want_of(event(ChangeType.ADD, origin="reconciliation")) == Want("wmA", "e1", True)
    assert want_of(event(ChangeType.DELETE_BY_CUSTOMER)) is None
    assert want_of(event(ChangeType.TRANSFER_FAIL)) is None
    assert want_of(b"not json") is None
    assert want_of(None) is None
    assert want_of(b'{"type": "employee"}') is None

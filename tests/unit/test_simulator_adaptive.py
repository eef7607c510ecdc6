"""The adaptive gamers and the newer honest kinds (issue #20) produce the structure they claim:
behaving bought accounts greet within minutes, chat on a regular script and never leave;
prospectors' contacts write at irregular human latencies; a spread pile-up lies in the last
seven days; late deletes fall just after the retention window; and contact facts (not written
yet, deleted by the customer) stay apart from the accusations."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any

import pytest

from shared.calendar import local_date
from shared.schemas import parse_record
from tools.simulator import Scenario, SimulationConfig, contact_statuses, generate, is_gaming
from tools.simulator.adaptive import GREET_WITHIN_SECONDS, LATE_DELETE_AFTER
from tools.simulator.labels import (
    GAMING_KINDS,
    HONEST_KINDS,
    Adaptive,
    ContactFact,
    HardNegative,
    hard_negative_label,
    is_caught,
)
from tools.simulator.scenario import contact_facts
from tools.simulator.validity import RETENTION

SIZE = 60


@cache
def scenario(camouflage: int = 1, seed: int = 7) -> Scenario:
    return generate(SimulationConfig(seed=seed, employees=SIZE, camouflage=camouflage))


def at(record: dict[str, Any]) -> datetime:
    if record["type"] == "contact_event":
        return datetime.fromtimestamp(record["CreateTime"], UTC)
    return datetime.fromisoformat(record["sent_at"])


def people(s: Scenario, label: str) -> list[str]:
    return [e for e, lab in s.labels.employees.items() if lab == label]


def relations(s: Scenario, label: str) -> list[tuple[str, str]]:
    return [key for key, lab in s.labels.contacts.items() if lab == label]


def first_adds(s: Scenario) -> dict[tuple[str, str], datetime]:
    found: dict[tuple[str, str], datetime] = {}
    for r in s.contact_events:
        if r["ChangeType"].startswith("add_"):
            found.setdefault((r["UserID"], r["ExternalUserID"]), at(r))
    return found


def messages(s: Scenario) -> dict[tuple[str, str], list[tuple[datetime, str]]]:
    found: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for r in s.records:
        if r["type"] == "message" and r["kind"] == "one_to_one":
            found[(r["employee_id"], r["external_userid"])].append((at(r), r["direction"]))
    for chat in found.values():
        chat.sort()
    return found


def deletes(s: Scenario) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in s.contact_events:
        if r["ChangeType"].startswith("del_"):
            found[(r["UserID"], r["ExternalUserID"])].append(r)
    return found


def links(s: Scenario) -> dict[str, list[bool]]:
    found: dict[str, list[bool]] = defaultdict(list)
    for r in s.records:
        if r["type"] == "customer_link":
            found[r["external_userid"]].append(r["is_customer"])
    return found


@pytest.mark.parametrize("camouflage", [0, 1, 2])
def test_every_kind_is_present_labelled_and_valid(camouflage: int) -> None:
    s = scenario(camouflage)
    for kind in Adaptive:
        assert people(s, kind.value), kind
        mine = relations(s, kind.value)
        assert len(mine) >= 8, kind
        assert {e for e, _ in mine} <= set(people(s, kind.value)), kind
    for honest in (
        HardNegative.PROSPECTOR,
        HardNegative.INHERITED_BOOK,
        HardNegative.HOLIDAY_EVENT,
    ):
        label = hard_negative_label(honest)
        assert people(s, label), honest
        assert relations(s, label), honest
    assert set(s.labels.employees.values()) <= GAMING_KINDS | HONEST_KINDS
    assert {r["type"] for r in s.records} >= {"staff_account"}
    for record in s.records:
        parse_record(record)


def test_a_small_bank_holds_only_the_original_kinds() -> None:
    s = generate(SimulationConfig(seed=3, employees=30))
    assert not set(s.labels.employees.values()) & set(Adaptive.__members__)


def test_behaving_bought_greet_within_minutes_chat_on_a_script_and_never_leave() -> None:
    s = scenario()
    added, chats, gone, linked = first_adds(s), messages(s), deletes(s), links(s)
    bought = relations(s, Adaptive.BEHAVING_BOUGHT)
    for key in bought:
        chat = chats[key]
        greeting = next(t for t, d in chat if d == "from_customer")
        assert chat[0][1] == "from_customer"
        assert timedelta(0) < greeting - added[key] <= timedelta(seconds=GREET_WITHIN_SECONDS)
        assert key not in gone
        assert not any(linked.get(key[1], []))  # never linked as a customer
        latencies = [
            (b - a).total_seconds()
            for (a, da), (b, db) in pairwise(chat)
            if da == "to_customer" and db == "from_customer" and b - a < timedelta(hours=1)
        ]
        if len(latencies) >= 3:  # the script's latency, within ±10 % (a session start aside)
            middle = statistics.median(latencies)
            on_script = [x for x in latencies if abs(x - middle) <= 0.2 * middle]
            assert len(on_script) >= 0.75 * len(latencies)
    by_employee: dict[str, set[Any]] = defaultdict(set)
    for emp, ext in bought:
        by_employee[emp].add(local_date(added[(emp, ext)]))
    for days in by_employee.values():
        assert 2 <= len(days) <= 5 and (max(days) - min(days)).days <= 5
    early = [k for k in bought if s.clock.end - added[k] > timedelta(days=21)]
    long_chats = [k for k in early if chats[k][-1][0] - added[k] >= timedelta(days=14)]
    assert early and len(long_chats) >= 0.8 * len(early)


def test_prospectors_contacts_are_mostly_not_customers_and_write_like_people() -> None:
    s = scenario()
    added, chats, linked = first_adds(s), messages(s), links(s)
    for emp in people(s, hard_negative_label(HardNegative.PROSPECTOR)):
        mine = [k for k in added if k[0] == emp]
        not_matched = [k for k in mine if True not in linked.get(k[1], [])[:1]]
        assert 0.55 <= len(not_matched) / len(mine) <= 0.9
        first_replies, wrote_first, silent = [], 0, 0
        for key in mine:
            chat = chats.get(key, [])
            heard = [t for t, d in chat if d == "from_customer"]
            if not heard:
                silent += 1
                continue
            first_replies.append((heard[0] - added[key]).total_seconds())
            wrote_first += chat[0][1] == "from_customer"
        assert silent >= 0.1 * len(mine) and wrote_first >= 5
        assert statistics.pstdev(first_replies) / statistics.mean(first_replies) > 1.0
        assert max(first_replies) > 86400 and min(first_replies) < 3600
    later = [
        ext for ext, verdicts in linked.items() if verdicts[:1] == [False] and True in verdicts
    ]
    assert later, "some prospects open an account later in the month"


def test_spread_pileup_lies_in_the_last_seven_days_not_only_the_last_three() -> None:
    s = scenario()
    added = first_adds(s)
    days = {local_date(added[k]) for k in relations(s, Adaptive.SPREAD_PILEUP)}
    assert days <= set(s.clock.last_days(7))
    assert len(days) >= 5 and not days <= set(s.clock.last_days(3))


def test_late_deletes_fall_just_after_the_retention_window_and_counted() -> None:
    s = scenario()
    added, gone = first_adds(s), deletes(s)
    statuses = contact_statuses(s.records, s.as_of, s.clock.period)
    for key in relations(s, Adaptive.LATE_DELETE):
        (event,) = gone[key]
        assert event["ChangeType"] == "del_external_contact"
        delay = at(event) - added[key]
        assert RETENTION < delay <= RETENTION + LATE_DELETE_AFTER[1] + timedelta(minutes=1)
        assert statuses[key] == "valid"


def test_slow_drip_adds_a_few_every_day_working_or_not() -> None:
    s = scenario()
    added = first_adds(s)
    for emp in people(s, Adaptive.SLOW_DRIP):
        per_day = Counter(
            local_date(added[k]) for k in relations(s, Adaptive.SLOW_DRIP) if k[0] == emp
        )
        assert len(per_day) >= 0.9 * len(s.clock.days) and max(per_day.values()) <= 5
        assert any(not s.clock.is_working_day(d) for d in per_day)


def test_team_ring_members_share_one_team_and_their_contacts() -> None:
    s = scenario()
    team = {r["employee_id"]: r["team_id"] for r in s.records if r["type"] == "employee"}
    (ring,) = s.labels.team_rings
    assert len({team[m] for m in ring}) == 1 and set(ring) == set(people(s, Adaptive.TEAM_RING))
    shared = Counter(ext for _, ext in relations(s, Adaptive.TEAM_RING))
    assert sum(1 for n in shared.values() if n >= 2) >= 10


def test_staff_padding_adds_staff_of_other_branches_declared_or_not() -> None:
    s = scenario()
    branch = {r["employee_id"]: r["branch_id"] for r in s.records if r["type"] == "employee"}
    declared = {r["unionid"]: r["employee_id"] for r in s.records if r["type"] == "staff_account"}
    unionid = {
        r["external_userid"]: r["unionid"] for r in s.records if r["type"] == "contact_profile"
    }
    statuses = contact_statuses(s.records, s.as_of, s.clock.period)
    padding = relations(s, Adaptive.STAFF_PADDING)
    caught = [k for k in padding if unionid[k[1]] in declared]
    assert caught and len(caught) < len(padding)
    for emp, ext in caught:
        assert branch[declared[unionid[ext]]] != branch[emp]
        assert statuses[(emp, ext)] == "invalid"
    assert any(statuses[k] != "invalid" for k in padding if k not in caught)


def test_inherited_book_and_holiday_event_are_bursts_of_real_customers() -> None:
    s = scenario()
    linked = links(s)
    profiles = {
        (r["employee_id"], r["external_userid"]): r
        for r in s.records
        if r["type"] == "contact_profile"
    }
    added = first_adds(s)
    for emp in people(s, hard_negative_label(HardNegative.INHERITED_BOOK)):
        book = [k for k in added if k[0] == emp and profiles[k]["add_way"] == 202]
        times = [added[k] for k in book]
        assert len(book) >= 30 and max(times) - min(times) <= timedelta(minutes=5)
        assert sum(True in linked.get(ext, []) for _, ext in book) >= 0.8 * len(book)
    for emp in people(s, hard_negative_label(HardNegative.HOLIDAY_EVENT)):
        event = [
            k for k in added if k[0] == emp and (profiles[k]["state"] or "").startswith("event_")
        ]
        times = [added[k] for k in event]
        assert len(event) >= 40 and max(times) - min(times) <= timedelta(minutes=90)
        assert not s.clock.is_working_day(local_date(times[0]))
        assert sum(True in linked.get(ext, []) for _, ext in event) >= 0.8 * len(event)


def test_facts_stay_apart_from_accusations() -> None:
    s = scenario()
    facts = s.labels.facts
    quiet_honest = [
        key
        for key, label in s.labels.contacts.items()
        if not is_gaming(label) and ContactFact.NOT_WRITTEN_YET.value in facts.get(key, ())
    ]
    assert len(quiet_honest) > 100  # genuine contacts who have not written: honest, not gamed
    assert {f for fs in facts.values() for f in fs} <= {f.value for f in ContactFact}
    records = [
        {"type": "message", "direction": "from_customer", "kind": "one_to_one",
         "employee_id": "a", "external_userid": "x"},
        {"type": "message", "direction": "to_customer", "kind": "one_to_one",
         "employee_id": "a", "external_userid": "y"},
        {"type": "contact_event", "ChangeType": "del_follow_user", "UserID": "a",
         "ExternalUserID": "x"},
    ]  # fmt: skip
    labels = {("a", "x"): "clean", ("a", "y"): "clean"}
    assert contact_facts(records, labels) == {
        ("a", "x"): ("deleted_by_customer",),
        ("a", "y"): ("not_written_yet",),
    }


def test_any_code_catches_an_adaptive_gamer_a_known_pattern_needs_its_own() -> None:
    assert is_caught("BEHAVING_BOUGHT", True, frozenset({"NO_ENGAGEMENT"}))
    assert not is_caught("BEHAVING_BOUGHT", False, frozenset({"NO_ENGAGEMENT"}))
    assert not is_caught("QUICK_DELETE", True, frozenset({"NO_ENGAGEMENT"}))
    assert is_caught("MUTUAL_ADD_RING", True, frozenset({"SHARED_CONTACTS"}))
    assert not is_caught("clean", True, frozenset({"NO_ENGAGEMENT"}))

"""The bank-month simulator: deterministic, valid records, every pattern and hard negative
present with ground truth at each camouflage level, and a realistic calendar rhythm."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from shared.calendar import local_date
from shared.schemas import ContactEvent, parse_record
from tools.simulator import (
    CLEAN,
    HardNegative,
    Pattern,
    Scenario,
    SimulationConfig,
    contact_statuses,
    generate,
    is_gaming,
)
from tools.simulator.feed import event_time
from tools.simulator.labels import accepted_codes, hard_negative_label

SIZE = 40
LEVELS = (0, 1, 2)
MAKE_UP_SATURDAY = date(2026, 10, 10)
NEWER_HONEST = {HardNegative.PROSPECTOR, HardNegative.INHERITED_BOOK, HardNegative.HOLIDAY_EVENT}
GOLDEN_WEEK = [date(2026, 10, d) for d in range(1, 8)]


@cache
def scenario(camouflage: int, seed: int = 7) -> Scenario:
    return generate(SimulationConfig(seed=seed, employees=SIZE, camouflage=camouflage))


def adds(s: Scenario) -> list[dict[str, Any]]:
    return [r for r in s.contact_events if r["ChangeType"].startswith("add_")]


def when(record: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(event_time(record), UTC)


def employees_labelled(s: Scenario, label: str) -> list[str]:
    return [emp for emp, lab in s.labels.employees.items() if lab == label]


def contacts_labelled(s: Scenario, label: str) -> list[tuple[str, str]]:
    return [key for key, lab in s.labels.contacts.items() if lab == label]


# --- determinism and shape ------------------------------------------------------------------


def test_same_seed_same_records_other_seed_other_records() -> None:
    config = SimulationConfig(seed=3, employees=30, camouflage=1)
    first, again = generate(config), generate(config)
    assert first.records == again.records
    assert first.labels == again.labels
    assert first.expected == again.expected
    other = generate(SimulationConfig(seed=4, employees=30, camouflage=1))
    assert other.records != first.records
    ids = {r["ExternalUserID"] for r in first.contact_events}
    assert not ids & {r["ExternalUserID"] for r in other.contact_events}


@pytest.mark.parametrize("camouflage", LEVELS)
def test_every_record_validates(camouflage: int) -> None:
    s = scenario(camouflage)
    kinds = Counter(r["type"] for r in s.records)
    assert set(kinds) == {
        "employee",
        "target",
        "customer_link",
        "message",
        "contact_profile",
        "contact_event",
    }
    for record in s.records:
        parse_record(record)


def test_contact_events_speak_the_callback_and_are_separable() -> None:
    s = scenario(1)
    assert len(s.contact_events) + len(s.bank_records) == len(s.records)
    for event in s.contact_events:
        assert event["ToUserName"] == s.config.corp_id
        assert isinstance(event["CreateTime"], int)
        assert {"ChangeType", "UserID", "ExternalUserID"} <= event.keys()
        assert isinstance(parse_record(event), ContactEvent)
    sources = {e.get("Source") for e in s.contact_events if "Source" in e}
    assert sources == {"DELETE_BY_TRANSFER"}
    changes = Counter(e["ChangeType"] for e in s.contact_events)
    assert {
        "add_external_contact",
        "add_half_external_contact",
        "del_external_contact",
        "del_follow_user",
    } <= set(changes)


def test_ids_look_like_wecom_and_employee_ids_like_pinyin() -> None:
    s = scenario(1)
    for event in s.contact_events:
        assert re.fullmatch(r"wm[A-Za-z0-9_-]{28}", event["ExternalUserID"])
    for record in s.records:
        if record["type"] == "employee":
            assert re.fullmatch(r"[a-z]+\d{2}", record["employee_id"])


def test_records_are_time_ordered_and_inside_the_month() -> None:
    s = scenario(1)
    times = [event_time(r) for r in s.records]
    assert times == sorted(times)
    start, end = s.clock.start.timestamp(), s.clock.end.timestamp()
    assert all(start <= t < end for t in times)


def test_org_tree_supervisor_chain_robots_and_targets() -> None:
    s = generate(SimulationConfig(seed=2, employees=60, robot_base="http://127.0.0.1:9100"))
    staff = {r["employee_id"]: r for r in s.records if r["type"] == "employee"}
    assert len(staff) == 60
    roles = Counter(r["role"] for r in staff.values())
    assert {"customer_manager", "teller", "team_lead", "branch_head"} == set(roles)
    for record in staff.values():
        boss, hops = record["supervisor_id"], 0
        while boss is not None:
            boss, hops = staff[boss]["supervisor_id"], hops + 1
        assert hops <= 2
        if record["role"] != "branch_head":
            assert record["robot_webhook"].startswith(
                "http://127.0.0.1:9100/cgi-bin/webhook/send?key="
            )
    targets = [r for r in s.records if r["type"] == "target"]
    scopes = Counter(t["scope"] for t in targets)
    assert scopes["role"] == 4 and scopes["team"] >= 1 and scopes["employee"] >= 2
    assert {t["period"] for t in targets} == {"2026-10"}


# --- ground truth ---------------------------------------------------------------------------


@pytest.mark.parametrize("camouflage", LEVELS)
def test_every_pattern_is_present_with_employee_and_contact_labels(camouflage: int) -> None:
    s = scenario(camouflage)
    for pattern in Pattern:
        gamers = employees_labelled(s, pattern.value)
        contacts = contacts_labelled(s, pattern.value)
        assert gamers, pattern
        assert len(contacts) >= 8, pattern
        assert {emp for emp, _ in contacts} <= set(gamers), pattern
        assert accepted_codes(pattern.value)
    staff = {r["employee_id"] for r in s.records if r["type"] == "employee"}
    assert set(s.labels.employees) == staff
    assert set(s.labels.contacts) == {(e["UserID"], e["ExternalUserID"]) for e in adds(s)}


@pytest.mark.parametrize("camouflage", LEVELS)
def test_gamers_at_level_one_and_two_also_work_honestly(camouflage: int) -> None:
    s = scenario(camouflage)
    honest_share = []
    for pattern in Pattern:
        for emp in employees_labelled(s, pattern.value):
            mine = [lab for (e, _), lab in s.labels.contacts.items() if e == emp]
            honest_share.append(mine.count(CLEAN) / len(mine))
    if camouflage == 0:
        assert statistics.mean(honest_share) < 0.4
    else:
        assert statistics.mean(honest_share) > 0.4


@pytest.mark.parametrize("camouflage", LEVELS)
def test_pattern_signatures_hold_in_the_records(camouflage: int) -> None:
    s = scenario(camouflage)
    by_relation: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in s.contact_events:
        by_relation[(event["UserID"], event["ExternalUserID"])].append(event)
    profiles = {r["external_userid"]: r for r in s.records if r["type"] == "contact_profile"}
    statuses = contact_statuses(s.records, s.as_of, s.clock.period)

    # QR_BATCH_BURST: at least 15 adds through one state within three hours.
    for emp in employees_labelled(s, Pattern.QR_BATCH_BURST):
        bought = [
            by_relation[k][0] for k in contacts_labelled(s, Pattern.QR_BATCH_BURST) if k[0] == emp
        ]
        per_state: dict[str, list[int]] = defaultdict(list)
        for event in bought:
            per_state[event["State"]].append(event["CreateTime"])
        assert any(len(ts) >= 15 and max(ts) - min(ts) <= 3 * 3600 for ts in per_state.values())

    # PEER_INSTITUTION: WeCom users of financial institutions, never valid.
    for key in contacts_labelled(s, Pattern.PEER_INSTITUTION):
        profile = profiles[key[1]]
        assert profile["contact_type"] == 2
        assert re.search("银行|农商|信用社|证券|保险", profile["corp_name"])
        assert statuses[key] == "invalid"

    # MUTUAL_ADD_RING: members of distinct teams sharing one pool of contacts.
    team = {r["employee_id"]: r["team_id"] for r in s.records if r["type"] == "employee"}
    for ring in s.labels.rings:
        assert len({team[m] for m in ring}) >= len(ring) - 1
        pool = Counter(
            ext for (emp, ext) in contacts_labelled(s, Pattern.MUTUAL_ADD_RING) if emp in ring
        )
        assert sum(1 for n in pool.values() if n >= 2) >= 10

    # QUICK_DELETE: every such relation is removed within seven days of the add.
    for key in contacts_labelled(s, Pattern.QUICK_DELETE):
        events = by_relation[key]
        first = events[0]["CreateTime"]
        removed = [e["CreateTime"] for e in events if e["ChangeType"].startswith("del_")]
        assert removed and min(removed) - first < 7 * 86400
        assert statuses[key] == "invalid"

    # PERIOD_END_PILEUP: those adds all fall in the month's last three days.
    last_days = set(s.clock.last_days(3))
    for key in contacts_labelled(s, Pattern.PERIOD_END_PILEUP):
        assert local_date(when(by_relation[key][0])) in last_days

    # NO_ENGAGEMENT: (nearly) no customer ever writes.
    spoke = {
        (r["employee_id"], r["external_userid"])
        for r in s.records
        if r["type"] == "message" and r["direction"] == "from_customer"
    }
    silent = contacts_labelled(s, Pattern.NO_ENGAGEMENT)
    assert sum(k in spoke for k in silent) / len(silent) <= (0.0, 0.0, 0.15)[camouflage]


@pytest.mark.parametrize("camouflage", LEVELS)
def test_hard_negatives_are_present_honest_and_look_the_part(camouflage: int) -> None:
    s = scenario(camouflage)
    for kind in HardNegative:
        if kind in NEWER_HONEST:
            continue  # a 40-person bank has no room for them (test_simulator_adaptive.py)
        people = employees_labelled(s, hard_negative_label(kind))
        assert people, kind
        assert not any(is_gaming(s.labels.employees[p]) for p in people)
    assert not any(
        is_gaming(lab)
        for (emp, _), lab in s.labels.contacts.items()
        if s.labels.employees[emp].startswith("hard_negative:")
    )

    linked = {
        r["external_userid"]: r["is_customer"] for r in s.records if r["type"] == "customer_link"
    }
    spoke = {
        (r["employee_id"], r["external_userid"])
        for r in s.records
        if r["type"] == "message" and r["direction"] == "from_customer"
    }
    for emp in employees_labelled(s, hard_negative_label(HardNegative.BRANCH_EVENT)):
        event_adds = [a for a in adds(s) if a["UserID"] == emp and a["State"].startswith("event_")]
        assert len(event_adds) >= 35
        times = [a["CreateTime"] for a in event_adds]
        assert max(times) - min(times) <= 3600
        matched = sum(linked.get(a["ExternalUserID"], False) for a in event_adds)
        replied = sum((emp, a["ExternalUserID"]) in spoke for a in event_adds)
        assert matched >= 0.8 * len(event_adds) and replied >= 0.5 * len(event_adds)

    middle = s.clock.start + (s.clock.end - s.clock.start) / 2
    for emp in employees_labelled(s, hard_negative_label(HardNegative.NEW_HIRE)):
        times = [when(a) for a in adds(s) if a["UserID"] == emp]
        assert sum(t >= middle for t in times) > 2 * sum(t < middle for t in times)

    team = {r["employee_id"]: r["team_id"] for r in s.records if r["type"] == "employee"}
    pushing = employees_labelled(s, hard_negative_label(HardNegative.TEAM_MONTH_END))
    assert len({team[p] for p in pushing}) == 1
    assert len(pushing) == sum(1 for t in team.values() if t == team[pushing[0]])

    gross = {emp: q.gross_adds for emp, q in s.expected.items()}
    clean_median = statistics.median(gross[e] for e in employees_labelled(s, CLEAN))
    for emp in employees_labelled(s, hard_negative_label(HardNegative.TOP_PERFORMER)):
        assert gross[emp] > 1.5 * clean_median


# --- rhythm ---------------------------------------------------------------------------------


def test_adds_follow_working_hours_working_days_and_make_up_days() -> None:
    s = scenario(1)
    moments = [when(a) for a in adds(s)]
    in_hours = sum(s.clock.in_working_hours(t) for t in moments)
    assert in_hours / len(moments) > 0.7
    per_day = Counter(local_date(t) for t in moments)
    holiday_mean = statistics.mean(per_day[d] for d in GOLDEN_WEEK)
    working_mean = statistics.mean(per_day[d] for d in s.clock.working_days)
    assert working_mean > 3 * holiday_mean
    assert s.clock.is_working_day(MAKE_UP_SATURDAY)
    assert per_day[MAKE_UP_SATURDAY] > 3 * holiday_mean


def test_customers_reply_within_a_week_and_employees_answer() -> None:
    s = scenario(1)
    first_add: dict[tuple[str, str], datetime] = {}
    for event in adds(s):
        first_add.setdefault((event["UserID"], event["ExternalUserID"]), when(event))
    messages = [r for r in s.records if r["type"] == "message"]
    kinds = Counter((m["direction"], m["kind"]) for m in messages)
    assert kinds[("to_customer", "mass")] > 0 and kinds[("from_customer", "one_to_one")] > 0
    clean = [k for k, lab in s.labels.contacts.items() if lab == CLEAN]
    replied = {
        (m["employee_id"], m["external_userid"])
        for m in messages
        if m["direction"] == "from_customer"
        and when(m) - first_add[(m["employee_id"], m["external_userid"])] <= timedelta(days=7)
    }
    assert 0.45 < sum(k in replied for k in clean) / len(clean) < 0.8


def test_tail_days_let_follow_ups_run_past_the_month() -> None:
    s = generate(SimulationConfig(seed=5, employees=30, camouflage=0, tail_days=8))
    assert s.as_of == s.clock.end + timedelta(days=8)
    late = [r for r in s.records if event_time(r) >= s.clock.end.timestamp()]
    assert {r["type"] for r in late} >= {"message", "contact_event"}
    assert all(event_time(r) < s.as_of.timestamp() for r in late)
    assert not any(r["ChangeType"].startswith("add_") for r in late if r["type"] == "contact_event")
    assert all(q.pending_adds == 0 for q in s.expected.values())  # every window has closed


def test_too_small_or_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        SimulationConfig(employees=10)
    with pytest.raises(ValueError, match="camouflage"):
        SimulationConfig(camouflage=3)

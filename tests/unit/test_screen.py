"""The screen (services/scorer/domain/screen.py): every signal `anomaly.assess` finds is one the
screen said could fire, so an employee screened quiet has exactly the empty result `assess`
gives, and its relations need not be read. Random streams near every signal's threshold, and
the simulator's months (honest and gamed employees of every kind), on seeds and a period kind
the screen was not written against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.scorer.domain.anomaly import AnomalyResult, PeerBaseline
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.screen import (
    Screen,
    loud,
    screen_of,
    scripted_closed,
    signs,
    talker,
)
from services.scorer.domain.surprise import Spread
from services.scorer.domain.validity import ContactFacts, ContactVerdict, Removal
from services.scorer.inputs import Overlap
from services.scorer.scoring import WEEK_TAIL_DAYS, Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from shared.schemas import DELETE_BY_TRANSFER
from tools.evaluate.replay import assessments
from tools.simulator import SimulationConfig, generate

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTH = parse_period("2026-09")
START = MONTH.start_at(SHANGHAI)
NOW = datetime(2026, 9, 29, 4, 0, tzinfo=UTC)
SCORER = Scorer(
    ScoringRules(), BusinessCalendar(tz=SHANGHAI), clock=ManualClock(NOW), inputs_group=""
)
RETENTION = SCORER.rules.retention_window
# a few moments, so that bursts (eight adds of a channel within two hours) and ties are common,
# some in the month's last working days
MOMENTS = [
    timedelta(days=d, hours=h, minutes=m)
    for d in (2, 9, 26, 28)
    for h in (2, 3, 14)
    for m in (0, 1, 50)
]


@st.composite
def relation(draw: st.DrawFn, i: int) -> tuple[ContactFacts, ChatTrace | None]:
    added = START + draw(st.sampled_from(MOMENTS))
    msgs = draw(st.sampled_from([0, 0, 1, 2, 3, 6, 6]))
    peer = draw(st.integers(0, 9)) == 0
    removals = tuple(
        Removal(
            added + timedelta(hours=draw(st.sampled_from([1, 30, 24 * 7 + 3, 24 * 12]))),
            draw(st.sampled_from(["employee", "customer"])),
            draw(st.sampled_from([None, None, DELETE_BY_TRANSFER])),
        )
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))
    )
    facts = ContactFacts(
        employee_id="e1",
        external_userid=f"wm{i:03d}",
        first_added_at=added,
        add_count=draw(st.sampled_from([1, 1, 1, 2])),
        contact_type=2 if peer else 1,
        corp_name="某某银行" if peer else None,
        is_customer=draw(st.sampled_from([None, False, False, True])),
        state=draw(st.sampled_from([None, "qr1", "qr1", "qr2"])),
        add_way=draw(st.sampled_from([1, 3])),
        first_customer_msg_at=added + timedelta(minutes=5) if msgs else None,
        customer_msgs=msgs,
        one_to_one_msgs=draw(st.integers(0, 3)),
        profile_found=True,
        staff_account_of="e2" if draw(st.integers(0, 29)) == 0 else None,
        review=draw(st.sampled_from([None] * 12 + ["gamed", "genuine"])),
        campaign="fair" if draw(st.integers(0, 9)) == 0 else None,
        removals=removals,
    )
    if not msgs:
        return facts, None
    # the contact's one-to-one messages: at most those it wrote, often like clockwork (a
    # script), each answered by the employee
    regular = draw(st.booleans())
    at, messages = added + timedelta(minutes=5), []
    for k in range(msgs if regular else draw(st.integers(1, msgs))):
        messages.append((at, True))
        gap = timedelta(minutes=30) if regular else timedelta(minutes=draw(st.integers(1, 900)))
        messages.append((at + gap / 10, False))
        at += timedelta(hours=24 if regular else draw(st.integers(1, 60)), minutes=k % 2)
    return facts, ChatTrace(facts.external_userid, tuple(messages))


@st.composite
def employee_month(draw: st.DrawFn) -> tuple[list[ContactFacts], dict[str, ChatTrace]]:
    drawn = [draw(relation(i)) for i in range(draw(st.integers(0, 60)))]
    return [f for f, _ in drawn], {t.external_userid: t for _, t in drawn if t is not None}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    month=employee_month(),
    centre=st.sampled_from([0.05, 0.3, 0.6, 0.95]),
    sd=st.sampled_from([0.0, 0.05, 0.3]),
    per_day=st.sampled_from([0.0, 0.5, 3.0]),
    shared=st.dictionaries(st.sampled_from([f"wm{i:03d}" for i in range(60)]), st.integers(0, 3)),
    partners=st.dictionaries(st.sampled_from(["p1", "p2", "p3"]), st.integers(1, 5)),
    stated=st.sampled_from([None, None, "acquisition", "servicing"]),
    kind=st.sampled_from(["2026-09", "2026-W38", "2026-09-28", "2026-Q3"]),
)
def test_every_signal_assess_finds_the_screen_said_could_fire(
    month: tuple[list[ContactFacts], dict[str, ChatTrace]],
    centre: float,
    sd: float,
    per_day: float,
    shared: dict[str, int],
    partners: dict[str, int],
    stated: str | None,
    kind: str,
) -> None:
    facts, chats = month
    period = parse_period(kind)
    start, end = period.start_at(SHANGHAI), period.end_at(SHANGHAI)
    verdicts = SCORER.verdicts([f for f in facts if start <= f.first_added_at < end], NOW)
    baseline = PeerBaseline(Spread(centre, sd, 50), per_day, 1.2)
    overlap = Overlap(shared, partners)
    found = SCORER.assess(
        period,
        verdicts,
        baseline,
        NOW,
        overlap,
        None,
        SCORER.tail(period, NOW),
        chats,
        stated,
        SCORER.tail(period, NOW, WEEK_TAIL_DAYS),
    )
    screen = screen_of(verdicts, SCORER.pileup_start(period, NOW), RETENTION)
    may = loud(screen, baseline, shared, partners, None, (period.end - period.start).days, stated)
    may = scripted_closed(may, talkers_traces(verdicts, chats), SHANGHAI)
    fired = {r["code"] for r in found.reasons}
    for code in sorted(fired):
        event(f"fired {code}")
    event("quiet" if not may else "loud")
    assert fired <= set(may)
    if not may:
        assert found == AnomalyResult()


def talkers_traces(
    verdicts: Sequence[ContactVerdict], chats: Mapping[str, ChatTrace]
) -> list[ChatTrace]:
    """The chats of the `talker` contacts, as the screen reads them (`TALKER_TRACES_SQL`)."""
    return [
        chats[v.facts.external_userid]
        for v in verdicts
        if talker(v) and v.facts.external_userid in chats
    ]


def test_a_quiet_screen_is_the_empty_result_on_simulated_months() -> None:
    """Seeds 41 and 42 (the evaluation's tuning and held-out seeds are 1-10), both camouflage
    levels, assessed as the evaluation's replay does: most employees are screened quiet, and
    every one of them has no reason in full."""
    calendar, rules = BusinessCalendar(), ScoringRules()
    quiet = total = fired = 0
    for seed, camouflage in ((41, 0), (42, 1)):
        scenario = generate(SimulationConfig(seed=seed, camouflage=camouflage))
        period, tz = scenario.clock.period, calendar.tz
        now = period.end_at(tz) + timedelta(hours=1)
        scorer = Scorer(rules, calendar, clock=ManualClock(now), inputs_group="")
        start = scorer.pileup_start(period, now)
        for a in assessments(scenario, now):
            may = loud(
                screen_of(a.verdicts, start, rules.retention_window),
                a.baseline,
                a.overlap.shared,
                a.overlap.partners,
                a.block,
                (period.end - period.start).days,
            )
            may = scripted_closed(may, talkers_traces(a.verdicts, a.chats), tz)
            assert {r["code"] for r in a.result.reasons} <= set(may), a.employee_id
            total += 1
            fired += bool(a.result.reasons)
            if not may:
                quiet += 1
                assert a.result == AnomalyResult(), a.employee_id
    assert fired > 0
    # what the screen is for: most employees of a realistic month need no relation read
    assert quiet > total / 2, (quiet, total)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"peer": 2}, "PEER_INSTITUTION"),
        ({"staff": 1}, "STAFF_ACCOUNT"),
        ({"churned": 3}, "QUICK_DELETE"),
        ({"talkers": 5}, "SCRIPTED_CHAT"),
        ({"after_window": 5}, "DELETED_AFTER_WINDOW"),
        ({"tail_hollow": 8}, "PERIOD_END_PILEUP"),
        ({"burst_hollow": 8, "hollow": 8}, "QR_BATCH_BURST"),
        ({"hollow": 12}, "NO_ENGAGEMENT"),
        ({"silent": 14, "noncustomers": 11, "writers": 6}, "NO_ENGAGEMENT"),
        ({"unknown": 1}, "UNKNOWN"),
    ],
)
def test_each_bound_opens_the_screen_alone(changes: dict[str, int], code: str) -> None:
    """Twenty adds, a peer share of 0.2: quiet; each count at its signal's least opens it."""
    base = {"adds": 20, "hollow": 4, "silent": 4}
    baseline = PeerBaseline(Spread(0.2, 0.05, 50))
    assert loud(Screen(**base), baseline, {}, {}, None, 30) == []
    assert code in loud(Screen(**(base | changes)), baseline, {}, {}, None, 30)
    below = {k: v - 1 for k, v in changes.items() if k not in ("hollow", "silent")}
    if below:
        assert code not in loud(Screen(**(base | below)), baseline, {}, {}, None, 30)


def test_the_overlap_opens_the_screen() -> None:
    baseline = PeerBaseline()
    assert loud(Screen(), baseline, {"a": 2, "b": 2, "c": 2}, {}, None, 30) == ["SHARED_CONTACTS"]
    assert loud(Screen(), baseline, {"a": 2, "b": 2, "c": 1}, {}, None, 30) == []
    assert loud(Screen(), baseline, {}, {"p1": 3, "p2": 3}, None, 30) == ["MUTUAL_ADD_RING"]
    # a pile-up needs a period of a week and ten adds
    piled = Screen(adds=10, tail_hollow=8)
    assert loud(piled, baseline, {}, {}, None, 30) == ["PERIOD_END_PILEUP"]
    assert loud(piled, baseline, {}, {}, None, 1) == []


def test_signs_are_the_domain_predicates() -> None:
    added = START + timedelta(days=2)
    gone = Removal(added + RETENTION + timedelta(hours=3), "employee")
    facts = ContactFacts(
        "e1", "wm1", added, add_count=2, state=None, add_way=3, removals=(gone,), customer_msgs=1
    )
    (verdict,) = SCORER.verdicts([facts], NOW)
    assert signs(verdict, RETENTION) == {
        "channel": "add_way:3",
        "hollow": True,
        "silent": False,
        "peer": False,
        "quick": False,
        "re_added": True,
        "after_window": True,
    }

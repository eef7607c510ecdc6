"""Each anomaly signal on hand-made cases: one that must fire, one look-alike that must not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scorer.domain.anomaly import (
    AnomalyResult,
    EmployeeTally,
    PeerBaseline,
    PeriodTail,
    assess,
    day_hollow_medians,
    hollow_days,
    peer_baseline,
)
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.surprise import (
    Spread,
    beta_binomial_surprise,
    negative_binomial_surprise,
)
from services.scorer.domain.validity import ContactFacts, ContactVerdict, Removal, classify
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 14, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: off hours
END = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 29, tzinfo=UTC)
RULES = ScoringRules()


def verdicts(n: int, step: timedelta = timedelta(minutes=5), **kw: object) -> list[ContactVerdict]:
    out = []
    for i in range(n):
        base: dict[str, object] = {
            "employee_id": "e1",
            "external_userid": f"wm{i}",
            "first_added_at": START + i * step,
            "profile_found": True,
        }
        out.append(classify(ContactFacts(**{**base, **kw}), RULES, NOW))  # type: ignore[arg-type]
    return out


def codes(vs: list[ContactVerdict], shared: dict[str, int] | None = None) -> dict[str, float]:
    result = assess(vs, shared or {}, PeerBaseline(), END, 30, NOW, TZ)
    return {r["code"]: r["contribution"] for r in result.reasons}


def test_bought_batch_through_one_qr_code_fires() -> None:
    found = codes(verdicts(30, state="qr-777", is_customer=False))
    assert found["QR_BATCH_BURST"] >= 40
    assert "NO_ENGAGEMENT" in found


def test_branch_event_of_real_customers_stays_quiet() -> None:
    event = verdicts(
        40,
        step=timedelta(minutes=1),
        state="branch-fair",
        is_customer=True,
        first_customer_msg_at=START + timedelta(hours=3),
    )
    assert codes(event) == {}


def test_peer_institution_contacts_fire() -> None:
    peers = verdicts(5, contact_type=2, corp_name="某农商银行", is_customer=False)
    honest = verdicts(20, step=timedelta(hours=9), is_customer=True)
    assert "PEER_INSTITUTION" in codes(peers + honest)
    assert "PEER_INSTITUTION" not in codes(honest)


def test_shared_non_customers_fire_and_shared_customers_do_not() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=False)
    shared = {f"wm{i}": 3 for i in range(6)}
    assert "SHARED_CONTACTS" in codes(vs, shared)
    customers = verdicts(10, step=timedelta(hours=7), is_customer=True)
    assert "SHARED_CONTACTS" not in codes(customers, shared)


def test_quick_deletes_fire_and_late_deletes_do_not() -> None:
    quick = [
        classify(
            ContactFacts(
                "e1",
                f"wm{i}",
                START + i * timedelta(hours=9),
                removals=(
                    Removal(START + i * timedelta(hours=9) + timedelta(hours=5), "employee"),
                ),
            ),
            RULES,
            NOW,
        )
        for i in range(6)
    ]
    assert "QUICK_DELETE" in codes(quick + verdicts(10, step=timedelta(hours=9), is_customer=True))
    late = [
        classify(
            ContactFacts(
                "e1",
                f"wm{i}",
                START + i * timedelta(hours=9),
                is_customer=True,
                removals=(Removal(START + timedelta(days=20), "customer"),),
            ),
            RULES,
            NOW,
        )
        for i in range(6)
    ]
    assert "QUICK_DELETE" not in codes(late)


def test_month_end_pileup_of_poor_adds_fires_but_good_ones_do_not() -> None:
    early = verdicts(5, step=timedelta(days=2), is_customer=True)
    tail_start = END - timedelta(days=2)
    poor = [
        classify(ContactFacts("e1", f"tail{i}", tail_start + i * timedelta(hours=1)), RULES, NOW)
        for i in range(20)
    ]
    assert "PERIOD_END_PILEUP" in codes(early + poor)
    good = [
        classify(
            ContactFacts("e1", f"tail{i}", tail_start + i * timedelta(hours=1), is_customer=True),
            RULES,
            NOW,
        )
        for i in range(20)
    ]
    assert "PERIOD_END_PILEUP" not in codes(early + good)


def test_every_reason_has_evidence_and_the_employees_side() -> None:
    result = assess(verdicts(30, state="qr-1"), {}, PeerBaseline(), END, 30, NOW, TZ)
    assert result.score == min(100.0, sum(r["contribution"] for r in result.reasons))
    for reason in result.reasons:
        assert reason["evidence"]["in_favour"]["adds"] == 30
    # the burst is judged on the first 26 (the first add's ten minutes to the ten minutes two
    # hours on); the four after it come with no quiet ten minutes between: the burst going on,
    # accused with it (not counted in its surprise). NO_ENGAGEMENT accuses none of them again.
    assert result.contact_flags["wm0"] == ["QR_BATCH_BURST"]
    assert result.contact_flags["wm29"] == ["QR_BATCH_BURST"]
    burst = next(r for r in result.reasons if r["code"] == "QR_BATCH_BURST")["evidence"]
    assert burst["hollow_adds_in_bursts"] == 26
    assert burst["hollow_adds_as_bursts_went_on"] == 4
    assert burst["bursts"][0]["hollow_adds_as_it_went_on"] == 4
    assert burst["bursts"][0]["went_on_to"] == (START + timedelta(minutes=150)).isoformat()
    silence = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")
    assert silence["evidence"]["hollow_adds_other_signals_accuse"] == 30
    assert silence["evidence"]["accused_adds"] == 0


def test_a_burst_ends_at_a_quiet_ten_minutes_and_silence_accuses_what_follows() -> None:
    """Four adds of the burst's channel after a quiet ten minutes are not the burst: the
    excess of hollow adds accuses them (no real add: all of them are the excess)."""
    burst = verdicts(26, state="qr-1")
    later = [
        classify(
            ContactFacts("e1", f"wm{26 + i}", START + timedelta(minutes=140 + 5 * i), state="qr-1"),
            RULES,
            NOW,
        )
        for i in range(4)
    ]
    result = assess(burst + later, {}, PeerBaseline(), END, 30, NOW, TZ)
    assert result.contact_flags["wm25"] == ["QR_BATCH_BURST"]
    assert result.contact_flags["wm29"] == ["NO_ENGAGEMENT"]
    evidence = next(r for r in result.reasons if r["code"] == "QR_BATCH_BURST")["evidence"]
    assert evidence["hollow_adds_as_bursts_went_on"] == 0
    assert "went_on_to" not in evidence["bursts"][0]
    silence = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")
    assert silence["evidence"]["hollow_adds_other_signals_accuse"] == 26
    assert silence["evidence"]["accused_adds"] == 4


def test_a_burst_goes_on_only_until_the_next_burst_of_its_channel() -> None:
    """46 adds five minutes apart through one code are two bursts judged one after the other
    (26 and 20); the first's going on stops where the second starts."""
    result = assess(verdicts(46, state="qr-1"), {}, PeerBaseline(), END, 30, NOW, TZ)
    evidence = next(r for r in result.reasons if r["code"] == "QR_BATCH_BURST")["evidence"]
    assert evidence["hollow_adds_in_bursts"] == 46
    assert evidence["hollow_adds_as_bursts_went_on"] == 0
    assert all(result.contact_flags[f"wm{i}"] == ["QR_BATCH_BURST"] for i in range(46))


def test_a_dense_block_of_partners_fires_and_a_single_shared_neighbour_does_not() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=True)
    ring = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ, {"p1": 6, "p2": 5, "p3": 7, "p4": 4})
    assert ring.reasons[0]["code"] == "MUTUAL_ADD_RING"
    assert ring.score >= 40
    lone = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ, {"p1": 3})
    assert lone.score == 0


# --- over-dispersed surprise, peers, and the camouflaged patterns -------------------------------

PEERS = PeerBaseline(hollow_share=Spread(0.14, 0.05, 200), hollow_per_day=0.5)
OCT_TAIL = PeriodTail(datetime(2026, 10, 28, 16, 0, tzinfo=UTC), 3 / 22, days=3, early_days=19)
OCT_END = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)


def add(
    i: int, at: datetime, *, customer: bool | None = None, msgs: int = 0, **kw: object
) -> ContactVerdict:
    facts = ContactFacts(
        "e1",
        f"wm{i}",
        at,
        is_customer=customer,
        customer_msgs=msgs,
        first_customer_msg_at=at + timedelta(hours=2) if msgs else None,
        **kw,  # type: ignore[arg-type]
    )
    return classify(facts, RULES, NOW)


def honest_month(rate: int = 4, start: int = 0, days: int = 19) -> list[ContactVerdict]:
    """An honest employee's October before the last three working days: mostly matched
    customers, a few chatting prospects, one hollow add in six."""
    out = []
    for d in range(days):
        for k in range(rate):
            i = start + d * rate + k
            at = datetime(2026, 10, 8, 2, 0, tzinfo=UTC) + timedelta(days=d, hours=2 * k)
            kind = i % 6
            out.append(add(i, at, customer=kind < 4 or None, msgs=3 if kind == 4 else 0))
    return out


def october(vs: list[ContactVerdict], peers: PeerBaseline = PEERS) -> dict[str, float]:
    result = assess(vs, {}, peers, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    return {r["code"]: r["contribution"] for r in result.reasons}


def test_negative_binomial_is_less_surprised_than_poisson_by_a_busy_day() -> None:
    assert negative_binomial_surprise(0, 3.0, 2.0) == 0.0
    busy = negative_binomial_surprise(9, 3.0, 2.0)
    assert 1.0 < busy < 2.0  # about one day in thirty: a busy day, not a miracle
    near_poisson = negative_binomial_surprise(9, 3.0, 1e6)
    assert near_poisson > busy + 1
    assert negative_binomial_surprise(30, 3.0, 2.0) > negative_binomial_surprise(20, 3.0, 2.0)


def test_beta_binomial_judges_a_share_against_the_peers_spread() -> None:
    peers = Spread(0.14, 0.05)
    assert beta_binomial_surprise(14, 100, peers) < 0.5
    assert beta_binomial_surprise(45, 100, peers) > 4
    wide = Spread(0.14, 0.15)
    assert beta_binomial_surprise(45, 100, wide) < beta_binomial_surprise(45, 100, peers)


def test_peer_baseline_is_robust_to_the_gamers_among_the_peers() -> None:
    honest = [EmployeeTally(100, 14 + i % 5, 80, 12, 15) for i in range(40)]
    gamers = [EmployeeTally(100, 70, 40, 30, 60) for _ in range(4)]
    base = peer_baseline(honest + gamers, early_days=19, tail_days=3, known=PeerBaseline())
    assert 0.14 <= base.hollow_share.centre <= 0.18
    assert base.hollow_share.sd < 0.05
    assert base.hollow_per_day == 12 / 19
    assert 1.0 < base.tail_lift < 1.5
    assert peer_baseline(gamers, 19, 3, PeerBaseline()) == PeerBaseline()  # too few to judge


def test_cold_adds_far_above_the_peers_hollow_share_fire_no_engagement() -> None:
    honest = honest_month(rate=2)
    cold = [
        add(1000 + i, datetime(2026, 10, 8, 3, 0, tzinfo=UTC) + timedelta(hours=7 * i))
        for i in range(50)
    ]
    found = october(honest + cold)
    assert found["NO_ENGAGEMENT"] >= 40
    assert "NO_ENGAGEMENT" not in october(honest_month(rate=12))  # busy, in the same proportion


def test_silent_matched_customers_are_not_hollow() -> None:
    """Customers who never write back are normal (a salary-card holder added at the counter)."""
    quiet = [
        add(
            1000 + i,
            datetime(2026, 10, 8, 3, 0, tzinfo=UTC) + timedelta(hours=7 * i),
            customer=True,
        )
        for i in range(50)
    ]
    assert "NO_ENGAGEMENT" not in october(honest_month(rate=2) + quiet)


def test_no_engagement_accuses_nobody_when_the_excess_is_modest() -> None:
    # 40 matched customers and 30 hollow adds: the 40 real adds come with about 6.5 hollow
    # ones at the peers' share, so a hollow add is the excess a little under four times in
    # five; which ones are is unknowable, and silence alone accuses nobody
    customers = [
        add(
            100 + i, datetime(2026, 10, 8, 3, 0, tzinfo=UTC) + timedelta(hours=5 * i), customer=True
        )
        for i in range(40)
    ]
    cold = [
        add(
            i,
            datetime(2026, 10, 8, 4, 0, tzinfo=UTC) + timedelta(hours=7 * i),
            one_to_one_msgs=i % 2,
        )
        for i in range(30)
    ]
    result = assess(customers + cold, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    silence = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")
    assert silence["evidence"]["hollow_adds_own_real_adds_predict"] == 6.5
    assert not any("NO_ENGAGEMENT" in codes for codes in result.contact_flags.values())
    # ten more of them: 40 hollow adds, 6.5 of them honest work's, all accused
    more = [
        add(200 + i, datetime(2026, 10, 9, 4, 0, tzinfo=UTC) + timedelta(hours=7 * i))
        for i in range(10)
    ]
    result = assess(customers + cold + more, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    flagged = {c for c, codes in result.contact_flags.items() if "NO_ENGAGEMENT" in codes}
    assert flagged == {v.facts.external_userid for v in cold + more}


def test_no_engagement_flags_every_hollow_add_when_nearly_all_are_the_excess() -> None:
    cold = [
        add(
            i,
            datetime(2026, 10, 8, 3, 0, tzinfo=UTC) + timedelta(hours=7 * i),
            one_to_one_msgs=i % 2,
            msgs=1 if i % 3 == 0 else 0,
        )
        for i in range(60)
    ]
    result = assess(cold, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    flagged = {c for c, codes in result.contact_flags.items() if "NO_ENGAGEMENT" in codes}
    assert flagged == {f"wm{i}" for i in range(60)}
    reason = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")
    assert reason["evidence"]["share_of_hollow_adds_above_peers"] >= 0.8


def bought_burst(
    first: int, at: datetime, n: int = 20, state: str = "fund2610_e1"
) -> list[ContactVerdict]:
    """Bought accounts scanning a campaign code in office hours, each sending one message."""
    return [
        add(first + i, at + timedelta(minutes=5 * i), msgs=1, state=state, add_way=1)
        for i in range(n)
    ]


def test_three_camouflaged_bursts_in_office_hours_fire_together() -> None:
    honest = honest_month()
    bursts = [
        *bought_burst(1000, datetime(2026, 10, 9, 2, 0, tzinfo=UTC)),
        *bought_burst(2000, datetime(2026, 10, 15, 6, 0, tzinfo=UTC)),
        *bought_burst(3000, datetime(2026, 10, 21, 3, 0, tzinfo=UTC)),
    ]
    result = assess(honest + bursts, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    burst = next(r for r in result.reasons if r["code"] == "QR_BATCH_BURST")
    assert burst["contribution"] >= 40
    assert burst["evidence"]["hollow_adds_in_bursts"] == 60
    assert len(burst["evidence"]["bursts"]) == 3
    assert burst["evidence"]["off_hours_adds"] == 0
    flagged = {c for c, codes in result.contact_flags.items() if "QR_BATCH_BURST" in codes}
    assert flagged == {v.facts.external_userid for v in bursts}


def test_a_branch_event_of_matched_chatting_customers_is_no_burst() -> None:
    start = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    event = [
        add(
            1000 + i,
            start + timedelta(minutes=1.5 * i),
            customer=i % 15 != 0 or None,
            msgs=3,
            state="event_b1_1015",
            add_way=1,
        )
        for i in range(40)
    ]
    assert october(honest_month() + event) == {}


def month_end(first: int, n: int, hollow_every: int) -> list[ContactVerdict]:
    start = datetime(2026, 10, 29, 1, 0, tzinfo=UTC)
    return [
        add(first + i, start + timedelta(minutes=40 * i), customer=i % hollow_every != 0 or None)
        for i in range(n)
    ]


def test_a_camouflaged_month_end_pileup_fires() -> None:
    """Thirty adds in the last three days on top of an honest month: a third of them matched
    customers, the rest bought accounts that send one message each."""
    start = datetime(2026, 10, 29, 1, 0, tzinfo=UTC)
    pile = [
        add(1000 + i, start + timedelta(minutes=40 * i), customer=i % 3 == 0 or None, msgs=1)
        for i in range(30)
    ]
    result = assess(honest_month(rate=3) + pile, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    pileup = next(r for r in result.reasons if r["code"] == "PERIOD_END_PILEUP")
    assert pileup["contribution"] >= 40
    assert pileup["evidence"]["hollow_adds_in_last_working_days"] == 20
    assert pileup["evidence"]["own_hollow_adds_per_day_before"] == round(9 / 19, 2)


def test_a_teams_busy_month_end_of_real_customers_is_no_pileup() -> None:
    """Three and a half times the usual rate in the last days, in the usual quality."""
    assert "PERIOD_END_PILEUP" not in october(honest_month(rate=4) + month_end(1000, 42, 6))


def test_a_new_hire_ramping_up_is_no_pileup() -> None:
    ramp = honest_month(rate=1, days=19) + month_end(1000, 24, 6)
    assert october(ramp) == {}


def test_a_planted_block_is_ring_evidence_with_its_contacts() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=False)
    block = DenseBlock(("e1", "e7", "e9"), ("wm1", "wm2", "wm3", "other"), 1.2, 0.56, 11)
    result = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ, block=block)
    ring = result.reasons[0]
    assert ring["code"] == "MUTUAL_ADD_RING"
    assert ring["contribution"] >= 40
    assert ring["evidence"]["dense_block"]["other_employees"] == ["e7", "e9"]
    assert ring["evidence"]["dense_block"]["own_contacts_in_block"] == 3
    assert {c for c, codes in result.contact_flags.items() if "MUTUAL_ADD_RING" in codes} == {
        "wm1",
        "wm2",
        "wm3",
    }


def test_reasons_come_ordered_by_contribution_with_the_employees_side() -> None:
    honest = honest_month(rate=2)
    cold = [
        add(1000 + i, datetime(2026, 10, 8, 3, 0, tzinfo=UTC) + timedelta(hours=7 * i))
        for i in range(50)
    ]
    bursts = bought_burst(3000, datetime(2026, 10, 21, 3, 0, tzinfo=UTC), n=25)
    result = assess(honest + cold + bursts, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    contributions = [r["contribution"] for r in result.reasons]
    assert len(contributions) >= 2
    assert contributions == sorted(contributions, reverse=True)
    favour = result.reasons[0]["evidence"]["in_favour"]
    assert favour["matched_customers"] == sum(1 for v in honest if v.facts.is_customer)
    assert favour["conversations"] == sum(1 for v in honest if v.facts.customer_msgs >= 2)


def test_a_bank_wide_campaign_day_raises_every_expectation_but_one_gamer_moves_no_day() -> None:
    quiet = [
        EmployeeTally(40, 5, 40, 5, 5, hollow_by_day=((date(2026, 10, 9), 1),)) for _ in range(20)
    ]
    campaign = [
        EmployeeTally(40, 5, 40, 5, 5, hollow_by_day=((date(2026, 10, 15), 12),)) for _ in range(30)
    ]
    medians = day_hollow_medians(hollow_days(quiet + campaign), 50)
    assert medians == {date(2026, 10, 15): 12.0}
    gamer = EmployeeTally(40, 35, 40, 35, 5, hollow_by_day=((date(2026, 10, 16), 35),))
    everyone = [*quiet, *campaign, gamer]
    assert date(2026, 10, 16) not in day_hollow_medians(hollow_days(everyone), len(everyone))


@given(
    st.lists(st.lists(st.integers(0, 4), max_size=4), min_size=1, max_size=40),
)
def test_the_day_medians_from_counts_over_the_employees_are_the_medians_of_the_people(
    people: list[list[int]],
) -> None:
    """Each person's hollow adds on days 1-4 (0: none that day); the medians taken from how
    many people had how many are those of the list of people, zeros included."""
    days = [date(2026, 10, d) for d in range(1, 5)]
    tallies = [
        EmployeeTally(
            0, 0, 0, 0, 0, hollow_by_day=tuple((days[i], n) for i, n in enumerate(p) if n)
        )
        for p in people
    ]
    wanted = {
        d: m
        for i, d in enumerate(days)
        if (m := median([float(p[i]) if i < len(p) else 0.0 for p in people])) > 0
    }
    assert day_hollow_medians(hollow_days(tallies), len(tallies)) == wanted


def test_bursts_on_a_campaign_day_everyone_had_are_judged_against_that_day() -> None:
    honest = honest_month()
    bursts = bought_burst(1000, datetime(2026, 10, 15, 2, 0, tzinfo=UTC), n=14)
    alone = assess(honest + bursts, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    busy_day = replace(PEERS, day_hollow_median={date(2026, 10, 15): 12.0})
    shared = assess(honest + bursts, {}, busy_day, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    assert "QR_BATCH_BURST" in {r["code"] for r in alone.reasons}
    assert "QR_BATCH_BURST" not in {r["code"] for r in shared.reasons}


def test_while_the_month_runs_rates_are_per_working_day_worked_so_far() -> None:
    calendar = BusinessCalendar(None)
    mid = datetime(2026, 10, 16, 4, 0, tzinfo=UTC)  # noon in Shanghai
    scorer = Scorer(RULES, calendar, clock=ManualClock(mid), inputs_group="")
    october_2026 = parse_period("2026-10")
    running = scorer.tail(october_2026, mid)
    closed = scorer.tail(october_2026, datetime(2026, 11, 2, tzinfo=UTC))
    assert running is not None and closed is not None
    worked = calendar.working_days_elapsed(october_2026, mid)
    assert running.early_days == int(worked) < closed.early_days
    assert running.worked_days == worked
    assert closed.early_days == len(calendar.working_days(october_2026)) - 3


def test_staff_accounts_are_evidence_even_alone() -> None:
    one = verdicts(1, staff_account_of="e1")
    result = assess(one, {}, PeerBaseline(), END, 30, NOW, TZ)
    (reason,) = [r for r in result.reasons if r["code"] == "STAFF_ACCOUNT"]
    assert reason["evidence"]["accounts_of_employees"] == ["e1"]
    assert reason["evidence"]["own_account"] is True
    assert result.contact_flags["wm0"] == ["STAFF_ACCOUNT"]
    assert result.score < 40  # one account is worth a look, not a flag
    assert codes(verdicts(4, staff_account_of="e2"))["STAFF_ACCOUNT"] == 60.0
    assert "STAFF_ACCOUNT" not in codes(verdicts(4))


def test_a_known_campaign_burst_is_context_unless_its_quality_is_low() -> None:
    """A street fair's burst through its QR code: a third are bank customers, the rest new
    prospects who have not written yet. Unregistered it is a QR burst (mostly hollow adds);
    registered as a campaign it is context; a registered campaign whose adds are all hollow
    is judged like any burst."""

    def fair(campaign: str | None, customers: int) -> list[ContactVerdict]:
        vs = verdicts(30, step=timedelta(minutes=3), state="qr-fair", campaign=campaign)
        return [
            replace(v, facts=replace(v.facts, is_customer=i < customers)) for i, v in enumerate(vs)
        ]

    assert "QR_BATCH_BURST" in codes(fair(None, 10))
    assert "QR_BATCH_BURST" not in codes(fair("Autumn fair", 10))
    assert codes(fair("Autumn fair", 0))["QR_BATCH_BURST"] >= 40


def test_a_burst_does_not_go_on_into_a_known_campaigns_burst() -> None:
    """Bought adds through a code, then at once a registered street fair through the same code
    (a third of it bank customers): the fair is context, and its prospects are not the bought
    burst going on."""
    bought = verdicts(26, state="qr-fair")
    fair = [
        replace(
            v,
            facts=replace(
                v.facts,
                external_userid=f"fair{i}",
                first_added_at=START + timedelta(minutes=130 + 3 * i),
                campaign="Autumn fair",
                is_customer=i < 10,
            ),
        )
        for i, v in enumerate(verdicts(30, state="qr-fair"))
    ]
    result = assess(bought + fair, {}, PeerBaseline(), END, 30, NOW, TZ)
    evidence = next(r for r in result.reasons if r["code"] == "QR_BATCH_BURST")["evidence"]
    assert evidence["hollow_adds_in_bursts"] == 26
    assert evidence["hollow_adds_as_bursts_went_on"] == 0
    assert not any("QR_BATCH_BURST" in result.contact_flags.get(f"fair{i}", []) for i in range(30))


def test_the_campaign_and_reviewed_contacts_are_evidence_in_favour() -> None:
    vs = verdicts(30, state="qr-777", is_customer=False)
    vs += verdicts(2, campaign="Autumn fair", is_customer=True)
    result = assess(vs, {}, PeerBaseline(), END, 30, NOW, TZ)
    favour = result.reasons[0]["evidence"]["in_favour"]
    assert favour["campaign_adds"] == {"Autumn fair": 2}


def test_a_reviewers_verdict_decides_whether_an_add_is_hollow() -> None:
    bought = verdicts(30, state="qr-777", is_customer=False)
    assert "QR_BATCH_BURST" in codes(bought)
    cleared = verdicts(30, state="qr-777", is_customer=False, review="genuine")
    assert "QR_BATCH_BURST" not in codes(cleared)
    assert "NO_ENGAGEMENT" not in codes(cleared)
    gamed = verdicts(30, state="qr-777", is_customer=True, customer_msgs=5, review="gamed")
    assert "QR_BATCH_BURST" in codes(gamed)
    assert all("REVIEWED_GAMED" in v.flags for v in gamed)


OCT_WEEK = PeriodTail(datetime(2026, 10, 26, 16, 0, tzinfo=UTC), 5 / 22, days=5, early_days=17)


def test_a_pileup_spread_over_the_last_week_is_seen_over_the_week() -> None:
    # 36 hollow adds over the last working week, seven or so a day: no three days stand out
    # against the peers' month-end lift, the week does
    spread = [
        add(500 + i, datetime(2026, 10, 26, 17, 0, tzinfo=UTC) + timedelta(hours=3.3 * i))
        for i in range(36)
    ]
    month = honest_month(days=17) + spread
    lifted = replace(PEERS, tail_lift=2.5)
    three_days = assess(month, {}, lifted, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    with_week = assess(month, {}, lifted, OCT_END, 31, NOW, TZ, tail=OCT_TAIL, week=OCT_WEEK)

    def pileup(result: AnomalyResult) -> float:
        return next(
            (r["contribution"] for r in result.reasons if r["code"] == "PERIOD_END_PILEUP"), 0.0
        )

    assert pileup(with_week) > pileup(three_days)
    reason = next(r for r in with_week.reasons if r["code"] == "PERIOD_END_PILEUP")
    assert reason["evidence"]["last_working_days"] == 5


def test_the_day_medians_take_explicit_zeros_and_refuse_more_people_than_there_are() -> None:
    day = date(2026, 10, 9)
    assert day_hollow_medians({day: {0: 1, 1: 1}}, 5) == {}  # 0, 0, 0, 0, 1
    assert day_hollow_medians({day: {0: 1, 2: 3}}, 5) == {day: 2.0}  # 0, 0, 2, 2, 2
    with pytest.raises(ValueError, match="3 employees"):
        day_hollow_medians({day: {1: 3}}, 2)

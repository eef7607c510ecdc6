"""Which contacts each anomaly signal accuses: exactly the adds that are its evidence, and an
add another signal already accounts for is not accused twice (domain/anomaly.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scorer.domain.anomaly import AnomalyResult, PeriodTail, assess
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.excess import Part, excess_accused, excess_in_parts, honest_count
from services.scorer.domain.validity import ContactVerdict
from services.scorer.scoring import Scorer
from shared.calendar import BusinessCalendar, parse_period
from shared.clock import ManualClock
from tests.unit.test_anomaly import (
    NOW,
    OCT_END,
    OCT_TAIL,
    PEERS,
    RULES,
    TZ,
    add,
    honest_month,
    verdicts,
)

OCT_WEEK = PeriodTail(datetime(2026, 10, 23, 16, 0, tzinfo=UTC), 5 / 22, days=5, early_days=17)
"""The last working week of October 2026, from Saturday the 24th (after Friday's work)."""


def accused(vs: list[ContactVerdict], code: str, **kw: object) -> set[str]:
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL, **kw)  # type: ignore[arg-type]
    return {c for c, codes in result.contact_flags.items() if code in codes}


def pile(first: int, day: int, n: int) -> list[ContactVerdict]:
    """`n` hollow adds on a day of late October 2026 (Shanghai office hours)."""
    start = datetime(2026, 10, day, 1, 0, tzinfo=UTC)
    return [add(first + i, start + timedelta(minutes=20 * i)) for i in range(n)]


def test_a_pileup_spread_over_the_week_from_the_sunday_before_is_accused_whole() -> None:
    """Spread thin over the last seven days, from the Sunday before the last working week: the
    week is the surprising span, and every one of its hollow adds is its evidence."""
    week = [*pile(1000, 25, 6), *(a for d in range(26, 31) for a in pile(1000 + 100 * d, d, 6))]
    vs = honest_month(rate=3, days=16) + week  # honest work through Friday 23rd
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL, week=OCT_WEEK)
    pileup = next(r for r in result.reasons if r["code"] == "PERIOD_END_PILEUP")
    assert pileup["evidence"]["last_working_days"] == 5
    assert pileup["evidence"]["hollow_adds_in_last_working_days"] == 36
    flagged = {c for c, codes in result.contact_flags.items() if "PERIOD_END_PILEUP" in codes}
    assert flagged == {v.facts.external_userid for v in week}


def test_no_engagement_does_not_accuse_again_what_a_pileup_accounts_for() -> None:
    """A pile-up's hollow adds in the span it judged are the pile-up's accusations. Of the
    others, the month's are not four in five above what the real adds predict (under: 0.76),
    but the week of the 26th's are: the 20 of the 28th, the day before the span, beside three
    real adds that predict half a hollow one. The employee's other hollow adds are what their
    honest work brings, and silence alone accuses none of them."""
    day_before = pile(2000, 28, 20)
    vs = honest_month(rate=3) + day_before + pile(2100, 29, 20) + pile(2200, 30, 20)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    assert {"PERIOD_END_PILEUP", "NO_ENGAGEMENT"} <= {r["code"] for r in result.reasons}
    silence = next(r for r in result.reasons if r["code"] == "NO_ENGAGEMENT")["evidence"]
    assert silence["share_of_hollow_adds_above_peers"] < 0.8
    assert silence["accused_weeks"] == [
        {
            "week_of": "2026-10-26",
            "unexplained_hollow_adds": 20,
            "real_adds": 3,
            "hollow_adds_real_adds_predict": 0.5,
        }
    ]
    by_silence = {c for c, codes in result.contact_flags.items() if "NO_ENGAGEMENT" in codes}
    assert by_silence == {v.facts.external_userid for v in day_before}
    honest_hollow = {
        v.facts.external_userid
        for v in honest_month(rate=3)
        if not v.facts.is_customer and v.facts.customer_msgs < 2
    }
    assert honest_hollow and not honest_hollow & set(result.contact_flags)


def test_a_ring_accuses_the_non_customers_it_shares_with_other_teams_beyond_its_block() -> None:
    vs = verdicts(10, step=timedelta(hours=7), is_customer=False)
    shared = {"wm4": 1, "wm5": 1, "wm6": 2}
    block = DenseBlock(("e1", "e7", "e9"), ("wm1", "wm2", "wm3"), 1.2, 0.56, 11)
    partners = {"e7": 4, "e9": 3}
    result = assess(vs, shared, PEERS, OCT_END, 30, NOW, TZ, partners, block=block)
    ring = {c for c, codes in result.contact_flags.items() if "MUTUAL_ADD_RING" in codes}
    assert ring == {"wm1", "wm2", "wm3", "wm4", "wm5", "wm6"}
    # a matched customer two teams share is ordinary, and without partners there is no ring
    customers = [
        v if i != 4 else add(4, v.facts.first_added_at, customer=True) for i, v in enumerate(vs)
    ]
    result = assess(customers, shared, PEERS, OCT_END, 30, NOW, TZ, partners, block=block)
    assert "wm4" not in result.contact_flags
    lone = assess(vs, shared, PEERS, OCT_END, 30, NOW, TZ, {"e7": 4}, block=block)
    assert {c for c, codes in lone.contact_flags.items() if "MUTUAL_ADD_RING" in codes} == {
        "wm1",
        "wm2",
        "wm3",
    }


def test_a_ring_accuses_its_hollow_adds_shared_with_the_block_beyond_its_core() -> None:
    """A contact another of the block's employees also added hollow, outside the block's dense
    core (a colleague of the same team: no cross-team sharing, no partners), is the ring's pool
    too, when this employee's add of it is hollow; a customer or a conversation partner in the
    same place is not accused, nor is a contact the block does not share."""
    vs = verdicts(10, step=timedelta(hours=7), is_customer=False)
    vs[8] = add(8, vs[8].facts.first_added_at, msgs=3)  # a conversation partner
    vs[9] = add(9, vs[9].facts.first_added_at, customer=True)
    block = DenseBlock(
        ("e1", "e2", "e3"), ("wm1", "wm2", "wm3"), 1.2, 0.56, 9, ("wm4", "wm5", "wm8", "wm9")
    )
    result = assess(vs, {}, PEERS, OCT_END, 30, NOW, TZ, {}, block=block)
    ring = {c for c, codes in result.contact_flags.items() if "MUTUAL_ADD_RING" in codes}
    assert ring == {"wm1", "wm2", "wm3", "wm4", "wm5"}
    reason = next(r for r in result.reasons if r["code"] == "MUTUAL_ADD_RING")
    dense = reason["evidence"]["dense_block"]
    assert dense["shared_hollow_beyond_block"] == 4
    assert dense["own_hollow_adds_shared_beyond_block"] == 2
    assert dense["examples_beyond_block"] == ["wm4", "wm5"]


def padded(extra_hollow: int) -> tuple[list[ContactVerdict], set[str]]:
    """An honest October with four staff accounts and `extra_hollow` hollow adds later on the
    12th (Shanghai), and the hollow adds of that day (the honest month's own one among them)."""
    vs = honest_month()
    at = datetime(2026, 10, 12, 1, 30, tzinfo=UTC)
    vs += [add(900 + k, at + timedelta(minutes=7 * k), staff_account_of="e5") for k in range(4)]
    # from three hours after the session: on its day, not in it (`_in_its_sessions`)
    vs += [add(950 + k, at + timedelta(hours=3, minutes=40 * k)) for k in range(extra_hollow)]
    day = {
        v.facts.external_userid
        for v in vs
        if v.facts.first_added_at.astimezone(TZ).date().day == 12
        and not v.facts.is_customer
        and v.facts.customer_msgs < 2
        and v.facts.staff_account_of is None
    }
    return vs, day


def test_a_padders_hollow_adds_on_the_days_of_the_padding_are_its_excess() -> None:
    """Staff accounts accuse themselves; the hollow adds made on the same day, far above what
    that day's real adds predict, are the padding session's too, and named in its evidence.
    The honest month's hollow adds on other days are not."""
    vs, day = padded(12)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    staff = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    assert staff == {f"wm{900 + k}" for k in range(4)} | day
    assert len(day) == 13  # the twelve and the honest month's one: what an excess costs
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    days = reason["evidence"]["accused_on_its_days"]
    assert days["days"] == ["2026-10-12"] and days["unexplained_hollow_adds"] == 13
    assert days["real_adds"] == 3 and days["hollow_adds_real_adds_predict"] == 0.5


def test_a_few_hollow_adds_beside_a_padding_are_not_material() -> None:
    """Four hollow adds on the padding's day are above what its real adds predict, but not
    materially (fewer than eight): only the staff accounts are accused."""
    vs, _ = padded(4)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    staff = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    assert staff == {f"wm{900 + k}" for k in range(4)}
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    assert "accused_on_its_days" not in reason["evidence"]


def test_the_last_working_days_span_the_weekend_just_before_them() -> None:
    """October 2026 ends on a Saturday: its last working week is Monday 26 to Friday 30, and a
    pile-up begun on Sunday 25 belongs to it. November's last week has no gap before it."""
    calendar = BusinessCalendar(None)
    after = datetime(2026, 12, 5, tzinfo=UTC)
    scorer = Scorer(RULES, calendar, clock=ManualClock(after), inputs_group="")
    week = scorer.tail(parse_period("2026-10"), after, 5)
    days = scorer.tail(parse_period("2026-10"), after, 3)
    assert week is not None and days is not None
    assert week.start == datetime(2026, 10, 24, tzinfo=TZ)  # after Friday 23rd's work
    assert (
        week.days == 5
        and week.early_days == len(calendar.working_days(parse_period("2026-10"))) - 5
    )
    assert days.start == datetime(2026, 10, 28, tzinfo=TZ)  # no gap before Wednesday 28th
    november = scorer.tail(parse_period("2026-11"), after, 5)
    assert november is not None and november.start == datetime(2026, 11, 24, tzinfo=TZ)


def test_an_excess_is_accused_whole_only_when_four_in_five_of_it_is_above_honest_work() -> None:
    adds = list(range(10))
    explained = {0, 1}.__contains__
    assert honest_count(40, 0.2) == 10.0
    assert excess_accused(adds, 1.6, explained) == (adds[2:], adds[2:])  # 6.4 of 8 above
    assert excess_accused(adds, 1.7, explained) == (adds[2:], [])
    assert excess_accused([0, 1], 0.0, explained) == ([], [])


def test_a_week_is_accused_when_its_own_excess_is_four_in_five_and_material() -> None:
    """Weeks judged on their own real adds (at the peers' share 0.2: a quarter of a hollow add
    per real add): ten hollow adds beside five real ones (1.25 predicted) are an excess; beside
    twenty (5 predicted) they are not; five beside none are too few to be worth a look."""
    hollow = [("a", i) for i in range(10)] + [("b", i) for i in range(10)]
    hollow += [("c", i) for i in range(5)]
    real = [("a", i) for i in range(5)] + [("b", i) for i in range(20)]
    parts = excess_in_parts(hollow, real, lambda add: add[0], 0.2, 8.0)
    assert list(parts) == ["a"]
    assert parts["a"] == Part(hollow[:10], 5, 1.25)


def test_acquisition_silence_accuses_the_excess_not_the_ungreeted() -> None:
    """A stated acquisition employee: 20 contacts who answered predict about 7.4 silent ones at
    acquisition work's share (0.27). Forty silent contacts are the excess four times in five
    (greeted or not: the greeting is no evidence either way); twenty are not, and silence alone
    then accuses none of them."""

    def month(silent: int) -> list[ContactVerdict]:
        start = datetime(2026, 10, 8, 3, 0, tzinfo=UTC)
        answered = [add(i, start + timedelta(hours=5 * i), msgs=2) for i in range(20)]
        quiet = [
            add(100 + i, start + timedelta(hours=5 * i + 1), one_to_one_msgs=i % 2)
            for i in range(silent)
        ]
        return answered + quiet

    many = assess(month(40), {}, PEERS, OCT_END, 31, NOW, TZ, stated_segment="acquisition")
    silence = next(r for r in many.reasons if r["code"] == "NO_ENGAGEMENT")
    assert silence["evidence"]["silent_adds_own_answered_adds_predict"] == 7.4
    assert {c for c, codes in many.contact_flags.items() if "NO_ENGAGEMENT" in codes} == {
        f"wm{100 + i}" for i in range(40)
    }
    few = assess(month(20), {}, PEERS, OCT_END, 31, NOW, TZ, stated_segment="acquisition")
    assert "NO_ENGAGEMENT" in {r["code"] for r in few.reasons}
    assert not any("NO_ENGAGEMENT" in codes for codes in few.contact_flags.values())


def greeted_month(untouched_every: int = 0) -> list[ContactVerdict]:
    """`honest_month`, with the employee's one-to-one greeting sent to every customer (but one
    in `untouched_every`, when given)."""
    out = []
    for v in honest_month(rate=3):
        f = v.facts
        i = int(f.external_userid[2:])
        greeted = not (untouched_every and i % untouched_every == 0)
        if f.is_customer and greeted:
            v = add(i, f.first_added_at, customer=True, one_to_one_msgs=1)
        out.append(v)
    return out


def pileup_with_customers(month: list[ContactVerdict]) -> tuple[AnomalyResult, set[str]]:
    """A pile-up of 30 hollow adds over the last three working days of October, with six
    matched customers nobody wrote to and six greeted ones beside them."""
    start = datetime(2026, 10, 29, 1, 0, tzinfo=UTC)
    piled = [add(3000 + i, start + timedelta(minutes=90 * i)) for i in range(30)]
    untouched = [add(3100 + i, start + timedelta(minutes=95 * i), customer=True) for i in range(6)]
    greeted = [
        add(3200 + i, start + timedelta(minutes=97 * i), customer=True, one_to_one_msgs=1)
        for i in range(6)
    ]
    result = assess(
        month + piled + untouched + greeted, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL
    )
    return result, {v.facts.external_userid for v in untouched}


def test_a_pileups_untouched_customers_are_accused_when_they_are_its_excess() -> None:
    """Customers whom nobody wrote to, in a pile-up's span, when the employee greets every
    customer before it: six, where six greeted ones predict 0.8 (at honest work's share plus
    its spread, 0.115), are the pile-up's; the greeted customers and the honest month's are
    not. The evidence counts them and names examples."""
    result, untouched = pileup_with_customers(greeted_month())
    pileup = {c for c, codes in result.contact_flags.items() if "PERIOD_END_PILEUP" in codes}
    assert untouched <= pileup
    assert not {c for c in pileup if c.startswith("wm32")}  # greeted customers
    assert all(int(c[2:]) >= 3000 for c in pileup)  # nothing of the honest month
    evidence = next(r for r in result.reasons if r["code"] == "PERIOD_END_PILEUP")["evidence"]
    assert evidence["from"] == OCT_TAIL.start.isoformat()
    assert evidence["untouched_customers"] == {
        "accused": 6,
        "touched_customers": 6,
        "untouched_share": 0.115,
        "untouched_customers_touched_ones_predict": 0.8,
        "examples": sorted(untouched)[:5],
    }


def test_untouched_customers_are_not_accused_of_an_employee_who_seldom_greets() -> None:
    """An employee who leaves one customer in two ungreeted all month: the pile-up's untouched
    customers are what their own way of working predicts, and accuse nobody."""
    result, untouched = pileup_with_customers(greeted_month(untouched_every=2))
    evidence = next(r for r in result.reasons if r["code"] == "PERIOD_END_PILEUP")["evidence"]
    assert "untouched_customers" not in evidence
    assert not untouched & set(result.contact_flags)


def padding_session(
    beside: list[ContactVerdict], state: str = ""
) -> tuple[list[ContactVerdict], set[str]]:
    """An honest October with four staff accounts added from 18:00 on the 12th (Shanghai: an
    hour after the honest day's last add), and `beside` them; the ids of `beside`."""
    at = datetime(2026, 10, 12, 10, 0, tzinfo=UTC)
    staff = [
        add(900 + k, at + timedelta(minutes=7 * k), staff_account_of="e5", state=state)
        for k in range(4)
    ]
    return honest_month() + staff + beside, {v.facts.external_userid for v in beside}


SESSION = datetime(2026, 10, 12, 10, 0, tzinfo=UTC)


def test_the_non_customers_of_a_padding_session_are_accused_though_they_chat() -> None:
    """Six contacts added between the staff accounts, none a customer, all chatting like the
    colleagues they are (no hollow adds): with no customer in the session to predict any, they
    are the session's, and its evidence names them. The honest month's chatting prospects on
    other days are not accused."""
    chatting = [add(950 + k, SESSION + timedelta(minutes=5 + 9 * k), msgs=3) for k in range(6)]
    vs, ids = padding_session(chatting)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    staff = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    assert staff == {f"wm{900 + k}" for k in range(4)} | ids
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    assert reason["evidence"]["accused_in_its_sessions"] == {
        "minutes_from_its_adds": 60,
        "channels": [],
        "unexplained_noncustomer_adds": 6,
        "customer_adds": 0,
        "noncustomer_adds_customer_adds_predict": 0.0,
        "examples": sorted(ids)[:5],
    }


def test_a_session_of_customers_with_a_few_prospects_beside_a_padding_is_not_accused() -> None:
    """Four chatting non-customers beside ten matched customers in the same hour: what honest
    work brings (ten customers predict 4.9 non-customers at 0.33), so none is accused."""
    beside = [
        add(950 + k, SESSION + timedelta(minutes=5 + 4 * k), customer=k >= 4 or None, msgs=3)
        for k in range(14)
    ]
    vs, ids = padding_session(beside)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    assert not ids & set(result.contact_flags)
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    assert "accused_in_its_sessions" not in reason["evidence"]


def test_a_patterns_channel_code_reaches_its_days_beyond_the_hour() -> None:
    """Staff accounts that came through a code made for them: the non-customers that came
    through the same code on the day, hours later, are in the session; one through it a week
    later, and one through no code, are not."""
    later = SESSION + timedelta(hours=4)
    coded = [
        add(950 + k, later + timedelta(minutes=9 * k), msgs=3, state="for-x") for k in range(4)
    ]
    stray = [
        add(960, SESSION + timedelta(days=7), msgs=3, state="for-x"),
        add(961, later + timedelta(minutes=50), msgs=3),
    ]
    vs, _ = padding_session([*coded, *stray], state="for-x")
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    staff = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    assert staff == {f"wm{900 + k}" for k in range(4)} | {v.facts.external_userid for v in coded}
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    assert reason["evidence"]["accused_in_its_sessions"]["channels"] == ["for-x"]


def test_a_prospectors_conversations_beside_a_staff_account_are_not_accused() -> None:
    """In acquisition, contacts who are not customers yet but write are the work: in a stated
    acquisition employee's session only the silent are candidates, and none are."""
    chatting = [add(950 + k, SESSION + timedelta(minutes=5 + 9 * k), msgs=3) for k in range(6)]
    vs, ids = padding_session(chatting)
    result = assess(
        vs, {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL, stated_segment="acquisition"
    )
    assert not ids & set(result.contact_flags)


def test_a_rings_days_accuse_its_hollow_excess_only_with_its_dense_block() -> None:
    """A ring with its dense block is read from its relations: the hollow adds of the days its
    block contacts were added on, far above what those days' real adds predict, are the ring's
    (a member adds the friends only they add beside the shared pool). Without a block (partners
    alone, scored from the features) nothing beyond the shared contacts is accused."""
    day = datetime(2026, 10, 13, 1, 0, tzinfo=UTC)
    pool = [add(700 + k, day + timedelta(minutes=5 * k)) for k in range(3)]
    own = [add(800 + k, day + timedelta(hours=3, minutes=20 * k)) for k in range(10)]
    vs = honest_month() + pool + own
    block = DenseBlock(("e1", "e2", "e3"), ("wm700", "wm701", "wm702"), 1.2, 0.56, 9)
    result = assess(vs, {}, PEERS, OCT_END, 31, NOW, TZ, {}, tail=OCT_TAIL, block=block)
    ring = {c for c, codes in result.contact_flags.items() if "MUTUAL_ADD_RING" in codes}
    ids = {v.facts.external_userid for v in own}
    assert ids <= ring
    assert all(int(c[2:]) >= 700 or c == "wm23" for c in ring)  # wm23: the day's honest hollow
    reason = next(r for r in result.reasons if r["code"] == "MUTUAL_ADD_RING")
    assert reason["evidence"]["accused_on_its_days"]["days"] == ["2026-10-13"]
    shared = {"wm700": 2, "wm701": 2, "wm702": 2}
    lone = assess(vs, shared, PEERS, OCT_END, 31, NOW, TZ, {"e7": 3, "e8": 3}, tail=OCT_TAIL)
    assert not ids & set(lone.contact_flags)


def coded_days(beside: list[ContactVerdict]) -> list[ContactVerdict]:
    """An honest October with four staff accounts through the code `for-x`, two on the 12th
    and two on the 14th (the code's days: the 12th to the 14th), and `beside` them."""
    staff = [
        add(
            900 + k,
            SESSION + timedelta(days=2 * (k % 2), minutes=7 * k),
            staff_account_of="e5",
            state="for-x",
        )
        for k in range(4)
    ]
    return honest_month() + staff + beside


def test_silent_matched_customers_in_an_acquisition_session_are_not_accused() -> None:
    """In acquisition a session's candidates are the contacts who never wrote and are no
    customers: the code's silent matched customers of the 13th are not accused with the staff
    accounts (only a pile-up's untouched customers can be), its silent prospects are."""
    silent = [
        add(
            950 + k,
            SESSION + timedelta(days=1, minutes=30 * k),
            customer=k < 6 or None,
            state="for-x",
        )
        for k in range(12)
    ]
    result = assess(
        coded_days(silent),
        {},
        PEERS,
        OCT_END,
        31,
        NOW,
        TZ,
        tail=OCT_TAIL,
        stated_segment="acquisition",
    )
    staff = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    customers = {v.facts.external_userid for v in silent if v.facts.is_customer}
    assert not customers & staff
    assert {v.facts.external_userid for v in silent} - customers <= staff


def test_a_patterns_days_are_those_of_the_contacts_it_accuses_itself() -> None:
    """The code's chatting non-customers of the 13th are in the staff accounts' sessions and
    accused, but that does not make the 13th one of the pattern's days: its hollow adds out of
    the sessions' reach stay unaccused (the days rule reaches from the staff accounts' own
    days, the 12th and the 14th)."""
    coded = [
        add(950 + k, SESSION + timedelta(days=1, minutes=9 * k), msgs=3, state="for-x")
        for k in range(5)
    ]
    hollow = [add(970 + k, SESSION + timedelta(days=1, hours=5, minutes=9 * k)) for k in range(8)]
    result = assess(coded_days(coded + hollow), {}, PEERS, OCT_END, 31, NOW, TZ, tail=OCT_TAIL)
    flagged = {c for c, codes in result.contact_flags.items() if "STAFF_ACCOUNT" in codes}
    assert {v.facts.external_userid for v in coded} <= flagged
    assert not {v.facts.external_userid for v in hollow} & flagged
    reason = next(r for r in result.reasons if r["code"] == "STAFF_ACCOUNT")
    days = reason["evidence"].get("accused_on_its_days", {}).get("days", [])
    assert "2026-10-13" not in days

"""A contact's cadence (domain/cadence.py) and the SCRIPTED_CHAT signal (domain/scripted.py):
a script's regular replies and fixed session hour are told from a person's irregular ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.scorer.domain.anomaly import PeerBaseline, assess
from services.scorer.domain.cadence import (
    ChatTrace,
    HumanCadence,
    cadence,
    chi2_cdf,
    judged_cadence,
    scripted_p,
)
from services.scorer.domain.finding import Finding
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.scripted import accused_at, scripted_chat
from services.scorer.domain.surprise import binomial_surprise
from services.scorer.domain.validity import ContactFacts, ContactVerdict, classify

TZ = ZoneInfo("Asia/Shanghai")
ADDED = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
END = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def scripted_of(vs: list[ContactVerdict], chats: dict[str, ChatTrace]) -> Finding | None:
    """`scripted_chat` of the chats of these adds' non-customer contacts, as `assess` calls it."""
    others = {v.facts.external_userid for v in vs if not v.facts.is_customer}
    return scripted_chat({c: t for c, t in chats.items() if c in others}, TZ)


def scripted_trace(contact: str, rng: random.Random, latency: float = 120.0) -> ChatTrace:
    """Greets a minute after the add; sessions every three days at 19:00 local; each of its
    replies `latency` seconds (±10 %) after the employee's answer."""
    messages: list[tuple[datetime, bool]] = []
    for session in range(6):
        at = (
            ADDED + timedelta(minutes=1)
            if session == 0
            else ADDED + timedelta(days=3 * session, hours=9)
        )
        for _ in range(3):
            messages.append((at, True))
            answered = at + timedelta(minutes=rng.uniform(2, 40))
            messages.append((answered, False))
            at = answered + timedelta(seconds=latency * rng.uniform(0.9, 1.1))
    return ChatTrace(contact, tuple(messages))


def human_trace(contact: str, rng: random.Random) -> ChatTrace:
    """Replies after seconds or hours, sessions at any waking hour."""
    messages: list[tuple[datetime, bool]] = []
    for session in range(6):
        at = ADDED + timedelta(days=3 * session, hours=rng.uniform(0, 12))
        for _ in range(3):
            messages.append((at, True))
            answered = at + timedelta(minutes=rng.uniform(2, 40))
            messages.append((answered, False))
            at = answered + timedelta(seconds=rng.lognormvariate(6.0, 1.3))
    return ChatTrace(contact, tuple(sorted(messages)))


def test_chi2_cdf_matches_closed_forms() -> None:
    # two degrees of freedom: 1 - exp(-x/2); four: 1 - exp(-x/2) (1 + x/2)
    assert abs(chi2_cdf(1.0, 2) - 0.39346934) < 1e-6
    assert abs(chi2_cdf(3.0, 4) - (1 - 2.5 * 2.718281828**-1.5)) < 1e-6
    assert chi2_cdf(0.0, 3) == 0.0


def test_replies_and_sessions_are_read_from_the_trace() -> None:
    at = ADDED
    trace = ChatTrace(
        "wm1",
        (
            (at, False),  # greeting by the employee
            (at + timedelta(minutes=5), True),  # first message: a session start
            (at + timedelta(minutes=6), False),
            (at + timedelta(minutes=8), True),  # a reply, 120 s after the answer
            (at + timedelta(days=2), True),  # two days later: a new session, no reply
        ),
    )
    c = cadence(trace, TZ)
    assert c.latencies == (120.0,)
    assert [round(h, 2) for h in c.session_hours] == [10.08, 10.0]


def test_a_script_fails_the_human_null_and_a_person_passes() -> None:
    rng = random.Random(7)
    human = HumanCadence()
    script = scripted_p(cadence(scripted_trace("wm1", rng), TZ), human)
    person = scripted_p(cadence(human_trace("wm2", rng), TZ), human)
    assert script is not None and script < 1e-6
    assert person is not None and person > 1e-2


def test_a_trace_is_judged_once_per_time_zone_and_null() -> None:
    """A refresh round scores one trace for a day, its week, month and quarter: its cadence test
    is worked out once, and stays apart for another time zone or null model."""
    rng = random.Random(7)
    trace = scripted_trace("wm1", rng)
    strict, loose = HumanCadence(), HumanCadence(latency_log_sd=0.05, session_hour_sd=0.05)
    first = judged_cadence(trace, TZ, strict)
    assert judged_cadence(trace, TZ, strict) is first  # kept, not worked out again
    assert first == (cadence(trace, TZ), scripted_p(cadence(trace, TZ), strict))
    assert judged_cadence(trace, TZ, loose)[1] == scripted_p(cadence(trace, TZ), loose)
    assert judged_cadence(trace, TZ, loose)[1] != first[1]
    utc = judged_cadence(trace, ZoneInfo("UTC"), strict)
    assert utc[0].session_hours != first[0].session_hours
    assert ChatTrace("wm1", trace.messages) == trace  # what it keeps is not part of the trace


def test_too_short_a_chat_is_not_judged() -> None:
    trace = ChatTrace("wm1", ((ADDED, True), (ADDED + timedelta(minutes=3), False)))
    assert scripted_p(cadence(trace, TZ), HumanCadence()) is None


def contacts(n: int, is_customer: bool) -> list[ContactVerdict]:
    return [
        classify(
            ContactFacts(
                "e1",
                f"wm{i}",
                ADDED + timedelta(hours=i),
                is_customer=is_customer,
                customer_msgs=18,
                profile_found=True,
            ),
            ScoringRules(),
            NOW,
        )
        for i in range(n)
    ]


def test_dozens_of_scripted_non_customers_are_flagged_with_their_evidence() -> None:
    rng = random.Random(1)
    vs = contacts(30, is_customer=False)
    chats = {v.facts.external_userid: scripted_trace(v.facts.external_userid, rng) for v in vs}
    result = assess(vs, {}, PeerBaseline(), END, 31, NOW, TZ, chats=chats)
    reason = next(r for r in result.reasons if r["code"] == "SCRIPTED_CHAT")
    assert reason["contribution"] >= 40
    assert reason["evidence"]["scripted_contacts"] == 30
    assert reason["evidence"]["examples"][0]["median_reply_seconds"] is not None
    assert "in_favour" in reason["evidence"]
    assert result.contact_flags["wm0"] == ["SCRIPTED_CHAT"]


def test_real_people_and_scripted_customers_are_not_flagged() -> None:
    rng = random.Random(2)
    people = contacts(40, is_customer=False)
    chats = {v.facts.external_userid: human_trace(v.facts.external_userid, rng) for v in people}
    assert scripted_of(people, chats) is None
    # matched customers are real by the bank's own records: their cadence is not judged
    customers = contacts(30, is_customer=True)
    chats = {
        v.facts.external_userid: scripted_trace(v.facts.external_userid, rng) for v in customers
    }
    assert scripted_of(customers, chats) is None


def test_a_handful_of_regular_people_is_not_a_pattern() -> None:
    rng = random.Random(3)
    vs = contacts(40, is_customer=False)
    chats = {
        v.facts.external_userid: (
            scripted_trace(v.facts.external_userid, rng)
            if i < 4
            else human_trace(v.facts.external_userid, rng)
        )
        for i, v in enumerate(vs)
    }
    assert scripted_of(vs, chats) is None


def test_binomial_surprise() -> None:
    assert binomial_surprise(0, 10, 0.1) == 0.0
    assert abs(binomial_surprise(10, 10, 0.1) - 10.0) < 1e-9
    assert binomial_surprise(5, 100, 0.003) > 3


def short_regular_trace(contact: str) -> ChatTrace:
    """One session: a greeting, then three replies 115, 120 and 125 s after the employee's
    answers; regular, but too short to be called scripted on its own (p about 0.003)."""
    messages: list[tuple[datetime, bool]] = [(ADDED + timedelta(minutes=1), True)]
    at = ADDED + timedelta(minutes=5)
    for latency in (115, 120, 125):
        messages += [(at, False), (at + timedelta(seconds=latency), True)]
        at += timedelta(minutes=10)
    return ChatTrace(contact, tuple(messages))


def test_a_shown_pattern_accuses_its_contacts_at_a_stated_false_discovery_rate() -> None:
    rng = random.Random(4)
    vs = contacts(70, is_customer=False)
    ids = [v.facts.external_userid for v in vs]
    chats = {
        c: scripted_trace(c, rng)
        if i < 20
        else short_regular_trace(c)
        if i < 30
        else human_trace(c, rng)
        for i, c in enumerate(ids)
    }
    weak = scripted_p(cadence(chats[ids[20]], TZ), HumanCadence())
    assert weak is not None and 1e-3 < weak < 1e-2
    found = scripted_of(vs, chats)
    assert found is not None
    assert found.evidence["scripted_contacts"] == 20  # the pattern: each below 1e-3
    assert found.evidence["accused_contacts"] == 30
    assert found.evidence["accused_at_false_discovery_rate"] == 0.05
    assert sorted(found.contacts) == sorted(ids[:30])  # the short regular chats too, no person
    # the same short chats without the pattern accuse nobody
    assert scripted_of(vs[20:], {c: chats[c] for c in ids[20:]}) is None


def test_benjamini_hochberg() -> None:
    ps = [("a", 0.001), ("b", 0.02), ("c", 0.03), ("d", 0.5)]
    # ranks 1..4 of 4 at 0.05: thresholds 0.0125, 0.025, 0.0375, 0.05 -> the first three
    assert accused_at(ps, 0.05) == ["a", "b", "c"]
    assert accused_at([("a", 0.2), ("b", 0.3)], 0.05) == []
    assert accused_at([], 0.05) == []

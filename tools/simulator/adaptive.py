"""Adaptive gamers (issue #20): people who know what the patterns of `gaming.py` look for and
shape their gaming to avoid it. Each is labelled like a pattern (the employee and every relation
the gaming creates); the gamer's honest adds stay clean. Camouflage 0 to 2 changes the volume and
how much honest work surrounds the gaming, not the disguise itself, which is the point.

- `behaving_bought`: real-person adds bought from a seller over a few days, each account greeting
  within minutes and chatting for weeks on a script; not bank customers; never deleted.
- `slow_drip`: bought or hollow adds, a few every day, weekends and holidays included.
- `team_ring`: colleagues of one team adding each other's personal contacts and shared friends
  (sharing inside a team is ordinary, so a cross-team ring detector does not see it).
- `spread_pileup`: the month-end pile-up spread over the last seven days.
- `late_delete`: adds kept just past the retention window (so they count), then removed.
- `staff_padding`: personal WeChat accounts of staff of other branches. HR declares the personal
  accounts of only part of the staff (`staff_account` records by unionid); the declared ones are
  refused by the staff-account rule, the rest pass. What a detector can still see is documented in
  docs/scoring.md (Evaluation): a declared account among a padder's adds betrays the session it
  came in, and the accounts chat like colleagues at their desks."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from datetime import timedelta

from tools.simulator import records as shapes
from tools.simulator.behaviour import (
    ONE_MESSAGE,
    SILENT,
    Engagement,
    Script,
    converse,
    scripted_chat,
)
from tools.simulator.clock import Hours
from tools.simulator.draws import chance, weighted
from tools.simulator.gaming import _days_before_end, _stranger
from tools.simulator.labels import Adaptive
from tools.simulator.ledger import Contact, Ledger
from tools.simulator.org import Employee
from tools.simulator.organic import Persona
from tools.simulator.validity import RETENTION

HONEST_SHARE: dict[Adaptive, tuple[float, float, float]] = {
    Adaptive.BEHAVING_BOUGHT: (0.5, 0.8, 1.0),
    Adaptive.SLOW_DRIP: (0.3, 0.7, 0.9),
    Adaptive.TEAM_RING: (0.5, 0.9, 1.0),
    Adaptive.SPREAD_PILEUP: (0.3, 0.7, 0.8),
    Adaptive.LATE_DELETE: (0.3, 0.9, 1.0),
    Adaptive.STAFF_PADDING: (0.5, 0.9, 1.0),
}
"""Multiplier on an adaptive gamer's honest add rate, per camouflage level 0, 1, 2."""

GREET_WITHIN_SECONDS = 300.0
"""A behaving bought account's greeting arrives within five minutes of the add."""
LATE_DELETE_AFTER = (timedelta(minutes=30), timedelta(hours=36))
"""How long after the retention window ends a late delete comes."""
STAFF_DECLARED_SHARE = 0.5
"""Share of the staff whose personal WeChat HR has declared (`staff_account`)."""


def behaving_bought(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """A seller's accounts scan a channel code made for the seller, over three to five days;
    each greets within minutes and chats on a script for weeks; none is a bank customer and
    none is ever deleted."""
    emp = persona.employee_id
    count = rng.randint(*((45, 60), (30, 45), (25, 35))[camouflage])
    days = _days_before_end(ledger, 10)
    span = rng.randint(3, 5)
    first = rng.randrange(0, max(1, len(days) - span))
    burst_days = days[first : first + span]
    state = f"qr_{emp}_{''.join(rng.choice(string.ascii_lowercase) for _ in range(3))}"
    seller_latency = rng.uniform(60, 240)
    for _ in range(count):
        at = ledger.clock.moment(rng, rng.choice(burst_days), Hours.OFFICE_DAY)
        contact = ledger.new_contact(customer=False if chance(rng, 0.6) else None)
        if not ledger.add(
            rng,
            emp,
            contact,
            at,
            add_way=1,
            state=state,
            label=Adaptive.BEHAVING_BOUGHT,
            by_customer=True,
            welcome=True,
        ):
            continue
        script = Script(
            greet_within=GREET_WITHIN_SECONDS,
            latency=seller_latency,
            jitter=0.1,
            every_days=rng.choice((2.0, 3.0, 4.0)),
            hour=rng.uniform(10.0, 20.0),
            weeks=rng.uniform(3.0, 6.0),
        )
        scripted_chat(ledger, rng, emp, contact.external_userid, at, script)


def slow_drip(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """Two to five hollow adds every day of the month, working or not, at any waking hour."""
    emp = persona.employee_id
    low, high = ((3, 5), (2, 4), (2, 3))[camouflage]
    matched = (0.0, 0.05, 0.1)[camouflage]
    engagement = (SILENT, ONE_MESSAGE, ONE_MESSAGE)[camouflage]
    for day in ledger.clock.days:
        for _ in range(rng.randint(low, high)):
            at = ledger.clock.local(day, rng.uniform(8.5, 22.0))
            contact = _stranger(ledger, rng, matched)
            way = weighted(rng, ((1, 0.5), (2, 0.3), (5, 0.2)))
            if ledger.add(
                rng,
                emp,
                contact,
                at,
                add_way=way,
                state=f"qr_{emp}" if way == 1 else "",
                label=Adaptive.SLOW_DRIP,
                by_customer=way == 1,
                welcome=chance(rng, 0.5),
            ):
                converse(ledger, rng, emp, contact.external_userid, at, engagement)


def team_ring(ledger: Ledger, rng: random.Random, members: Sequence[Persona]) -> None:
    """Each member brings personal contacts (friends, family) that the others add, plus a pool
    of friends everyone adds; the adds spread over two to three weeks of office hours. The
    friends are real people doing a favour: some write once or twice."""
    days = _days_before_end(ledger, 3)
    first = rng.randrange(0, max(1, len(days) - 15))
    window = days[first : first + rng.randint(10, 15)]
    talk = Engagement(welcome=0.5, reply=0.35, chat_messages=(1, 2), answer=0.8)
    personal = {
        m.employee_id: [
            ledger.new_contact(customer=_unknown(rng)) for _ in range(rng.randint(6, 10))
        ]
        for m in members
    }
    shared = [ledger.new_contact(customer=_unknown(rng)) for _ in range(rng.randint(8, 14))]
    for member in members:
        others = [c for owner, cs in personal.items() if owner != member.employee_id for c in cs]
        own = personal[member.employee_id]
        for contact in [*own, *others, *shared]:
            if contact not in own and not chance(rng, 0.85):
                continue
            at = ledger.clock.moment(rng, rng.choice(window), Hours.OFFICE_DAY)
            way = weighted(rng, ((3, 0.4), (6, 0.3), (201, 0.3)))
            if ledger.add(
                rng,
                member.employee_id,
                contact,
                at,
                add_way=way,
                state="",
                label=Adaptive.TEAM_RING,
                by_customer=False,
                welcome=chance(rng, 0.5),
            ):
                converse(ledger, rng, member.employee_id, contact.external_userid, at, talk)


def _unknown(rng: random.Random) -> bool | None:
    """A friend or relative: not a bank customer, or unknown to the CRM."""
    return False if chance(rng, 0.4) else None


def spread_pileup(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """The pile-up of `gaming.period_end_pileup`, spread evenly over the month's last seven
    days, in office hours, of low quality."""
    emp = persona.employee_id
    count = rng.randint(*((60, 80), (40, 55), (30, 40))[camouflage])
    days = ledger.clock.last_days(7)
    matched = (0.0, 0.1, 0.2)[camouflage]
    engagement = (SILENT, Engagement(0.3, 0.1, (1, 1), 0.5), Engagement(0.6, 0.2, (1, 2), 0.8))[
        camouflage
    ]
    for _ in range(count):
        at = ledger.clock.moment(rng, rng.choice(days), Hours.OFFICE_DAY)
        contact = _stranger(ledger, rng, matched)
        way = weighted(rng, ((1, 0.5), (2, 0.3), (5, 0.2)))
        if ledger.add(
            rng,
            emp,
            contact,
            at,
            add_way=way,
            state=f"qr_{emp}" if way == 1 else "",
            label=Adaptive.SPREAD_PILEUP,
            by_customer=way == 1,
        ):
            converse(ledger, rng, emp, contact.external_userid, at, engagement)


def late_delete(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """Hollow adds on working days, each removed by the employee shortly after its retention
    window has run (so it counted as valid), never within it."""
    emp = persona.employee_id
    count = rng.randint(*((35, 50), (25, 40), (18, 28))[camouflage])
    margin = (RETENTION + LATE_DELETE_AFTER[1]).days + 2
    days = [d for d in _days_before_end(ledger, margin) if ledger.clock.is_working_day(d)]
    low, high = (t.total_seconds() for t in LATE_DELETE_AFTER)
    for _ in range(count):
        at = ledger.clock.moment(rng, rng.choice(days))
        contact = _stranger(ledger, rng)
        way = weighted(rng, ((2, 0.5), (1, 0.3), (5, 0.2)))
        if not ledger.add(
            rng,
            emp,
            contact,
            at,
            add_way=way,
            state=f"qr_{emp}" if way == 1 else "",
            label=Adaptive.LATE_DELETE,
            by_customer=way == 1,
        ):
            continue
        if camouflage and chance(rng, 0.3):
            converse(ledger, rng, emp, contact.external_userid, at, ONE_MESSAGE)
        gone = at + RETENTION + timedelta(seconds=rng.uniform(low, high))
        ledger.remove(emp, contact.external_userid, gone, by_customer=False)


def staff_wechat(
    ledger: Ledger, rng: random.Random, staff: Sequence[Employee]
) -> dict[str, Contact]:
    """Every employee's own personal WeChat (many staff bank with their employer), and HR's
    `staff_account` declarations for `STAFF_DECLARED_SHARE` of them, by unionid, in force from
    the month's start."""
    accounts: dict[str, Contact] = {}
    for employee in staff:
        contact = ledger.new_contact(
            customer=chance(rng, 0.7), tier="大众", contact_type=1, corp_name=None
        )
        accounts[employee.employee_id] = contact
        if chance(rng, STAFF_DECLARED_SHARE) and contact.unionid is not None:
            at = ledger.clock.start
            ledger.emit(at, shapes.staff_account(employee.employee_id, contact.unionid, at))
    return accounts


def staff_padding(
    ledger: Ledger,
    rng: random.Random,
    persona: Persona,
    camouflage: int,
    branch_of: Mapping[str, str],
    accounts: Mapping[str, Contact],
) -> None:
    """The padder asks staff of other branches to scan their code (or finds them by phone) in
    a few sessions; most send a word back ("已加") within minutes, in office hours."""
    emp = persona.employee_id
    mine = branch_of[emp]
    candidates = sorted(e for e, branch in branch_of.items() if branch != mine and e in accounts)
    count = min(len(candidates), rng.randint(*((20, 28), (14, 20), (10, 16))[camouflage]))
    chosen = rng.sample(candidates, count)
    days = [d for d in _days_before_end(ledger, 8) if ledger.clock.is_working_day(d)]
    sessions = sorted(rng.sample(days, min(3, len(days))))
    colleague = Engagement(welcome=0.3, reply=0.6, chat_messages=(1, 2), answer=0.9)
    for index, owner in enumerate(chosen):
        start = ledger.clock.moment(rng, sessions[index % len(sessions)], Hours.CORE_OFFICE)
        at = start + timedelta(seconds=rng.uniform(0, 5400))
        way = weighted(rng, ((1, 0.6), (2, 0.4)))
        if ledger.add(
            rng,
            emp,
            accounts[owner],
            at,
            add_way=way,
            state=f"qr_{emp}" if way == 1 else "",
            label=Adaptive.STAFF_PADDING,
            by_customer=way == 1,
            welcome=chance(rng, 0.5),
            assign_p=0.0,
        ):
            converse(ledger, rng, emp, accounts[owner].external_userid, at, colleague)

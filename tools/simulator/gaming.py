"""The gaming patterns of docs/product.md (Anomaly), each at three camouflage levels.

Level 0 is blatant (little honest work, bursts at night, contacts that never speak), level 1
mixes the gaming with ordinary honest work, level 2 hides it (bought contacts that send one
message, rings that also add real customers, deletes after days rather than hours). Every
relation a pattern creates is labelled with the pattern; the gamer's honest adds stay clean.
How much honest work each gamer does at each level is `HONEST_SHARE`, applied in `cast.py`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from tools.simulator.behaviour import ONE_MESSAGE, SILENT, Engagement, converse
from tools.simulator.clock import Hours
from tools.simulator.draws import chance, overdispersed, weighted
from tools.simulator.labels import Pattern
from tools.simulator.ledger import Contact, Ledger
from tools.simulator.names import financial_peer_name
from tools.simulator.organic import Persona

HONEST_SHARE: dict[Pattern, tuple[float, float, float]] = {
    Pattern.QR_BATCH_BURST: (0.3, 0.9, 1.0),
    Pattern.PEER_INSTITUTION: (0.3, 0.9, 1.0),
    Pattern.MUTUAL_ADD_RING: (0.3, 0.9, 1.0),
    Pattern.QUICK_DELETE: (0.3, 0.9, 1.0),
    Pattern.NO_ENGAGEMENT: (0.0, 0.5, 0.7),
    Pattern.PERIOD_END_PILEUP: (0.3, 0.7, 0.8),
}
"""Multiplier on a gamer's honest add rate, per camouflage level 0, 1, 2."""

MASS_SENDS: dict[Pattern, tuple[int, int, int]] = {
    Pattern.NO_ENGAGEMENT: (0, 1, 2),
}


def _stranger(ledger: Ledger, rng: random.Random, matched: float = 0.0) -> Contact:
    """An account with no tie to the bank (bought, cold-called, a colleague's friend)."""
    if chance(rng, matched):
        return ledger.new_contact(customer=True, tier="大众", silent=True)
    return ledger.new_contact(customer=False if chance(rng, 0.5) else None, silent=True)


def _days_before_end(ledger: Ledger, margin_days: int) -> list[date]:
    days = list(ledger.clock.days)
    return days[: max(1, len(days) - margin_days)]


def qr_batch_burst(
    ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int, campaigns: Sequence[str]
) -> None:
    """Bought adds: a seller's users scan one channel code within an hour or two."""
    bursts, (low, high), span_minutes, hours = (
        (rng.randint(1, 2), (50, 90), (40, 110), Hours.NIGHT),
        (2, (30, 50), (60, 140), Hours.EVENING),
        (3, (18, 28), (80, 150), Hours.CORE_OFFICE),
    )[camouflage]
    emp = persona.employee_id
    days = _days_before_end(ledger, 8)
    if camouflage == 2:
        days = [d for d in days if ledger.clock.is_working_day(d)]
    for burst, day in enumerate(sorted(rng.sample(days, min(bursts, len(days))))):
        state = f"{rng.choice(campaigns)}_{emp}" if camouflage == 2 else f"qr_{emp}_hb{burst + 1}"
        start = ledger.clock.moment(rng, day, hours)
        span = rng.uniform(*span_minutes) * 60
        for _ in range(rng.randint(low, high)):
            at = start + timedelta(seconds=rng.uniform(0, span))
            contact = _stranger(ledger, rng)
            if not ledger.add(
                rng,
                emp,
                contact,
                at,
                add_way=1,
                state=state,
                label=Pattern.QR_BATCH_BURST,
                by_customer=True,
                half=chance(rng, 0.3),
                welcome=chance(rng, 0.5),
            ):
                continue
            if camouflage == 2:
                converse(ledger, rng, emp, contact.external_userid, at, ONE_MESSAGE)
                if chance(rng, 0.1):
                    gone = at + timedelta(days=rng.uniform(2, 10))
                    ledger.remove(emp, contact.external_userid, gone, by_customer=True)


def peer_institution(
    ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int, bank_name: str
) -> None:
    """同行互加: staff of other banks, insurers, brokers (and of the bank itself) swapping adds
    in exchange sessions, e.g. a WeChat group of people who all have a quota."""
    total = rng.randint(*((35, 55), (15, 25), (8, 14))[camouflage])
    n_sessions = (3, 2, 4)[camouflage]
    chat = Engagement(welcome=0.3, reply=0.3, chat_messages=(1, 2), answer=0.8)
    emp = persona.employee_id
    days = [d for d in _days_before_end(ledger, 3) if ledger.clock.is_working_day(d)]
    for index, day in enumerate(sorted(rng.sample(days, min(n_sessions, len(days))))):
        start = ledger.clock.moment(rng, day, Hours.EVENING if index % 2 else Hours.OFFICE_DAY)
        for _ in range(total // n_sessions + (index < total % n_sessions)):
            at = start + timedelta(seconds=rng.uniform(0, rng.uniform(1, 3) * 3600))
            contact = ledger.new_contact(
                customer=None,
                contact_type=2,
                corp_name=financial_peer_name(rng, bank_name),
                silent=camouflage < 2,
            )
            way = weighted(rng, ((4, 0.4), (3, 0.3), (2, 0.3)))
            if (
                ledger.add(
                    rng,
                    emp,
                    contact,
                    at,
                    add_way=way,
                    state="",
                    label=Pattern.PEER_INSTITUTION,
                    by_customer=chance(rng, 0.5),
                    welcome=chance(rng, 0.3),
                )
                and camouflage == 2
            ):
                converse(ledger, rng, emp, contact.external_userid, at, chat)


def mutual_add_ring(
    ledger: Ledger, rng: random.Random, members: Sequence[Persona], camouflage: int
) -> None:
    """Employees of unrelated teams all adding one pool of non-customers (each other's friends
    and family, a shared list): a dense employee–contact block."""
    pool_size = rng.randint(*((30, 40), (25, 35), (20, 30))[camouflage])
    coverage = (1.0, 0.8, 0.55)[camouflage]
    days = _days_before_end(ledger, 3)
    first = rng.randrange(0, max(1, len(days) - 7))
    window = (days[first : first + 3], days[first : first + 7], days)[camouflage]
    pool = [
        ledger.new_contact(customer=None if chance(rng, 0.6) else False, silent=camouflage < 2)
        for _ in range(pool_size)
    ]
    talk = Engagement(welcome=0.0, reply=1.0, chat_messages=(1, 1), answer=0.7)
    for member in members:
        hours = Hours.OFFICE_DAY if camouflage else None
        for contact in pool:
            if not chance(rng, coverage):
                continue
            at = ledger.clock.moment(rng, rng.choice(window), hours)
            way = weighted(rng, ((6, 0.4), (2, 0.3), (3, 0.3)))
            if (
                ledger.add(
                    rng,
                    member.employee_id,
                    contact,
                    at,
                    add_way=way,
                    state="",
                    label=Pattern.MUTUAL_ADD_RING,
                    by_customer=chance(rng, 0.5),
                    welcome=chance(rng, 0.4),
                )
                and camouflage == 2
                and chance(rng, 0.25)
            ):
                converse(ledger, rng, member.employee_id, contact.external_userid, at, talk)


def quick_delete(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """Add, get counted, delete: within hours (blatant) or days (camouflaged), by the employee
    or by a cooperating contact; some are re-added later and deleted again."""
    count = rng.randint(*((40, 65), (25, 40), (15, 25))[camouflage])
    low_h, high_h = ((0.5, 20), (2, 72), (24, 144))[camouflage]
    by_contact_p = (0.1, 0.25, 0.5)[camouflage]
    readd_p = (0.3, 0.15, 0.1)[camouflage]
    emp = persona.employee_id
    days = [d for d in _days_before_end(ledger, 8) if ledger.clock.is_working_day(d)]
    for _ in range(count):
        at = ledger.clock.moment(rng, rng.choice(days))
        contact = _stranger(ledger, rng)
        ext = contact.external_userid
        way = weighted(rng, ((2, 0.5), (1, 0.3), (5, 0.2)))
        state = f"qr_{emp}" if way == 1 else ""
        if not ledger.add(
            rng,
            emp,
            contact,
            at,
            add_way=way,
            state=state,
            label=Pattern.QUICK_DELETE,
            by_customer=way == 1,
        ):
            continue
        if camouflage == 2 and chance(rng, 0.3):
            converse(ledger, rng, emp, ext, at, ONE_MESSAGE)
        gone = ledger.remove(
            emp,
            ext,
            at + timedelta(hours=rng.uniform(low_h, high_h)),
            by_customer=chance(rng, by_contact_p),
        )
        if gone is None or not chance(rng, readd_p):
            continue
        again = gone + timedelta(hours=rng.uniform(2, 72))
        if ledger.add(
            rng,
            emp,
            contact,
            again,
            add_way=way,
            state=state,
            label=Pattern.QUICK_DELETE,
            by_customer=False,
        ):
            ledger.remove(
                emp, ext, again + timedelta(hours=rng.uniform(low_h, high_h)), by_customer=False
            )


def no_engagement(ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int) -> None:
    """Cold adds from a phone list, far above peers in volume, that never interact (at level 2
    a few matched and a rare reply)."""
    rate = (9.0, 5.0, 4.0)[camouflage]
    matched = (0.0, 0.05, 0.15)[camouflage]
    engagement = Engagement(0.2, 0.05, (1, 1), 0.5) if camouflage == 2 else SILENT
    emp = persona.employee_id
    for day in ledger.clock.working_days:
        for _ in range(overdispersed(rng, rate)):
            at = ledger.clock.moment(rng, day)
            contact = _stranger(ledger, rng, matched)
            way = weighted(rng, ((2, 0.5), (5, 0.3), (6, 0.2)))
            if ledger.add(
                rng,
                emp,
                contact,
                at,
                add_way=way,
                state="",
                label=Pattern.NO_ENGAGEMENT,
                by_customer=False,
                welcome=False,
            ):
                converse(ledger, rng, emp, contact.external_userid, at, engagement)


def period_end_pileup(
    ledger: Ledger, rng: random.Random, persona: Persona, camouflage: int
) -> None:
    """A large share of the month's adds in its last two or three days, of low quality."""
    count = rng.randint(*((60, 90), (35, 50), (25, 35))[camouflage])
    days = ledger.clock.last_days(2 if camouflage == 0 else 3)
    matched = (0.0, 0.1, 0.3)[camouflage]
    engagement = (SILENT, Engagement(0.3, 0.1, (1, 1), 0.5), Engagement(0.6, 0.2, (1, 2), 0.8))[
        camouflage
    ]
    emp = persona.employee_id
    for _ in range(count):
        hours = Hours.NIGHT if camouflage == 0 and chance(rng, 0.3) else Hours.OFFICE_DAY
        at = ledger.clock.moment(rng, rng.choice(days), hours)
        contact = _stranger(ledger, rng, matched)
        way = weighted(rng, ((1, 0.5), (2, 0.3), (5, 0.2)))
        if ledger.add(
            rng,
            emp,
            contact,
            at,
            add_way=way,
            state=f"qr_{emp}" if way == 1 else "",
            label=Pattern.PERIOD_END_PILEUP,
            by_customer=way == 1,
        ):
            converse(ledger, rng, emp, contact.external_userid, at, engagement)

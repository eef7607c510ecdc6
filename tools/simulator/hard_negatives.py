"""Honest look-alikes of gaming (docs/product.md: "hard negatives must stay quiet").

The branch event, the holiday event, the prospector and the inherited book need adds of their
own: a new hire, a top performer and a team's month-end push are honest organic work with a
different persona (ramp, rate, boost; see `cast.py`).

The prospector is an acquisition employee. The product's `employee` record has a free-text
`role` (which also picks the role target) and no segment field, so the simulator sends
prospectors as ordinary customer managers: a detector has to infer acquisition work from the
behaviour, as it would in a bank that does not tell."""

from __future__ import annotations

import random
from datetime import timedelta

from tools.simulator import records as shapes
from tools.simulator.behaviour import ENGAGED, Engagement, converse, human_chat
from tools.simulator.clock import Hours
from tools.simulator.draws import chance, overdispersed, weighted
from tools.simulator.ledger import Ledger
from tools.simulator.organic import TIERS, TRANSFER_ADD_WAY, Persona, channel


def branch_event(ledger: Ledger, rng: random.Random, persona: Persona) -> None:
    """A branch event (a salon, a pension-account day): about forty real customers scan the
    employee's event QR code within an hour, are matched by the CRM and chat afterwards. Same
    burst shape as bought adds, opposite quality: a success, not an anomaly."""
    clock = ledger.clock
    days = [d for d in clock.working_days if 0.15 <= clock.share_elapsed(d) <= 0.7]
    day = rng.choice(days or clock.working_days)
    start = clock.local(day, rng.uniform(9.5, 15.0))
    state = f"event_{persona.employee.branch_id}_{day:%m%d}"
    for _ in range(rng.randint(36, 45)):
        at = start + timedelta(seconds=rng.uniform(0, 55 * 60))
        matched = chance(rng, 0.93)
        contact = ledger.new_contact(
            customer=True if matched else None, tier=weighted(rng, TIERS) if matched else None
        )
        if ledger.add(
            rng,
            persona.employee_id,
            contact,
            at,
            add_way=1,
            state=state,
            label=persona.label,
            by_customer=True,
            welcome=True,
            assign_p=0.8,
        ):
            converse(ledger, rng, persona.employee_id, contact.external_userid, at, ENGAGED)


PROSPECT_RATE = 5.5
"""A prospector's acquisition adds per working day (on top of some ordinary work)."""
PROSPECT_MATCHED = (0.12, 0.35)
"""Share of a prospector's acquisition adds that are already bank customers (60–85 % are not)."""
PROSPECT_NEVER_ANSWER = (0.15, 0.4)
"""Share of a prospector's contacts who never answer (per prospector, drawn in this range)."""
PROSPECT_ONE_LINE = (0.25, 0.5)
"""Share of those who answer with a single line and are answered back: a real exchange, if a
short one (per prospector, drawn in this range)."""
LATER_CUSTOMER = 0.2
"""Share of a prospector's engaged non-customers who open an account later in the month."""


def prospecting(
    ledger: Ledger, rng: random.Random, persona: Persona, campaigns: tuple[str, ...]
) -> None:
    """Acquisition work: contacts met at a stall, by referral or by phone; most are not bank
    customers yet. Half write first, most others answer the greeting hours or days later at
    human, irregular latencies; many answer with a single line, a good share never answer; some
    open an account later (a second `customer_link`, now a customer)."""
    clock = ledger.clock
    matched = rng.uniform(*PROSPECT_MATCHED)
    silent = rng.uniform(*PROSPECT_NEVER_ANSWER)
    one_line = rng.uniform(*PROSPECT_ONE_LINE)
    emp = persona.employee_id
    for day in clock.days:
        weight = 1.0 if clock.is_working_day(day) else 0.25
        for _ in range(overdispersed(rng, PROSPECT_RATE * weight)):
            at = clock.moment(rng, day)
            is_customer = chance(rng, matched)
            contact = ledger.new_contact(
                customer=True if is_customer else (False if chance(rng, 0.7) else None),
                tier=weighted(rng, TIERS) if is_customer else None,
            )
            way, state, by_customer = channel(rng, emp, campaigns)
            if not ledger.add(
                rng,
                emp,
                contact,
                at,
                add_way=way,
                state=state,
                label=persona.label,
                by_customer=by_customer,
                welcome=True,
            ):
                continue
            never = chance(rng, silent)
            human_chat(
                ledger,
                rng,
                emp,
                contact.external_userid,
                at,
                writes_first=by_customer and not never and chance(rng, 0.6),
                never_replies=never,
                one_line=chance(rng, one_line),
            )
            if not is_customer and not never and chance(rng, LATER_CUSTOMER):
                opened = at + timedelta(days=rng.uniform(2, 25))
                contact.is_customer, contact.tier, contact.linked = True, "大众", True
                ledger.emit(opened, shapes.customer_link(contact, emp, opened))


def inherited_book(ledger: Ledger, rng: random.Random, persona: Persona) -> None:
    """离职继承: a colleague left at the end of last month and an admin hands their book to this
    employee on one working day in the month's first half: 30 to 60 long-standing customers
    arrive within minutes (add_way 202, no delete callback: the leaver's account is gone). They
    know the bank, not yet this employee: most answer the introduction, some not within the
    week."""
    clock = ledger.clock
    days = [d for d in clock.working_days if clock.share_elapsed(d) <= 0.5]
    start = clock.moment(rng, rng.choice(days or clock.working_days), Hours.CORE_OFFICE)
    introduced = Engagement(welcome=0.95, reply=0.6, chat_messages=(1, 4), answer=0.95)
    for index in range(rng.randint(30, 60)):
        at = start + timedelta(seconds=2 * index)
        matched = chance(rng, 0.9)
        contact = ledger.new_contact(
            customer=True if matched else None, tier=weighted(rng, TIERS) if matched else None
        )
        if ledger.add(
            rng,
            persona.employee_id,
            contact,
            at,
            add_way=TRANSFER_ADD_WAY,
            state="",
            label=persona.label,
            by_customer=False,
            welcome=False,
            assign_p=0.95,
        ):
            converse(ledger, rng, persona.employee_id, contact.external_userid, at, introduced)


def holiday_event(ledger: Ledger, rng: random.Random, persona: Persona) -> None:
    """A branch event on a public holiday or a weekend (a Mid-Autumn or National Day tea, a
    pension-account day at a market): forty to fifty-five real customers scan the event code in
    an hour and a half, are matched by the CRM and chat afterwards."""
    clock = ledger.clock
    off = [d for d in clock.days if not clock.is_working_day(d) and clock.share_elapsed(d) <= 0.7]
    holidays = [d for d in off if d.weekday() < 5]
    day = rng.choice(holidays or off or list(clock.days))
    start = clock.local(day, rng.uniform(9.5, 15.0))
    state = f"event_{persona.employee.branch_id}_{day:%m%d}"
    for _ in range(rng.randint(40, 55)):
        at = start + timedelta(seconds=rng.uniform(0, 90 * 60))
        matched = chance(rng, 0.9)
        contact = ledger.new_contact(
            customer=True if matched else None, tier=weighted(rng, TIERS) if matched else None
        )
        if ledger.add(
            rng,
            persona.employee_id,
            contact,
            at,
            add_way=1,
            state=state,
            label=persona.label,
            by_customer=True,
            welcome=True,
            assign_p=0.8,
        ):
            converse(ledger, rng, persona.employee_id, contact.external_userid, at, ENGAGED)

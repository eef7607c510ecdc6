"""Honest work: each employee's organic adds over the month, and handovers between colleagues.

Adds follow the working calendar (holidays and weekends quiet, make-up Saturdays worked) with
over-dispersed daily counts around the employee's own rate; most contacts are matched bank
customers reached through the employee's QR code, a campaign code or a phone search."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tools.simulator.behaviour import HONEST, Engagement, converse, honest_churn
from tools.simulator.draws import chance, overdispersed, weighted
from tools.simulator.labels import CLEAN
from tools.simulator.ledger import Contact, Ledger
from tools.simulator.names import company_name
from tools.simulator.org import Employee

ADD_WAYS: tuple[tuple[int, float], ...] = (
    (1, 0.42),
    (2, 0.13),
    (3, 0.08),
    (4, 0.05),
    (5, 0.07),
    (6, 0.05),
    (15, 0.05),
    (16, 0.10),
    (201, 0.03),
    (0, 0.02),
)
"""WeCom `add_way` codes (docs/wecom.md §3) in the mix a branch sees: mostly QR scans."""
CUSTOMER_INITIATED = frozenset({1, 3, 15, 16})
TIERS: tuple[tuple[str, float], ...] = (
    ("大众", 0.55),
    ("金卡", 0.25),
    ("白金", 0.12),
    ("钻石", 0.06),
    ("私人银行", 0.02),
)
WEEKDAY_WEIGHT = (1.1, 1.0, 1.0, 1.0, 0.9, 0.8, 0.8)
"""Monday catches up on the weekend; a worked (make-up) weekend day is a little slower."""
HOLIDAY_WEIGHT = 0.12
TRANSFER_ADD_WAY = 202
"""`add_way` of a contact handed over by an admin (在职继承)."""


@dataclass(frozen=True, slots=True)
class Persona:
    """How one employee works this month: their label and the shape of their honest work."""

    employee: Employee
    label: str
    rate: float
    """Honest adds per ordinary working day."""
    match: float = 0.75
    """Share of honest contacts that are matched bank customers."""
    engagement: Engagement = HONEST
    ramp: tuple[float, float] = (1.0, 1.0)
    """Rate multiplier at the first and at the last day of the month (a new hire ramps up)."""
    month_end_boost: float = 1.0
    """Rate multiplier on the month's last three working days (a team's month-end push)."""
    mass_sends: int = 2
    teammates: tuple[str, ...] = ()

    @property
    def employee_id(self) -> str:
        return self.employee.employee_id

    @property
    def honest_label(self) -> str:
        """The label of this employee's honest contacts: a hard negative's own, else clean."""
        return self.label if self.label.startswith("hard_negative:") else CLEAN


def customer(ledger: Ledger, rng: random.Random, match: float) -> Contact:
    """A contact as honest work brings them: usually a matched customer, sometimes a company's
    WeCom user, sometimes unknown to the CRM (not yet a customer)."""
    contact_type, corp_name = (2, company_name(rng)) if chance(rng, 0.05) else (1, None)
    if chance(rng, match):
        return ledger.new_contact(
            customer=True, tier=weighted(rng, TIERS), contact_type=contact_type, corp_name=corp_name
        )
    return ledger.new_contact(
        customer=False if chance(rng, 0.5) else None, contact_type=contact_type, corp_name=corp_name
    )


def channel(
    rng: random.Random, employee_id: str, campaigns: tuple[str, ...]
) -> tuple[int, str, bool]:
    """(add_way, State, customer-initiated) of an honest add."""
    way = weighted(rng, ADD_WAYS)
    state = ""
    if way == 1:
        personal = chance(rng, 0.7)
        state = f"qr_{employee_id}" if personal else f"{rng.choice(campaigns)}_{employee_id}"
    elif way == 16:
        state = f"link_{employee_id}"
    by_customer = way in CUSTOMER_INITIATED or (way == 4 and chance(rng, 0.5))
    return way, state, by_customer


def honest_add(
    ledger: Ledger,
    rng: random.Random,
    persona: Persona,
    at: datetime,
    campaigns: tuple[str, ...],
    *,
    engagement: Engagement | None = None,
) -> None:
    """One honest add with its first week: chat, ordinary churn, now and then a colleague who
    adds the same customer (shared contacts inside a team are normal)."""
    contact = customer(ledger, rng, persona.match)
    way, state, by_customer = channel(rng, persona.employee_id, campaigns)
    added = ledger.add(
        rng,
        persona.employee_id,
        contact,
        at,
        add_way=way,
        state=state,
        label=persona.honest_label,
        by_customer=by_customer,
        half=way == 1 and chance(rng, 0.05),
        welcome=chance(rng, 0.9),
    )
    if not added:
        return
    ext = contact.external_userid
    converse(ledger, rng, persona.employee_id, ext, at, engagement or persona.engagement)
    honest_churn(ledger, rng, persona.employee_id, ext, at)
    if persona.teammates and chance(rng, 0.03):
        colleague = rng.choice(persona.teammates)
        later = at + timedelta(hours=rng.uniform(1, 240))
        if ledger.add(
            rng, colleague, contact, later, add_way=201, state="", label=CLEAN, by_customer=False
        ):
            converse(ledger, rng, colleague, ext, later, HONEST)


def organic_month(
    ledger: Ledger, rng: random.Random, persona: Persona, campaigns: tuple[str, ...]
) -> None:
    """The employee's honest adds, day by day, following the working calendar."""
    clock = ledger.clock
    push_days = set(clock.working_days[-3:])
    first, last = persona.ramp
    for day in clock.days:
        weight = WEEKDAY_WEIGHT[day.weekday()] if clock.is_working_day(day) else HOLIDAY_WEIGHT
        weight *= first + (last - first) * clock.share_elapsed(day)
        if day in push_days:
            weight *= persona.month_end_boost
        for _ in range(overdispersed(rng, persona.rate * weight)):
            honest_add(ledger, rng, persona, clock.moment(rng, day), campaigns)


def handover(ledger: Ledger, rng: random.Random, giver: Persona, heir: Persona) -> None:
    """在职继承: an admin hands some of `giver`'s customers to `heir` on a working day in the
    second half of the month. WeCom deletes them from the giver (`Source` DELETE_BY_TRANSFER,
    not churn) and adds them to the heir; recent adds are included on purpose, since the
    transfer must not void the giver's add inside its 7-day window."""
    clock = ledger.clock
    days = [d for d in clock.working_days if clock.share_elapsed(d) >= 0.5]
    if not days:
        return
    at = clock.moment(rng, rng.choice(days))
    candidates = [
        ext
        for ext in ledger.connected(giver.employee_id, at)
        if (heir.employee_id, ext) not in ledger.relations
    ]
    candidates.sort(key=lambda ext: max(ledger.relation(giver.employee_id, ext).adds))
    chosen = candidates[-rng.randint(5, 12) :] if candidates else []
    for offset, ext in enumerate(chosen):
        moved = ledger.remove(
            giver.employee_id,
            ext,
            at + timedelta(seconds=3 * offset),
            by_customer=False,
            source="DELETE_BY_TRANSFER",
        )
        if moved is not None:
            ledger.add(
                rng,
                heir.employee_id,
                ledger.contacts[ext],
                moved + timedelta(seconds=1),
                add_way=TRANSFER_ADD_WAY,
                state="",
                label=heir.honest_label,
                by_customer=False,
                welcome=False,
            )

"""Honest look-alikes of gaming (docs/product.md: "hard negatives must stay quiet").

Only the branch event needs its own adds: a new hire, a top performer and a team's month-end
push are honest organic work with a different persona (ramp, rate, boost; see `cast.py`)."""

from __future__ import annotations

import random
from datetime import timedelta

from tools.simulator.behaviour import ENGAGED, converse
from tools.simulator.draws import chance, weighted
from tools.simulator.ledger import Ledger
from tools.simulator.organic import TIERS, Persona


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

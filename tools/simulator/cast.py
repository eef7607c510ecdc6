"""Who does what this month: every employee gets a persona and a ground-truth label.

Gamers and hard negatives are drawn from the frontline (customer managers and tellers); a ring
takes members from different teams, different branches where possible ("unrelated teams"). A
whole team gets the honest month-end push, and no gamer sits in that team, so its label is
unambiguous. Adaptive gamers (`adaptive.py`) and the newer honest kinds (prospector, inherited
book, holiday event) are drawn after everyone else, so the earlier kinds fall on the same
people as before; an in-team ring takes its members from one team."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from tools.simulator.adaptive import HONEST_SHARE as ADAPTIVE_HONEST_SHARE
from tools.simulator.behaviour import ENGAGED
from tools.simulator.gaming import HONEST_SHARE, MASS_SENDS
from tools.simulator.labels import CLEAN, Adaptive, HardNegative, Pattern, hard_negative_label
from tools.simulator.org import BRANCH_HEAD, CUSTOMER_MANAGER, FRONTLINE, TELLER, Employee, Org
from tools.simulator.organic import Persona

BASE_RATE = {CUSTOMER_MANAGER: 4.6, TELLER: 2.4, BRANCH_HEAD: 1.2}
"""Median honest adds per working day by role (a team lead: 1.6)."""
NEW_HIRE_TARGET = 30
TOP_PERFORMER_TARGET = 150
ADAPTIVE_MIN_EMPLOYEES = 60
"""Below this the org has no room for the adaptive gamers and the newer honest kinds beside a
clean majority: a smaller scenario (the fast test fixtures) holds the original kinds only."""
PROSPECTOR_ORDINARY_SHARE = 0.15
"""A prospector's ordinary (mostly customer) work beside acquisition, as a share of the usual."""


@dataclass(frozen=True, slots=True)
class Cast:
    personas: dict[str, Persona]
    rings: tuple[tuple[str, ...], ...]
    target_overrides: dict[str, int]
    team_rings: tuple[tuple[str, ...], ...] = ()

    def with_label(self, label: str) -> list[Persona]:
        return [p for p in self.personas.values() if p.label == label]


def cast(rng: random.Random, org: Org, camouflage: int) -> Cast:
    size = len(org.employees)
    personas = {e.employee_id: _ordinary(rng, org, e) for e in org.employees.values()}
    overrides: dict[str, int] = {}

    push_team = rng.choice([t for t in org.teams if len(t.members) >= 5] or org.teams)
    for member in push_team.members:
        personas[member] = replace(
            personas[member],
            label=hard_negative_label(HardNegative.TEAM_MONTH_END),
            month_end_boost=3.5,
            match=0.85,
            engagement=ENGAGED,
        )
    pool = [e for e in org.frontline() if e.team_id != push_team.team_id]
    rng.shuffle(pool)

    rings = tuple(_ring(pool, 4 if size < 120 else 5) for _ in range(max(1, round(size / 100))))
    ring_members = {m for ring in rings for m in ring}
    for employee_id in ring_members:
        personas[employee_id] = _gamer(personas[employee_id], Pattern.MUTUAL_ADD_RING, camouflage)

    per_pattern = max(1, round(size * 0.015))
    for pattern in Pattern:
        if pattern is Pattern.MUTUAL_ADD_RING:
            continue
        for employee in _take(pool, per_pattern):
            personas[employee.employee_id] = _gamer(
                personas[employee.employee_id], pattern, camouflage
            )

    per_kind = max(1, round(size / 100))
    for employee in _take(pool, per_kind):
        personas[employee.employee_id] = replace(
            personas[employee.employee_id],
            label=hard_negative_label(HardNegative.BRANCH_EVENT),
            match=0.8,
        )
    for employee in _take(pool, per_kind):
        overrides[employee.employee_id] = NEW_HIRE_TARGET
        personas[employee.employee_id] = replace(
            personas[employee.employee_id],
            label=hard_negative_label(HardNegative.NEW_HIRE),
            ramp=(0.1, 1.9),
        )
    for employee in _take(pool, per_kind):
        overrides[employee.employee_id] = TOP_PERFORMER_TARGET
        top = personas[employee.employee_id]
        personas[employee.employee_id] = replace(
            top,
            label=hard_negative_label(HardNegative.TOP_PERFORMER),
            rate=top.rate * 2.6,
            match=0.88,
            engagement=ENGAGED,
            mass_sends=3,
        )
    for employee in pool[: max(1, size // 25)]:
        overrides[employee.employee_id] = rng.choice((80, 120))

    if size < ADAPTIVE_MIN_EMPLOYEES:
        return Cast(personas, rings, overrides)
    team_rings = (_team_ring(pool, 3 if size >= 120 else 2),)
    for employee_id in team_rings[0]:
        personas[employee_id] = _adaptive(personas[employee_id], Adaptive.TEAM_RING, camouflage)
    for kind in Adaptive:
        if kind is Adaptive.TEAM_RING:
            continue
        for employee in _take(pool, per_pattern):
            personas[employee.employee_id] = _adaptive(
                personas[employee.employee_id], kind, camouflage
            )
    for employee in _take(pool, max(1, round(size / 50))):
        prospector = personas[employee.employee_id]
        personas[employee.employee_id] = replace(
            prospector,
            label=hard_negative_label(HardNegative.PROSPECTOR),
            rate=prospector.rate * PROSPECTOR_ORDINARY_SHARE,
        )
    for honest in (HardNegative.INHERITED_BOOK, HardNegative.HOLIDAY_EVENT):
        for employee in _take(pool, per_kind):
            personas[employee.employee_id] = replace(
                personas[employee.employee_id], label=hard_negative_label(honest), match=0.8
            )
    return Cast(personas, rings, overrides, team_rings)


def _ordinary(rng: random.Random, org: Org, employee: Employee) -> Persona:
    team = org.team(employee.team_id) if employee.role != BRANCH_HEAD else None
    mates = tuple(
        m
        for m in (team.members if team else [])
        if m != employee.employee_id and org.employees[m].role in FRONTLINE
    )
    return Persona(
        employee=employee,
        label=CLEAN,
        rate=BASE_RATE.get(employee.role, 1.6) * rng.lognormvariate(0.0, 0.25),
        match=rng.uniform(0.65, 0.85),
        mass_sends=rng.randint(1, 3),
        teammates=mates,
    )


def _gamer(persona: Persona, pattern: Pattern, camouflage: int) -> Persona:
    mass = MASS_SENDS.get(pattern)
    return replace(
        persona,
        label=pattern.value,
        rate=persona.rate * HONEST_SHARE[pattern][camouflage],
        mass_sends=persona.mass_sends if mass is None else mass[camouflage],
    )


def _adaptive(persona: Persona, kind: Adaptive, camouflage: int) -> Persona:
    return replace(
        persona,
        label=kind.value,
        rate=persona.rate * ADAPTIVE_HONEST_SHARE[kind][camouflage],
    )


def _team_ring(pool: list[Employee], size: int) -> tuple[str, ...]:
    """`size` members of one team (the first team in the pool's order that has them)."""
    by_team: dict[str, list[Employee]] = {}
    for employee in pool:
        by_team.setdefault(employee.team_id, []).append(employee)
    for members in by_team.values():
        if len(members) >= size:
            for member in members[:size]:
                pool.remove(member)
            return tuple(m.employee_id for m in members[:size])
    raise ValueError("the org is too small for a ring inside one team")


def _take(pool: list[Employee], count: int) -> list[Employee]:
    if len(pool) < count:
        raise ValueError("the org is too small for every pattern and hard negative")
    taken, pool[:] = pool[:count], pool[count:]
    return taken


def _ring(pool: list[Employee], size: int) -> tuple[str, ...]:
    """Members from distinct teams of distinct branches while there are such; then distinct
    teams; only a small org falls back to two members of one team."""
    chosen: list[Employee] = []
    for level in (2, 1, 0):
        for employee in list(pool):
            if len(chosen) == size:
                break
            if level >= 1 and employee.team_id in {c.team_id for c in chosen}:
                continue
            if level == 2 and employee.branch_id in {c.branch_id for c in chosen}:
                continue
            chosen.append(employee)
            pool.remove(employee)
    if len(chosen) < size:
        raise ValueError("the org is too small for a ring across unrelated teams")
    return tuple(c.employee_id for c in chosen)

"""A simulated bank month: the records to send, the ground truth, and the expected quota.

`generate` is pure: same configuration, same scenario, no I/O. Records are in `/v1/events`
shape and ordered by event time; contact events can be taken apart (`contact_events`) and sent
through a WeCom callback instead."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tools.simulator import records as shapes
from tools.simulator.adaptive import (
    behaving_bought,
    late_delete,
    slow_drip,
    spread_pileup,
    staff_padding,
    staff_wechat,
    team_ring,
)
from tools.simulator.behaviour import mass_sends
from tools.simulator.cast import Cast, cast
from tools.simulator.clock import MonthClock
from tools.simulator.config import SimulationConfig
from tools.simulator.gaming import (
    mutual_add_ring,
    no_engagement,
    peer_institution,
    period_end_pileup,
    qr_batch_burst,
    quick_delete,
)
from tools.simulator.hard_negatives import (
    branch_event,
    holiday_event,
    inherited_book,
    prospecting,
)
from tools.simulator.ids import IdFactory
from tools.simulator.labels import (
    CLEAN,
    Adaptive,
    ContactFact,
    HardNegative,
    Pattern,
    hard_negative_label,
)
from tools.simulator.ledger import Ledger
from tools.simulator.org import ROLE_TARGETS, Org, build_org
from tools.simulator.organic import handover, organic_month
from tools.simulator.validity import ExpectedQuota, expected_quota

MAIL_DOMAIN = "jnrcb.example.cn"


@dataclass(frozen=True)
class Labels:
    """Ground truth. `employees`: a pattern code, "clean" or "hard_negative:<kind>".
    `contacts`: the same per (employee_id, external_userid) relation the scenario created.
    `rings`: the members of each mutual-add ring; `team_rings` of each in-team ring.
    `facts`: per relation, the `ContactFact`s that hold at the end of the window (a customer
    who has not written yet, a delete by the customer): facts, never accusations; a relation
    without facts is absent."""

    employees: dict[str, str]
    contacts: dict[tuple[str, str], str]
    rings: tuple[tuple[str, ...], ...]
    team_rings: tuple[tuple[str, ...], ...] = ()
    facts: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "employees": self.employees,
            "contacts": [
                {
                    "employee_id": emp,
                    "external_userid": ext,
                    "label": label,
                    "facts": list(self.facts.get((emp, ext), ())),
                }
                for (emp, ext), label in sorted(self.contacts.items())
            ],
            "rings": [list(ring) for ring in self.rings],
            "team_rings": [list(ring) for ring in self.team_rings],
        }


@dataclass(frozen=True)
class Scenario:
    """One generated month. `expected` are the default-rule quota figures at `as_of` (the end
    of the simulated window); `expected_at` recomputes them for another instant."""

    config: SimulationConfig
    clock: MonthClock
    records: tuple[dict[str, Any], ...]
    labels: Labels
    as_of: datetime
    expected: dict[str, ExpectedQuota]

    @property
    def contact_events(self) -> list[dict[str, Any]]:
        """The WeCom callback part: what a real deployment receives at `/wecom/callback`."""
        return [r for r in self.records if r["type"] == "contact_event"]

    @property
    def bank_records(self) -> list[dict[str, Any]]:
        """Everything else: what the bank's systems send to `/v1/events`."""
        return [r for r in self.records if r["type"] != "contact_event"]

    def expected_at(self, as_of: datetime) -> dict[str, ExpectedQuota]:
        return expected_quota(
            self.records,
            as_of,
            self.clock.period,
            peer_patterns=self.config.peer_patterns,
            tz=self.clock.calendar.tz,
        )

    def labels_json(self) -> dict[str, Any]:
        """Labels plus the expected quota, as the CLI writes them (`--labels`)."""
        return {
            "seed": self.config.seed,
            "month": self.config.month,
            "camouflage": self.config.camouflage,
            "as_of": self.as_of.isoformat(),
            **self.labels.to_json(),
            "expected": {emp: vars_of(q) for emp, q in self.expected.items()},
        }


def vars_of(quota: ExpectedQuota) -> dict[str, int]:
    return {name: getattr(quota, name) for name in quota.__slots__}


def generate(config: SimulationConfig) -> Scenario:
    """Build the month: org and targets, honest work, hard negatives, gaming, handovers, mass
    sends; then the expected quota from the records themselves."""

    def stream(name: str) -> random.Random:
        return random.Random(f"{config.seed}:{name}")

    clock = MonthClock.of(config.month)
    ids = IdFactory(stream("ids"))
    org = build_org(stream("org"), ids, config.employees, config.robot_base, MAIL_DOMAIN)
    if config.id_salt:
        ids.reseed(stream(f"ids:{config.id_salt}"))
    ledger = Ledger(clock, ids, config.corp_id, config.tail_days)
    roles = cast(stream("cast"), org, config.camouflage)
    _org_records(ledger, org, roles, clock.period.key)

    yymm = f"{clock.period.start:%y%m}"
    campaigns = (f"fund{yymm}", f"card{yymm}", f"pension{yymm}")
    for employee_id, persona in sorted(roles.personas.items()):
        organic_month(ledger, stream(f"organic:{employee_id}"), persona, campaigns)
    for persona in roles.with_label(hard_negative_label(HardNegative.BRANCH_EVENT)):
        branch_event(ledger, stream(f"event:{persona.employee_id}"), persona)
    _newer_honest(ledger, roles, campaigns, stream)
    _gaming(ledger, roles, config, campaigns, stream)
    _adaptive(ledger, roles, org, config, stream)
    _handovers(ledger, roles, stream("handover"))
    for employee_id, persona in sorted(roles.personas.items()):
        mass_sends(ledger, stream(f"mass:{employee_id}"), employee_id, persona.mass_sends)

    records = tuple(ledger.records())
    as_of = ledger.cutoff
    labels = Labels(
        employees={emp: p.label for emp, p in sorted(roles.personas.items())},
        contacts=dict(sorted(ledger.labels.items())),
        rings=roles.rings,
        team_rings=roles.team_rings,
        facts=contact_facts(records, ledger.labels),
    )
    expected = expected_quota(
        records, as_of, clock.period, peer_patterns=config.peer_patterns, tz=clock.calendar.tz
    )
    return Scenario(config, clock, records, labels, as_of, expected)


def _org_records(ledger: Ledger, org: Org, roles: Cast, period: str) -> None:
    """Org and targets, stamped at the month's first instant (in force for the whole month)."""
    at = ledger.clock.start
    for e in sorted(org.employees.values(), key=lambda e: (e.branch_id, e.team_id, e.role)):
        ledger.emit(
            at,
            shapes.employee(
                e.employee_id,
                e.name,
                e.branch_id,
                e.team_id,
                e.supervisor_id,
                e.role,
                e.robot_webhook,
                e.email,
                at,
            ),
        )
    for role, value in ROLE_TARGETS.items():
        ledger.emit(at, shapes.target("role", role, period, value, at))
    for team_id, value in sorted(org.team_targets.items()):
        ledger.emit(at, shapes.target("team", team_id, period, value, at))
    for employee_id, value in sorted(roles.target_overrides.items()):
        ledger.emit(at, shapes.target("employee", employee_id, period, value, at))


def _gaming(
    ledger: Ledger,
    roles: Cast,
    config: SimulationConfig,
    campaigns: tuple[str, ...],
    stream: Callable[[str], random.Random],
) -> None:
    camo = config.camouflage
    for persona in roles.with_label(Pattern.QR_BATCH_BURST):
        qr_batch_burst(ledger, stream(f"qr:{persona.employee_id}"), persona, camo, campaigns)
    for persona in roles.with_label(Pattern.PEER_INSTITUTION):
        peer_institution(
            ledger, stream(f"peer:{persona.employee_id}"), persona, camo, config.bank_name
        )
    for index, ring in enumerate(roles.rings):
        members = [roles.personas[m] for m in ring]
        mutual_add_ring(ledger, stream(f"ring:{index}"), members, camo)
    for persona in roles.with_label(Pattern.QUICK_DELETE):
        quick_delete(ledger, stream(f"delete:{persona.employee_id}"), persona, camo)
    for persona in roles.with_label(Pattern.NO_ENGAGEMENT):
        no_engagement(ledger, stream(f"silent:{persona.employee_id}"), persona, camo)
    for persona in roles.with_label(Pattern.PERIOD_END_PILEUP):
        period_end_pileup(ledger, stream(f"pileup:{persona.employee_id}"), persona, camo)


def _newer_honest(
    ledger: Ledger,
    roles: Cast,
    campaigns: tuple[str, ...],
    stream: Callable[[str], random.Random],
) -> None:
    for persona in roles.with_label(hard_negative_label(HardNegative.PROSPECTOR)):
        prospecting(ledger, stream(f"prospect:{persona.employee_id}"), persona, campaigns)
    for persona in roles.with_label(hard_negative_label(HardNegative.INHERITED_BOOK)):
        inherited_book(ledger, stream(f"inherit:{persona.employee_id}"), persona)
    for persona in roles.with_label(hard_negative_label(HardNegative.HOLIDAY_EVENT)):
        holiday_event(ledger, stream(f"holiday:{persona.employee_id}"), persona)


def _adaptive(
    ledger: Ledger,
    roles: Cast,
    org: Org,
    config: SimulationConfig,
    stream: Callable[[str], random.Random],
) -> None:
    camo = config.camouflage
    for persona in roles.with_label(Adaptive.BEHAVING_BOUGHT):
        behaving_bought(ledger, stream(f"behaving:{persona.employee_id}"), persona, camo)
    for persona in roles.with_label(Adaptive.SLOW_DRIP):
        slow_drip(ledger, stream(f"drip:{persona.employee_id}"), persona, camo)
    for index, ring in enumerate(roles.team_rings):
        team_ring(ledger, stream(f"team-ring:{index}"), [roles.personas[m] for m in ring])
    for persona in roles.with_label(Adaptive.SPREAD_PILEUP):
        spread_pileup(ledger, stream(f"spread:{persona.employee_id}"), persona, camo)
    for persona in roles.with_label(Adaptive.LATE_DELETE):
        late_delete(ledger, stream(f"late:{persona.employee_id}"), persona, camo)
    if not roles.with_label(Adaptive.STAFF_PADDING):
        return
    staff = sorted(org.employees.values(), key=lambda e: e.employee_id)
    accounts = staff_wechat(ledger, stream("staff-wechat"), staff)
    branch_of = {e.employee_id: e.branch_id for e in staff}
    for persona in roles.with_label(Adaptive.STAFF_PADDING):
        staff_padding(
            ledger, stream(f"padding:{persona.employee_id}"), persona, camo, branch_of, accounts
        )


def contact_facts(
    records: Sequence[Mapping[str, Any]], relations: Mapping[tuple[str, str], str]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """The facts of each relation at the end of the records: whether the contact has written a
    one-to-one message to the employee, whether they deleted the employee."""
    wrote: set[tuple[str, str]] = set()
    deleted: set[tuple[str, str]] = set()
    for r in records:
        if r["type"] == "message" and r["direction"] == "from_customer":
            if r["kind"] == "one_to_one":
                wrote.add((r["employee_id"], r["external_userid"]))
        elif r["type"] == "contact_event" and r["ChangeType"] == "del_follow_user":
            deleted.add((r["UserID"], r["ExternalUserID"]))
    facts: dict[tuple[str, str], tuple[str, ...]] = {}
    for key in sorted(relations):
        found = tuple(
            fact.value
            for fact, holds in (
                (ContactFact.NOT_WRITTEN_YET, key not in wrote),
                (ContactFact.DELETED_BY_CUSTOMER, key in deleted),
            )
            if holds
        )
        if found:
            facts[key] = found
    return facts


def _handovers(ledger: Ledger, roles: Cast, rng: random.Random) -> None:
    """About one handover per 60 employees, between two clean colleagues of one team."""
    clean = [p for _, p in sorted(roles.personas.items()) if p.label == CLEAN and p.teammates]
    wanted = max(1, len(roles.personas) // 60)
    rng.shuffle(clean)
    done = 0
    for giver in clean:
        heirs = [roles.personas[m] for m in giver.teammates if roles.personas[m].label == CLEAN]
        if heirs and done < wanted:
            handover(ledger, rng, giver, rng.choice(heirs))
            done += 1

"""`python -m tools.evaluate.replay`: the tuning months scored without a stack, for tuning the
anomaly domain in seconds instead of a `make eval` run.

A simulated month's records are turned into what the scorer reads from its database
(`services/scorer/inputs.py`: each relation's facts, the contacts' one-to-one messages, the
peers' baseline, contacts shared across teams, the dense blocks) and scored by the domain
(`anomaly.assess`, `contact_flags.split`) as the API scores them, then graded like `make eval`.
It mirrors the SQL of the inputs, so it is a tuning aid, not the evaluation: the figures that
count are `make eval`'s, through the real services. Only the split's tuning seeds are accepted,
and the held-out gaming kinds are left out of what it prints (`split.py`)."""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.scorer.domain import anomaly
from services.scorer.domain.anomaly import AnomalyResult, PeerBaseline
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.contact_flags import split
from services.scorer.domain.dense_block import Add, DenseBlock, dense_blocks
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.validity import (
    HANDOVER_MATCH,
    ContactFacts,
    ContactStatus,
    ContactVerdict,
    Removal,
)
from services.scorer.inputs import Overlap
from services.scorer.scoring import NO_OVERLAP, WEEK_TAIL_DAYS, Scorer
from shared.calendar import BusinessCalendar
from shared.clock import ManualClock
from tools.evaluate import split as evaluation_split
from tools.evaluate.grading import EmployeeResult, grade, summarise, summary_table
from tools.simulator import Scenario, SimulationConfig, generate

ADDS = frozenset({"add_external_contact", "add_half_external_contact"})
REMOVALS = frozenset({"del_external_contact", "del_follow_user"})
MIN_PARTNER = 3
"""Contacts shared before another employee is a ring partner (`inputs.cross_team_overlap`)."""


@dataclass
class _Relation:
    first: datetime
    last: datetime
    count: int = 0
    state: str | None = None
    add_way: int | None = None
    removals: list[Removal] = field(default_factory=list)


@dataclass
class _Contact:
    contact_type: int | None = None
    corp_name: str | None = None
    unionid: str | None = None
    profile_at: datetime | None = None
    found: bool | None = None
    is_customer: bool | None = None
    tier: str | None = None
    assigned: str | None = None
    link_at: datetime | None = None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class MonthInputs:
    """What the scorer reads for a month's anomaly scores, per employee."""

    facts: dict[str, list[ContactFacts]]
    chats: dict[str, dict[str, ChatTrace]]
    teams: dict[str, str]
    overlaps: dict[str, Overlap]
    blocks: dict[str, DenseBlock]


def month_inputs(
    records: Iterable[Mapping[str, Any]], start: datetime, end: datetime
) -> MonthInputs:
    """The relations first added in [start, end) with their facts, as the scorer's tables hold
    them once every record is applied (the latest profile and customer link by event time, HR's
    staff accounts by unionid, handovers within `HANDOVER_MATCH`)."""
    teams: dict[str, str] = {}
    relations: dict[tuple[str, str], _Relation] = {}
    contacts: dict[str, _Contact] = defaultdict(_Contact)
    first_adder: dict[str, tuple[datetime, str]] = {}
    staff: dict[str, str] = {}
    transfers: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    removals: dict[tuple[str, str], list[Removal]] = defaultdict(list)
    messages: dict[tuple[str, str], list[tuple[datetime, str, str, str]]] = defaultdict(list)
    followed: dict[tuple[str, str], tuple[datetime, int | None, str | None]] = {}
    for r in records:
        kind = r["type"]
        if kind == "employee":
            teams[r["employee_id"]] = r["team_id"]
        elif kind == "contact_event":
            key = (r["UserID"], r["ExternalUserID"])
            at = datetime.fromtimestamp(r["CreateTime"], UTC)
            if r["ChangeType"] in ADDS:
                rel = relations.setdefault(key, _Relation(at, at))
                rel.count += 1
                rel.first = min(rel.first, at)
                if at >= rel.last:
                    rel.last, rel.state = at, r.get("State") or rel.state
                known = first_adder.get(key[1])
                if known is None or (at, key[0]) < known:
                    first_adder[key[1]] = (at, key[0])
            elif r["ChangeType"] in REMOVALS:
                by = "customer" if r["ChangeType"] == "del_follow_user" else "employee"
                source = r.get("Source") or None
                removals[key].append(Removal(at, by, source))
                if source == "DELETE_BY_TRANSFER":
                    transfers[key[1]].append((at, key[0]))
        elif kind == "contact_profile":
            c = contacts[r["external_userid"]]
            at = _at(r["occurred_at"])
            found = bool(r.get("found", True))
            if c.profile_at is None or at >= c.profile_at:
                c.profile_at = at
                if found:
                    c.contact_type, c.corp_name = r.get("contact_type"), r.get("corp_name")
                c.unionid = r.get("unionid") or c.unionid
            c.found = bool(c.found) or found
            if r.get("employee_id"):
                key = (r["employee_id"], r["external_userid"])
                if key not in followed or at >= followed[key][0]:
                    followed[key] = (at, r.get("add_way"), r.get("state"))
        elif kind == "customer_link":
            c = contacts[r["external_userid"]]
            at = _at(r["occurred_at"])
            if c.link_at is None or at >= c.link_at:
                c.is_customer, c.tier = r["is_customer"], r.get("customer_tier")
                c.assigned, c.link_at = r.get("assigned_employee_id"), at
        elif kind == "staff_account":
            staff[r["unionid"]] = min(r["employee_id"], staff.get(r["unionid"], r["employee_id"]))
        elif kind == "message":
            key = (r["employee_id"], r["external_userid"])
            messages[key].append((_at(r["sent_at"]), r["direction"], r["kind"], r["message_id"]))
    facts: dict[str, list[ContactFacts]] = defaultdict(list)
    chats: dict[str, dict[str, ChatTrace]] = defaultdict(dict)
    for (employee, contact), rel in sorted(relations.items()):
        if not start <= rel.first < end:
            continue
        c = contacts.get(contact, _Contact())
        if (employee, contact) in followed:
            _, rel.add_way, state = followed[(employee, contact)]
            rel.state = state if state is not None else rel.state
        sent = messages.get((employee, contact), [])
        from_contact = [m for m in sent if m[1] == "from_customer"]
        to_contact = [m for m in sent if m[1] != "from_customer"]
        gone = removals.get((employee, contact), [])
        facts[employee].append(
            ContactFacts(
                employee_id=employee,
                external_userid=contact,
                first_added_at=rel.first,
                add_count=rel.count,
                contact_type=c.contact_type,
                corp_name=c.corp_name,
                is_customer=c.is_customer,
                customer_tier=c.tier,
                assigned_employee_id=c.assigned,
                state=rel.state,
                add_way=rel.add_way,
                first_customer_msg_at=min((m[0] for m in from_contact), default=None),
                customer_msgs=len(from_contact),
                one_to_one_msgs=sum(1 for m in to_contact if m[2] == "one_to_one"),
                mass_msgs=sum(1 for m in to_contact if m[2] == "mass"),
                new_to_bank=first_adder.get(contact) == (rel.first, employee),
                profile_found=c.found if c.profile_at is not None else None,
                staff_account_of=staff.get(c.unionid) if c.unionid else None,
                handed_over=any(
                    other != employee and abs(at - rel.first) <= HANDOVER_MATCH
                    for at, other in transfers.get(contact, [])
                ),
                removals=tuple(
                    sorted(
                        (x for x in gone if x.removed_at >= rel.first),
                        key=lambda x: x.removed_at,
                    )
                ),
                is_employee_account=contact in teams,
                seen_at=rel.first,
            )
        )
        one_to_one = sorted(m for m in sent if m[2] == "one_to_one" and m[0] >= start)
        if one_to_one:
            chats[employee][contact] = ChatTrace(
                contact, tuple((m[0], m[1] == "from_customer") for m in one_to_one)
            )
    adders: dict[str, set[str]] = defaultdict(set)
    for employee, contact in relations:
        adders[contact].add(employee)
    return MonthInputs(
        dict(facts), dict(chats), teams, _overlaps(facts, adders, teams), _blocks(facts)
    )


def _overlaps(
    facts: Mapping[str, Sequence[ContactFacts]],
    adders: Mapping[str, set[str]],
    teams: Mapping[str, str],
) -> dict[str, Overlap]:
    """`inputs.cross_team_overlap`: per contact, how many employees of other teams added it;
    per such employee, how many of this one's contacts (partners from `MIN_PARTNER` on)."""
    out: dict[str, Overlap] = {}
    for employee, mine in facts.items():
        shared: dict[str, int] = {}
        edges: dict[str, int] = defaultdict(int)
        for f in mine:
            others = [
                o
                for o in adders[f.external_userid]
                if o != employee and teams.get(o) != teams.get(employee)
            ]
            if others:
                shared[f.external_userid] = len(others)
                for o in others:
                    edges[o] += 1
        if shared:
            partners = {o: n for o, n in edges.items() if n >= MIN_PARTNER}
            out[employee] = Overlap(shared, partners)
    return out


def _blocks(facts: Mapping[str, Sequence[ContactFacts]]) -> dict[str, DenseBlock]:
    """`Scorer.blocks` over the month's adds (handovers left out, contacts of one adder too)."""
    adds = [f for fs in facts.values() for f in fs if f.add_way != 202]
    degree: dict[str, int] = defaultdict(int)
    for f in adds:
        degree[f.external_userid] += 1
    graph = [
        Add(f.employee_id, f.external_userid, anomaly.add_suspicion(f.is_customer, f.customer_msgs))
        for f in adds
        if degree[f.external_userid] >= 2
    ]
    return {e: b for b in dense_blocks(graph) for e in b.employees}


@dataclass(frozen=True)
class Scored:
    """One month as `make eval` collects it: employees, and the accusations of every employee
    with a reason (`flags`: those of flagged employees)."""

    employees: dict[str, EmployeeResult]
    accusations: dict[tuple[str, str], list[str]]
    flags: dict[tuple[str, str], list[str]]


@dataclass(frozen=True)
class Assessed:
    """One employee's month as the domain assessed it, with what it was assessed from."""

    employee_id: str
    verdicts: list[ContactVerdict]
    overlap: Overlap
    block: DenseBlock | None
    baseline: PeerBaseline
    result: AnomalyResult
    chats: Mapping[str, ChatTrace]


def assessments(scenario: Scenario, now: datetime) -> Iterator[Assessed]:
    """Every employee's month assessed at `now` under the default rules and calendar, as the
    API assesses it, in employee order."""
    calendar = BusinessCalendar()
    rules = ScoringRules()
    scorer = Scorer(rules, calendar, clock=ManualClock(now), inputs_group="replay")
    period, tz = scenario.clock.period, calendar.tz
    inputs = month_inputs(scenario.records, period.start_at(tz), period.end_at(tz))
    tail, week = scorer.tail(period, now), scorer.tail(period, now, WEEK_TAIL_DAYS)
    verdicts = {
        e: sorted(scorer.verdicts(fs, now), key=lambda v: v.facts.first_added_at)
        for e, fs in inputs.facts.items()
    }
    baseline = PeerBaseline()
    if tail is not None:
        tallies = [anomaly.tally(vs, tail.start, now, tz) for vs in verdicts.values()]
        baseline = anomaly.peer_baseline(tallies, tail.early_days, tail.days, baseline)
    for e in sorted(inputs.teams):
        vs = verdicts.get(e, [])
        overlap = inputs.overlaps.get(e, NO_OVERLAP)
        block = inputs.blocks.get(e)
        result = anomaly.assess(
            vs,
            overlap.shared,
            baseline,
            period.end_at(tz),
            (period.end - period.start).days,
            now,
            tz,
            overlap.partners,
            tail,
            block,
            inputs.chats.get(e, {}),
            None,
            rules.retention_window,
            week,
        )
        yield Assessed(e, vs, overlap, block, baseline, result, inputs.chats.get(e, {}))


def score_month(scenario: Scenario, now: datetime, threshold: float = 40.0) -> Scored:
    """Every employee's anomaly score and contact accusations, as the API gives them at `now`
    under the default rules and calendar."""
    expected = scenario.expected_at(now)
    employees: dict[str, EmployeeResult] = {}
    accusations: dict[tuple[str, str], list[str]] = {}
    for a in assessments(scenario, now):
        e, vs, result = a.employee_id, a.verdicts, a.result
        employees[e] = _employee(scenario, e, result, threshold, vs, expected)
        codes = employees[e].codes
        if codes:
            for v in vs:
                c = v.facts.external_userid
                accused = split(v, result.contact_flags.get(c, []), employees[e].flagged)[0]
                accusations[(e, c)] = [f for f in accused if f in codes]
    flags = {k: v for k, v in accusations.items() if employees[k[0]].flagged}
    return Scored(employees, accusations, flags)


def _employee(
    scenario: Scenario,
    employee: str,
    result: AnomalyResult,
    threshold: float,
    verdicts: Sequence[ContactVerdict],
    expected: Mapping[str, Any],
) -> EmployeeResult:
    return EmployeeResult(
        label=scenario.labels.employees.get(employee, "unknown"),
        anomaly_score=result.score,
        flagged=result.score >= threshold,
        codes=frozenset(r["code"] for r in result.reasons),
        valid_adds=sum(1 for v in verdicts if v.status is ContactStatus.VALID),
        expected_valid=expected[employee].valid_adds if employee in expected else 0,
    )


def tuning_only(scenario: Scenario, scored: Scored) -> dict[str, Any]:
    """`grading.grade` of the month with the held-out gaming kinds left out (their employees and
    their gamed contacts): what a tuner may look at."""
    kept = {
        e: r
        for e, r in scored.employees.items()
        if evaluation_split.kind_set(r.label) != "held_out"
    }
    labels = {
        k: v
        for k, v in scenario.labels.contacts.items()
        if k[0] in kept and evaluation_split.kind_set(v) != "held_out"
    }
    return grade(
        kept,
        labels,
        {k: v for k, v in scored.flags.items() if k[0] in kept},
        {k: v for k, v in scored.accusations.items() if k[0] in kept},
        scenario.labels.facts,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(evaluation_split.TUNING_SEEDS))
    parser.add_argument("--camouflage", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args(argv)
    if any(evaluation_split.seed_set(s) != "tuning" for s in args.seeds):
        parser.error("the replay is for tuning: tuning seeds only (tools/evaluate/split.py)")
    runs = []
    for seed in args.seeds:
        for camouflage in args.camouflage:
            config = SimulationConfig(
                seed=seed, month=args.month, employees=args.employees, camouflage=camouflage
            )
            scenario = generate(config)
            now = scenario.clock.end + timedelta(days=35)
            graded = tuning_only(scenario, score_month(scenario, now))
            runs.append({"seed": seed, **graded})
    print(summary_table(summarise(runs)))


if __name__ == "__main__":
    main()

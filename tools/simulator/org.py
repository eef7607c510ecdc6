"""The bank's org tree: branches → teams → employees, with supervisor chains, team robots and
monthly targets. Alerts route along `supervisor_id`, so every chain ends at a branch head."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tools.simulator.ids import IdFactory
from tools.simulator.names import employee_name

CUSTOMER_MANAGER = "customer_manager"
TELLER = "teller"
TEAM_LEAD = "team_lead"
BRANCH_HEAD = "branch_head"
FRONTLINE = (CUSTOMER_MANAGER, TELLER)
"""The roles that add customers as their daily job (and so the ones who game the count)."""

ROLE_TARGETS = {CUSTOMER_MANAGER: 100, TELLER: 50, TEAM_LEAD: 50, BRANCH_HEAD: 30}
"""Monthly valid-add targets per role, as banks publish them (docs/wecom.md §5: 100 and 50)."""
TEAM_TARGET = 80


@dataclass(frozen=True, slots=True)
class Employee:
    employee_id: str
    name: str
    branch_id: str
    team_id: str
    supervisor_id: str | None
    role: str
    robot_webhook: str | None
    email: str


@dataclass(slots=True)
class Team:
    team_id: str
    branch_id: str
    robot_webhook: str
    members: list[str] = field(default_factory=list)
    """Everyone in the team, the lead first."""


@dataclass(slots=True)
class Org:
    employees: dict[str, Employee]
    teams: list[Team]
    team_targets: dict[str, int]

    def frontline(self) -> list[Employee]:
        return [e for e in self.employees.values() if e.role in FRONTLINE]

    def team(self, team_id: str) -> Team:
        return next(t for t in self.teams if t.team_id == team_id)


def build_org(
    rng: random.Random, ids: IdFactory, size: int, robot_base: str, mail_domain: str
) -> Org:
    """`size` employees in branches of about 45, teams of 7 to 11 (a lead and members)."""
    n_branches = max(2, round(size / 45))
    team_sizes = _team_sizes(rng, size - n_branches)
    employees: dict[str, Employee] = {}
    teams: list[Team] = []

    def hire(branch: str, team: str, boss: str | None, role: str, robot: str | None) -> str:
        name, stem = employee_name(rng)
        userid = ids.employee_id(stem)
        employees[userid] = Employee(
            userid, name, branch, team, boss, role, robot, f"{userid}@{mail_domain}"
        )
        return userid

    heads = {}
    for b in range(n_branches):
        branch = f"br{b + 1:02d}"
        heads[branch] = hire(branch, f"{branch}-office", None, BRANCH_HEAD, None)
    for index, team_size in enumerate(team_sizes):
        branch = f"br{index % n_branches + 1:02d}"
        team_id = f"{branch}-t{index // n_branches + 1:02d}"
        robot = f"{robot_base.rstrip('/')}/cgi-bin/webhook/send?key={ids.robot_key()}"
        team = Team(team_id, branch, robot)
        lead = hire(branch, team_id, heads[branch], TEAM_LEAD, robot)
        team.members.append(lead)
        for _ in range(team_size - 1):
            role = CUSTOMER_MANAGER if rng.random() < 0.65 else TELLER
            team.members.append(hire(branch, team_id, lead, role, robot))
        teams.append(team)
    # Some branches set a team target that overrides the role targets of that team.
    team_targets = {t.team_id: TEAM_TARGET for t in teams[1::5]}
    return Org(employees, teams, team_targets)


def _team_sizes(rng: random.Random, people: int) -> list[int]:
    sizes: list[int] = []
    while people > 0:
        size = min(rng.randint(7, 11), people)
        if people - size < 5:
            size = people
        sizes.append(size)
        people -= size
    return sizes

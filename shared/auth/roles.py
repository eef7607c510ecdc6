"""Roles and what each may do: pure, no I/O (SECURITY.md has the table).

Scope beyond the role (a supervisor's own org subtree, the alerts routed to them) is decided
where the data is read; here only whether the role may take the action at all."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # targets, rules, closing periods, tokens
    RISK = "risk"  # every anomaly and contact
    SUPERVISOR = "supervisor"  # their own org subtree, the alerts routed to them
    VIEWER = "viewer"  # team and branch aggregates, no per-employee rows
    INGEST = "ingest"  # POST /v1/events only


class Action(StrEnum):
    READ_SCORES = "read_scores"
    READ_AGGREGATES = "read_aggregates"  # team and branch totals, no per-employee rows
    READ_CONTACTS = "read_contacts"
    CLOSE_PERIOD = "close_period"
    READ_ALERTS = "read_alerts"
    ACK_ALERT = "ack_alert"
    READ_SILENCES = "read_silences"
    MANAGE_SILENCES = "manage_silences"
    READ_AUDIT = "read_audit"
    INGEST = "ingest"
    # the review loop (services/scorer/review): anomaly cases, their decisions, targets
    READ_CASES = "read_cases"
    DECIDE_CASE = "decide_case"  # a supervisor only with REVIEW_SUPERVISORS_DECIDE, in scope
    EXPORT_CASES = "export_cases"
    READ_TARGETS = "read_targets"
    SET_TARGETS = "set_targets"
    SET_VERDICT = "set_verdict"  # a reviewer's verdict on one contact of one employee
    READ_CAMPAIGNS = "read_campaigns"
    MANAGE_CAMPAIGNS = "manage_campaigns"  # known campaigns (a channel state, a team, a window)


_ALL_READS = {
    Action.READ_SCORES,
    Action.READ_AGGREGATES,
    Action.READ_CONTACTS,
    Action.READ_ALERTS,
    Action.READ_SILENCES,
    Action.READ_AUDIT,
}
_REVIEW = {Action.READ_CASES, Action.DECIDE_CASE, Action.EXPORT_CASES}
ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(
        {
            *_ALL_READS,
            Action.CLOSE_PERIOD,
            Action.ACK_ALERT,
            Action.MANAGE_SILENCES,
            *_REVIEW,
            Action.READ_TARGETS,
            Action.SET_TARGETS,
            Action.SET_VERDICT,
            Action.READ_CAMPAIGNS,
            Action.MANAGE_CAMPAIGNS,
        }
    ),
    Role.RISK: frozenset(
        {
            *_ALL_READS,
            Action.ACK_ALERT,
            Action.MANAGE_SILENCES,
            *_REVIEW,
            Action.SET_VERDICT,
            Action.READ_CAMPAIGNS,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Action.READ_SCORES,
            Action.READ_CONTACTS,
            Action.READ_ALERTS,
            Action.ACK_ALERT,
            Action.READ_CASES,
            Action.DECIDE_CASE,
        }
    ),
    Role.VIEWER: frozenset({Action.READ_AGGREGATES}),
    Role.INGEST: frozenset({Action.INGEST}),
}
# Roles that see every employee and alert; the others are scoped (or refused).
UNSCOPED = frozenset({Role.ADMIN, Role.RISK})


@dataclass(frozen=True)
class Identity:
    """Who is calling: `name` is the token's name or the SSO subject."""

    name: str
    role: Role
    employee_id: str | None = None
    via: str = "token"  # "token", "sso", "static" (the ingestor's INGEST_API_TOKENS) or "system"

    @property
    def scoped(self) -> bool:
        return self.role not in UNSCOPED

    @property
    def label(self) -> str:
        """How an acknowledgement or an audit row names the caller."""
        who = f"{self.name} ({self.employee_id})" if self.employee_id else self.name
        return f"{who} [{self.role.value}]"


def permits(identity: Identity, action: Action) -> bool:
    return action in ALLOWED[identity.role]


def parse_role(value: object) -> Role | None:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        return None

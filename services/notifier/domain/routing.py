"""Who hears of an alert, on which channels: pure decisions from the alert, the org chain and
the routing file. The adapters resolve the org chain and store the plans.

A notice's identity is (alert name, employee, period, channel, recipient, status): the database
holds one notice per identity, so a replayed breach or a restart never notifies twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.notifier.domain.config import Channel, NotifierConfig, Route
from services.notifier.domain.ops_notices import is_ops_notice
from shared.schemas import AlertName

OPS = "ops"  # the recipient of last resort when the org chart names nobody
PERSON_CHANNELS = frozenset({Channel.ROBOT, Channel.APP, Channel.EMAIL, Channel.LOG})


@dataclass(frozen=True)
class AlertFacts:
    alertname: str
    status: str
    employee_id: str | None
    period: str
    supervisor_id: str | None
    team_id: str | None
    branch_id: str | None


@dataclass(frozen=True)
class NoticePlan:
    channel: Channel
    recipient: str
    destination: str
    level: int
    grouped: bool

    def idempotency_key(self, alert: AlertFacts) -> str:
        return "|".join(
            (
                alert.alertname,
                alert.employee_id or "-",
                alert.period,
                self.channel.value,
                self.recipient,
                alert.status,
            )
        )

    def group_key(self, alert: AlertFacts) -> str:
        """Grouped notices of one recipient, destination and period share a digest; an
        ungrouped notice (the catch-all webhook) is its own digest, one POST per alert."""
        if not self.grouped:
            return "alert:" + self.idempotency_key(alert)
        return "|".join((self.channel.value, self.destination, self.recipient, alert.period))


def is_email(recipient: str) -> bool:
    return "@" in recipient


def matching_routes(alert: AlertFacts, config: NotifierConfig) -> list[Route]:
    """Routes in file order; the first match wins unless it says `continue: true`."""
    found: list[Route] = []
    for route in config.routes:
        m = route.match
        if m.alertname and alert.alertname not in {a.value for a in m.alertname}:
            continue
        if m.branch_id and alert.branch_id not in m.branch_id:
            continue
        if m.team_id and alert.team_id not in m.team_id:
            continue
        found.append(route)
        if not route.keep_matching:
            break
    return found


def destination(channel: Channel, recipient: str, alert: AlertFacts) -> str | None:
    """Where a person's notice goes; None when the channel cannot reach them.

    A robot is the team's group (its URL is looked up when sending: the key in it is a
    secret and is not copied into the outbox); an e-mail to a userid is resolved from the
    employee record when sending."""
    if channel is Channel.ROBOT:
        if not alert.team_id or not alert.branch_id:
            return None
        return f"team:{alert.branch_id}/{alert.team_id}"
    return destination_of_person(channel, recipient)


def destination_of_person(channel: Channel, recipient: str) -> str | None:
    """Where a person is reached on a channel that does not depend on a team (not robot)."""
    if channel is Channel.APP:
        return None if is_email(recipient) else f"user:{recipient}"
    if channel is Channel.EMAIL:
        return f"mail:{recipient}" if is_email(recipient) else f"employee:{recipient}"
    if channel is Channel.LOG:
        return "log"
    return None


def plan_for_people(
    alert: AlertFacts, people: Sequence[str], level: int, config: NotifierConfig
) -> list[NoticePlan]:
    """The notices of `people` (at one escalation level) on the routed channels."""
    routes = matching_routes(alert, config)
    channels = [c for r in routes for c in r.channels] if routes else config.default_channels
    plans: list[NoticePlan] = []
    for person in people:
        for channel in dict.fromkeys(channels):
            if channel not in PERSON_CHANNELS:
                continue
            where = destination(channel, person, alert)
            if where is not None:
                plans.append(NoticePlan(channel, person, where, level, grouped=True))
    for route in routes if level == 0 else []:
        if Channel.WEBHOOK in route.channels and route.webhook_url:
            url = route.webhook_url
            plans.append(NoticePlan(Channel.WEBHOOK, url, url, 0, grouped=True))
    return _unique(plans)


def first_recipients(alert: AlertFacts, config: NotifierConfig) -> list[str]:
    """The employee's supervisor; ops for an ops notice (DataStale, CloseHeld: about the
    pipeline, whoever the event names) and when the alert has no supervisor."""
    if alert.supervisor_id and not is_ops_notice(alert.alertname):
        return [alert.supervisor_id]
    return list(config.ops_recipients) or [OPS]


def plan_initial(
    alert: AlertFacts,
    config: NotifierConfig,
    catch_all_url: str | None,
    risk_role_members: Sequence[str] = (),
) -> list[NoticePlan]:
    """Level 0: the supervisor on the routed channels, risk/compliance for anomalies (the
    configured recipients and `risk_role_members`, found in the org data by role), and the
    catch-all webhook (one POST per alert, as Alertmanager receivers expect)."""
    plans = plan_for_people(alert, first_recipients(alert, config), 0, config)
    risk = config.risk_compliance
    if alert.alertname == AlertName.ANOMALY_FLAGGED.value:
        for person in dict.fromkeys([*risk.recipients, *risk_role_members]):
            for channel in risk.channels:
                where = destination(channel, person, alert)
                if where is not None:
                    plans.append(NoticePlan(channel, person, where, 0, grouped=True))
    if catch_all_url:
        plans.append(NoticePlan(Channel.WEBHOOK, catch_all_url, catch_all_url, 0, grouped=False))
    return _unique(plans)


def plan_escalation(
    alert: AlertFacts, next_person: str, level: int, config: NotifierConfig
) -> list[NoticePlan]:
    return plan_for_people(alert, [next_person], level, config)


def _unique(plans: list[NoticePlan]) -> list[NoticePlan]:
    seen: set[tuple[Channel, str]] = set()
    out: list[NoticePlan] = []
    for p in plans:
        if (p.channel, p.recipient) not in seen:
            seen.add((p.channel, p.recipient))
            out.append(p)
    return out

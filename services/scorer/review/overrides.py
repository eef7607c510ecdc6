"""What reviewers and ops tell the scorer that changes the figures (docs/console.md): a verdict
on one contact of one employee, and known campaigns.

A verdict is stored, audited and applied in one transaction: the relation is judged again
(domain/validity.py: `gamed` makes the add invalid, `genuine` sets the profile-based suspicions
aside), its counters and open score rows move at once, and its rows are marked for the anomaly
recomputation; a closed period's row is recomputed as a late correction is (a revision, and a
flip notice where the outcome changes). A campaign is stored and audited, and the rows of the
team's employees in the periods of its window are marked for recomputation."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.scorer import at_rest, repository, tally
from services.scorer.domain.validity import GAMED, GENUINE
from services.scorer.scoring import Scorer
from services.scorer.state import period_keys
from shared.auth import Identity, audit
from shared.calendar import local_date, period_keys_of
from shared.db import Connection
from shared.governance import hold_shared

VERDICTS = (GENUINE, GAMED)
MAX_TEXT = 2000
MAX_CAMPAIGN_DAYS = 93


class OverrideError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OverrideError(400, f"{name} must be a non-empty string")
    if len(value) > limit:
        raise OverrideError(400, f"{name} is longer than {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in "\n\t" for c in value):
        raise OverrideError(400, f"{name} holds control or format characters")
    return value.strip()


VERDICT_SQL = """
INSERT INTO contact_verdict AS v (employee_id, external_userid, verdict, reason, actor, role,
                                  decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (employee_id, external_userid) DO UPDATE SET
    verdict = EXCLUDED.verdict, reason = EXCLUDED.reason, actor = EXCLUDED.actor,
    role = EXCLUDED.role, decided_at = EXCLUDED.decided_at
"""


async def set_verdict(
    conn: Connection,
    scorer: Scorer,
    who: Identity,
    employee_id: str,
    external_userid: str,
    given: dict[str, Any],
    request_id: str | None,
) -> dict[str, Any]:
    """Store and apply a reviewer's verdict, in the caller's transaction."""
    verdict = given.get("verdict")
    if verdict not in VERDICTS:
        raise OverrideError(400, "verdict must be genuine or gamed")
    reason = _text(given.get("reason"), "reason", MAX_TEXT)
    if who.employee_id is not None and who.employee_id == employee_id:
        raise OverrideError(403, "nobody gives a verdict on their own contacts")
    now = scorer.clock()
    await hold_shared(conn)  # after an erasure (or purge) or wholly before it
    await tally.hold(conn, [employee_id])
    added = await conn.fetchval(
        """SELECT first_added_at FROM employee_contact
            WHERE employee_id = $1 AND external_userid = $2""",
        employee_id,
        external_userid,
    )
    if added is None:
        raise OverrideError(404, f"{employee_id} has not added {external_userid}")
    before = await conn.fetchrow(
        """SELECT verdict, reason, actor, decided_at FROM contact_verdict
            WHERE employee_id = $1 AND external_userid = $2""",
        employee_id,
        external_userid,
    )
    await conn.execute(
        VERDICT_SQL, employee_id, external_userid, verdict, reason, who.name, who.role.value, now
    )
    after = {"verdict": verdict, "reason": reason, "actor": who.name, "decided_at": now}
    # the audit log is append-only: it names the employee, never the contact (whose id an
    # erasure must be able to remove; contact_verdict links the two and is erased with it)
    await audit.record(
        conn,
        who,
        audit.Entry(
            "contact.verdict",
            employee_id,
            dict(before) if before is not None else None,
            after,
            request_id,
        ),
        now,
    )
    changes = await tally.settle(conn, scorer, [(employee_id, external_userid)], now)
    moved = await tally.count(conn, changes)
    await tally.sync_scores(conn, scorer, moved, now)
    touched = {(employee_id, k) for k in period_keys(added, scorer.calendar.tz)}
    await repository.mark_dirty(conn, touched | set(changes))
    await at_rest.inputs_changed(conn)
    return {
        "employee_id": employee_id,
        "external_userid": external_userid,
        **after,
        "decided_at": now.isoformat(),
        "periods": sorted(k for _, k in touched),
    }


async def verdicts_of(conn: Connection, employee_id: str) -> dict[str, dict[str, Any]]:
    """An employee's contacts with a verdict: who gave it, why, when."""
    rows = await conn.fetch(
        """SELECT external_userid, verdict, reason, actor, decided_at FROM contact_verdict
            WHERE employee_id = $1""",
        employee_id,
    )
    return {
        r["external_userid"]: {
            "verdict": r["verdict"],
            "reason": r["reason"],
            "by": r["actor"],
            "at": r["decided_at"].isoformat(),
        }
        for r in rows
    }


@dataclass(frozen=True)
class Campaign:
    name: str
    state: str
    team_id: str
    starts_at: datetime
    ends_at: datetime


def _moment(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise OverrideError(400, f"{name} must be an ISO 8601 time with its offset")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise OverrideError(400, f"{name} must be an ISO 8601 time with its offset") from None
    if at.tzinfo is None:
        raise OverrideError(400, f"{name} needs its offset (e.g. +08:00)")
    return at


def campaign_of(given: dict[str, Any]) -> Campaign:
    """A campaign from a request body, validated (errors name the field)."""
    campaign = Campaign(
        name=_text(given.get("name"), "name", 200),
        state=_text(given.get("state"), "state", 200),
        team_id=_text(given.get("team_id"), "team_id", 200),
        starts_at=_moment(given.get("starts_at"), "starts_at"),
        ends_at=_moment(given.get("ends_at"), "ends_at"),
    )
    if campaign.ends_at <= campaign.starts_at:
        raise OverrideError(400, "ends_at must be after starts_at")
    if campaign.ends_at - campaign.starts_at > timedelta(days=MAX_CAMPAIGN_DAYS):
        raise OverrideError(400, f"a campaign lasts at most {MAX_CAMPAIGN_DAYS} days")
    return campaign


async def add_campaign(
    conn: Connection,
    scorer: Scorer,
    who: Identity,
    campaign: Campaign,
    request_id: str | None,
) -> dict[str, Any]:
    """Store and audit a campaign, and mark its team's rows of its periods for recomputation,
    in the caller's transaction."""
    now = scorer.clock()
    campaign_id = await conn.fetchval(
        """INSERT INTO campaign (name, state, team_id, starts_at, ends_at, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING campaign_id""",
        campaign.name,
        campaign.state,
        campaign.team_id,
        campaign.starts_at,
        campaign.ends_at,
        who.name,
        now,
    )
    body = campaign_json(campaign_id, campaign, who.name, now)
    await audit.record(
        conn, who, audit.Entry("campaign.create", str(campaign_id), None, body, request_id), now
    )
    tz = scorer.calendar.tz
    day, last = local_date(campaign.starts_at, tz), local_date(campaign.ends_at, tz)
    keys: set[str] = set()
    while day <= last:
        keys.update(period_keys_of(day))
        day += timedelta(days=1)
    members = [
        r["employee_id"]
        for r in await conn.fetch(
            "SELECT employee_id FROM employee WHERE team_id = $1", campaign.team_id
        )
    ]
    await repository.mark_dirty(conn, {(e, k) for e in members for k in keys})
    await at_rest.inputs_changed(conn)
    return body


def campaign_json(campaign_id: int, c: Campaign, by: str, at: datetime) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": c.name,
        "state": c.state,
        "team_id": c.team_id,
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "created_by": by,
        "created_at": at.isoformat(),
    }


async def campaigns(conn: Connection, team_id: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM campaign WHERE $1::text IS NULL OR team_id = $1
            ORDER BY starts_at DESC, campaign_id DESC LIMIT 1000""",
        team_id,
    )
    return [
        campaign_json(
            r["campaign_id"],
            Campaign(r["name"], r["state"], r["team_id"], r["starts_at"], r["ends_at"]),
            r["created_by"],
            r["created_at"],
        )
        for r in rows
    ]

"""Reconciliation: what WeCom says each employee follows vs what the system believes → the
corrective records. Pure, no I/O.

Changes made through the API send no callback (docs/wecom.md section 1), so a daily walk of
`batch/get_by_user` states every follow relation WeCom knows, and the ingestor compares it with
the **known followers**: the relations the system believes exist, folded from the contact-event
topic itself (adds, deletes, and earlier corrections; see reconcile_store.py). So the belief is
exactly what the scorer was told, needs no call to the scorer, and is independent of its lag.

Corrections:
- **missed add** — walked, not known: an add event with origin 'reconciliation' whose
  event_id is `contact_event_id(corp, add_external_contact, user, external, createtime)`: the id
  the callback of that add carries, so a relation already seen adds nothing downstream. Every
  walked relation is re-sent this way (idempotent), with its profile, so a contact whose
  enrichment gave up is profiled here.
- **missed delete** — known, not walked: the relation ended without a callback. WeCom does not
  say when or by whom. The event is `del_follow_user` with `Source=RECONCILIATION` (never
  `del_external_contact`: the employee is not accused of a delete), and its time is the
  observation, the *latest* moment it can have happened. The scorer's rules count any removal
  that is not a handover inside the retention window as churn, so a corrective delete makes an
  add invalid only when the walk proves the relation ended inside the window; when the window
  had already closed the add keeps its validity (benefit of the doubt, at most one walk
  interval wide). A real callback arriving later carries the exact time and wins (the earliest
  removal is the one judged). Its id depends on the relation (employee, contact, the add it
  ends) and not on the walk, so re-running the walk repeats the id and the scorer ignores it.
- **silent re-add** — known and walked, but WeCom's createtime is later than the known add:
  the relation was deleted and added again in between, both without callbacks. A delete
  (timed just before the new add, its latest possible moment) and the new add."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.enrichment.profiles import profile
from shared.schemas import ChangeType, ContactEvent, deterministic_id
from shared.settings import Topics

Relation = tuple[str, str]  # (employee_id, external_userid)
RECONCILIATION_SOURCE = "RECONCILIATION"
# A callback's CreateTime and the follow's createtime may differ by a moment; a later
# createtime beyond this is a new relation (deleted and re-added between two walks).
RE_ADD_SLACK_SECONDS = 120
REMOVALS = frozenset({ChangeType.DELETE_BY_EMPLOYEE, ChangeType.DELETE_BY_CUSTOMER})


class TooManyDeletesError(Exception):
    """The walk lost more relations than is believable: WeCom answered short, a permission
    changed, or the wrong employees were walked. Nothing is deleted; a person must look."""


def add_event(corp_id: str, row: Mapping[str, Any]) -> ContactEvent:
    contact, follow = row["external_contact"], row["follow_info"]
    return ContactEvent.model_validate(
        {
            "corp_id": corp_id,
            "change_type": ChangeType.ADD,
            "employee_id": follow["userid"],
            "external_userid": contact["external_userid"],
            "occurred_at": int(follow["createtime"]),
            "state": follow.get("state") or None,
            "origin": "reconciliation",
        }
    )


def removal_event(
    corp_id: str, relation: Relation, added_at: int, observed_at: datetime
) -> ContactEvent:
    """The end of the relation added at `added_at`, seen missing at `observed_at`."""
    employee_id, external_userid = relation
    return ContactEvent(
        event_id=deterministic_id(
            "reconciliation-delete", corp_id, employee_id, external_userid, added_at
        ),
        corp_id=corp_id,
        change_type=ChangeType.DELETE_BY_CUSTOMER,
        employee_id=employee_id,
        external_userid=external_userid,
        occurred_at=observed_at,
        source=RECONCILIATION_SOURCE,
        origin="reconciliation",
    )


@dataclass
class Plan:
    """What one walk of a group of employees changes."""

    outgoing: list[Outgoing] = field(default_factory=list)
    missed_adds: int = 0
    missed_deletes: int = 0
    walked: dict[Relation, int] = field(default_factory=dict)  # the new known followers


def plan(
    corp_id: str,
    known: Mapping[Relation, int],
    rows: Iterable[Mapping[str, Any]],
    topics: Topics,
    observed_at: datetime,
    max_delete_share: float = 0.2,
    delete_floor: int = 10,
) -> Plan:
    """`known`: the believed followers (→ add time, unix s) of exactly the walked employees;
    `rows`: the complete walk of those employees."""
    out = Plan()
    deletes: list[ContactEvent] = []
    for row in rows:
        event = add_event(corp_id, row)
        relation = (event.employee_id, event.external_userid)
        out.walked[relation] = event.create_time
        before = known.get(relation)
        if before is not None and event.create_time > before + RE_ADD_SLACK_SECONDS:
            ended = event.occurred_at - timedelta(seconds=1)
            deletes.append(removal_event(corp_id, relation, before, ended))
        if before is None or event.create_time > before + RE_ADD_SLACK_SECONDS:
            out.missed_adds += 1
        out.outgoing.append(Outgoing(topics.contact_events, event.employee_id, event.to_json()))
        record = profile(row["external_contact"], row["follow_info"], _day(observed_at))
        out.outgoing.append(Outgoing(topics.bank_records, record.entity_key(), record.to_json()))
    gone = sorted(set(known) - set(out.walked))
    if len(gone) > delete_floor and len(gone) > max_delete_share * len(known):
        raise TooManyDeletesError(
            f"the walk lost {len(gone)} of {len(known)} known relations; nothing deleted "
            "(check WeCom's answers and the employees walked, or raise "
            "RECONCILE_MAX_DELETE_SHARE)"
        )
    deletes += [removal_event(corp_id, r, known[r], observed_at) for r in gone]
    out.missed_deletes = len(deletes)
    out.outgoing = [
        *(Outgoing(topics.contact_events, d.employee_id, d.to_json()) for d in deletes),
        *out.outgoing,
    ]
    return out


Fact = tuple[int | None, int | None]  # (latest add, latest removal), unix seconds


def fold(facts: dict[Relation, Fact], event: ContactEvent) -> None:
    """Apply one contact event to what is known of its relation. Times decide, not the order
    of arrival: a delete read before its add, or a late delete of an older relation, leaves
    the right answer (see `followed`)."""
    if not (event.is_add or event.change_type in REMOVALS):
        return
    relation = (event.employee_id, event.external_userid)
    added, removed = facts.get(relation, (None, None))
    at = event.create_time
    if event.is_add:
        added = at if added is None else max(added, at)
    else:
        removed = at if removed is None else max(removed, at)
    facts[relation] = (added, removed)


def followed(fact: Fact) -> int | None:
    """The add time when the relation stands (added after its last removal), else None."""
    added, removed = fact
    if added is None or (removed is not None and removed >= added):
        return None
    return added


def _day(at: datetime) -> datetime:
    """Profiles are stamped with the walk's day, so two runs the same day send the same ids."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def chunks(ids: list[str], size: int = 100) -> list[list[str]]:
    """batch/get_by_user takes at most 100 userids per call."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]

"""Applying a decoded batch to the scoring state: bulk statements only (arrays + unnest), one
round trip per kind of change, and the (employee, period) pairs whose scores must be
recomputed marked dirty in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client import Counter

from services.scorer import repository, tally
from shared.auth import Identity, Role, audit
from shared.calendar import local_date, period_keys_of
from shared.db import Connection
from shared.schemas import (
    DELETE_BY_TRANSFER,
    ChangeType,
    ContactEvent,
    ContactProfileRecord,
    CustomerLinkRecord,
    EmployeeRecord,
    MessageRecord,
    StaffAccountRecord,
    TargetRecord,
)
from shared.sealed import KeyRing

log = logging.getLogger(__name__)
UNMATCHED = Counter(
    "scorer_unmatched_records_total",
    "Records kept although they match nothing (yet), by kind and reason",
    ["kind", "reason"],
)
Dirty = set[tuple[str, str]]
"""(employee_id, period key) rows whose quality and anomaly are to be recomputed."""
Judge = set[tuple[str, str]]
"""(employee_id, external_userid) relations whose facts changed: judged again (tally.py)."""


def period_keys(at: datetime, tz: ZoneInfo) -> list[str]:
    return list(period_keys_of(local_date(at, tz)))


def _mark(dirty: Dirty, employee_id: str, at: datetime | None, tz: ZoneInfo) -> None:
    if at is not None:
        dirty.update((employee_id, k) for k in period_keys(at, tz))


def _mark_relations(
    dirty: Dirty, judge: Judge, relations: Sequence[repository.Relation], tz: ZoneInfo
) -> None:
    for employee_id, external_userid, first_added in relations:
        _mark(dirty, employee_id, first_added, tz)
        judge.add((employee_id, external_userid))


UNIONID_LOCK = (tally.QUOTA_LOCKS + 2, 0)
"""The advisory lock (two-key form) between batches that declare staff accounts by unionid
(exclusive) and batches that learn contacts' unionids (shared): `hold_contacts`."""


async def hold_contacts(
    conn: Connection,
    events: Sequence[ContactEvent],
    accounts: Sequence[StaffAccountRecord],
    profiles: Sequence[ContactProfileRecord] = (),
) -> None:
    """Before anything else of a batch: the contacts its handovers and staff accounts are
    about, locked in one go and in order (a bare row made for one not stored yet). A batch
    adding such a contact (another partition, maybe another instance) locks its row too
    (`repository.upsert_contacts_from_adds`) before it judges the add: the two apply one
    after the other, and the later one judges with what the earlier one wrote. Without it, a
    handover applied beside the receiver's add read no relation to judge again while the add
    read no handover: the add stayed judged not inherited, and its standing kept that.

    A staff account declared by unionid alone names no contact: its contacts are those whose
    profile carries the unionid. A batch declaring such accounts (rare: HR's records) holds
    UNIONID_LOCK exclusively, then locks the rows of the contacts that carry the unionids by
    then, with the others: an add of one of them in another batch waits for it, or it for the
    add, as above. A batch that stores unionids (a profile, an enriched add) holds the lock
    shared: such batches do not wait for each other, only for a declaration under way (and,
    while one waits for the lock, the next of them wait behind it). Taken first, so a batch
    waiting for it holds no other lock a batch under way could need."""
    contacts = {e.external_userid for e in events if e.source == DELETE_BY_TRANSFER}
    if any(a.unionid for a in accounts):
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *UNIONID_LOCK)
        contacts |= await repository.contacts_of_staff_accounts(conn, accounts)
    else:
        if any(e.unionid for e in events) or any(p.unionid for p in profiles):
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *UNIONID_LOCK)
        contacts |= {a.external_userid for a in accounts if a.external_userid}
    await repository.lock_contacts(conn, contacts)


async def apply_contact_events(
    conn: Connection,
    events: Sequence[ContactEvent],
    tz: ZoneInfo,
    dirty: Dirty,
    now: datetime,
    judge: Judge,
) -> list[ContactEvent]:
    fresh = await repository.insert_new_events(conn, events)
    if not fresh:
        return fresh
    # the gross adds are counted with the quota counters (pipeline.py, tally.count)
    adds = [e for e in fresh if e.is_add]
    removals = [
        e
        for e in fresh
        if e.change_type in (ChangeType.DELETE_BY_EMPLOYEE, ChangeType.DELETE_BY_CUSTOMER)
    ]
    for e in fresh:
        _mark(dirty, e.employee_id, e.occurred_at, tz)
    for employee_id, first_added in await repository.upsert_relations_from_adds(conn, adds, now):
        _mark(dirty, employee_id, first_added, tz)
    judge.update((e.employee_id, e.external_userid) for e in adds)
    await repository.upsert_contacts_from_adds(conn, adds)
    # Whether a relation is new to the bank depends on who added the contact first, which a
    # late (earlier) add by another employee changes: every relation of these contacts is
    # recomputed. The contact row's lock, taken above, orders this after any concurrent batch
    # (another partition, another instance) that added the same contact.
    related = await repository.relations_of(conn, {e.external_userid for e in adds})
    _mark_relations(dirty, judge, related, tz)
    await repository.mark_shared(conn, related)
    _mark_relations(dirty, judge, await repository.insert_removals(conn, removals), tz)
    # A handover's DELETE_BY_TRANSFER makes the receiver's add of the contact inherited,
    # whichever of the two arrived first.
    _mark_relations(
        dirty,
        judge,
        await repository.relations_of(
            conn, {e.external_userid for e in removals if e.source == DELETE_BY_TRANSFER}
        ),
        tz,
    )
    # DataStale watches WeCom's live stream: the nightly reconciliation's corrections are not it
    live = [e for e in fresh if e.origin != "reconciliation"]
    if live:
        await repository.touch_watermark(
            conn, "contact_events", now, max(e.occurred_at for e in live)
        )
    return fresh


async def apply_messages(
    conn: Connection, messages: Sequence[MessageRecord], tz: ZoneInfo, dirty: Dirty, judge: Judge
) -> list[MessageRecord]:
    """Store the messages not stored before (returned); a relation whose customer's first
    message they hold is judged again (its engagement), and one whose customer's messages they
    make a conversation (what the peers' baseline counts of it)."""
    fresh = await repository.insert_new_messages(conn, messages)
    for m in fresh:
        _mark(dirty, m.employee_id, m.sent_at, tz)
    for employee_id, external_userid, first_added, changed in await repository.add_engagement(
        conn, fresh
    ):
        _mark(dirty, employee_id, first_added, tz)
        if changed and first_added is not None:
            judge.add((employee_id, external_userid))
    return fresh


async def apply_contact_facts(
    conn: Connection,
    links: Sequence[CustomerLinkRecord],
    profiles: Sequence[ContactProfileRecord],
    tz: ZoneInfo,
    dirty: Dirty,
    judge: Judge,
) -> None:
    await repository.upsert_links(conn, links)
    await repository.upsert_profiles(conn, profiles)
    touched = {r.external_userid for r in links} | {r.external_userid for r in profiles}
    _mark_relations(dirty, judge, await repository.relations_of(conn, touched), tz)
    # A profile usually overtakes its add (another topic): kept, and counted so that a source
    # of profiles for contacts nobody adds shows.
    orphans = await repository.contacts_never_added(conn, {r.external_userid for r in profiles})
    if orphans:
        UNMATCHED.labels("contact_profile", "contact_not_added").inc(len(orphans))
        log.info(
            "profiles kept for contacts no employee has added (yet)",
            extra={"contacts": len(orphans), "examples": orphans[:5]},
        )


async def apply_staff_accounts(
    conn: Connection,
    records: Sequence[StaffAccountRecord],
    tz: ZoneInfo,
    dirty: Dirty,
    judge: Judge,
) -> None:
    """HR's staff accounts: every relation with such a contact is judged again (whether the
    adds came before or after). An account of an employee HR has not sent yet is kept all the
    same, and counted."""
    if not records:
        return
    await repository.insert_staff_accounts(conn, records)
    contacts = await repository.contacts_of_staff_accounts(conn, records)
    _mark_relations(dirty, judge, await repository.relations_of(conn, contacts), tz)
    unknown = await repository.unknown_employees(conn, {r.employee_id for r in records})
    if unknown:
        UNMATCHED.labels("staff_account", "unknown_employee").inc(len(unknown))
        log.warning(
            "staff accounts kept for employees HR has not sent (yet)",
            extra={"employees": len(unknown), "examples": unknown[:5]},
        )


UNKNOWN_SENDER = Identity("sender unknown (record)", Role.INGEST, via="record")
"""The audit row's actor for a target that does not say who sent it (sent before the ingestor
named senders)."""


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:  # a role this version does not know: the record came through ingest
        return Role.INGEST


async def audit_targets(
    conn: Connection, changed: Sequence[tuple[TargetRecord, int | None]], now: datetime
) -> None:
    """One audit row per target value changed, in the batch's transaction: who sent it (the
    ingestor's authenticated caller), the value before and after. A record that changes
    nothing (sent again, or older than the stored one) leaves none."""
    for record, before in changed:
        sender = record.submitted_by
        who = UNKNOWN_SENDER
        if sender is not None:
            who = Identity(sender.name, _role(sender.role), sender.employee_id, via="record")
        entry = audit.Entry(
            "target.set",
            f"{record.scope}:{record.scope_id}:{record.period}",
            before={"value": before},
            after={"value": record.value, "metric": record.metric, "event_id": record.event_id},
        )
        await audit.record(conn, who, entry, now)


async def apply_org(
    conn: Connection,
    employees: Sequence[EmployeeRecord],
    targets: Sequence[TargetRecord],
    tz: ZoneInfo,
    dirty: Dirty,
    now: datetime,
    judge: Judge,
    robot_keys: KeyRing | None = None,
) -> Dirty:
    """Returns the (employee, period) rows whose org columns or target these records may have
    changed: their quota columns are written again in the batch (tally.sync_scores). A group
    robot's URL is sealed under `robot_keys` (repository.upsert_employees)."""
    await repository.upsert_employees(conn, employees, now, robot_keys)
    await repository.insert_org_history(conn, employees)
    await audit_targets(conn, await repository.upsert_targets(conn, targets), now)
    now_keys = period_keys(now, tz)
    employee_ids = sorted({e.employee_id for e in employees})
    changed: Dirty = set(await repository.periods_of(conn, employee_ids))
    for employee_id in employee_ids:
        changed.update((employee_id, k) for k in now_keys)
    changed.update(await repository.employees_under_targets(conn, targets))
    changed.update(await repository.target_periods_of(conn, employees))
    dirty.update(changed)
    # a contact whose external_userid is an employee's is a colleague, not a customer
    _mark_relations(dirty, judge, await repository.relations_of(conn, set(employee_ids)), tz)
    return changed

"""The scenario's book of facts: every record in `/v1/events` shape with its event time, the
state of each employee–contact relation, and the ground-truth label of each relation.

All generators write through it, so record shapes live in one place (`records.py`) and what a
later step sees (who is still connected, who already added whom) matches what was emitted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from tools.simulator import records
from tools.simulator.clock import MonthClock
from tools.simulator.ids import IdFactory

ONE_SECOND = timedelta(seconds=1)
Direction = Literal["to_customer", "from_customer"]
Kind = Literal["one_to_one", "mass", "group"]


@dataclass(slots=True)
class Contact:
    """An external contact (a WeChat user, or a WeCom user of some organisation)."""

    external_userid: str
    contact_type: int = 1
    corp_name: str | None = None
    unionid: str | None = None
    is_customer: bool | None = None
    """True/False once the bank's CRM matched it; None when no link record is ever sent."""
    tier: str | None = None
    linked: bool = False
    silent: bool = False
    """Never writes on its own (a bought or cold-added account): no answer to mass sends."""


@dataclass(slots=True)
class Relation:
    """One employee's history with one contact: adds and removals, in time order."""

    adds: list[datetime] = field(default_factory=list)
    removals: list[datetime] = field(default_factory=list)

    def connected_at(self, at: datetime) -> bool:
        last_add = max((t for t in self.adds if t <= at), default=None)
        if last_add is None:
            return False
        return not any(last_add <= t <= at for t in self.removals)


class Ledger:
    """Collects the records of one scenario; drops what falls outside the simulated window."""

    def __init__(self, clock: MonthClock, ids: IdFactory, corp_id: str, tail_days: int) -> None:
        self.clock = clock
        self.ids = ids
        self.corp_id = corp_id
        self.cutoff = clock.end + timedelta(days=tail_days)
        self._items: list[tuple[int, int, dict[str, Any]]] = []
        self.contacts: dict[str, Contact] = {}
        self.relations: dict[tuple[str, str], Relation] = {}
        self._by_employee: dict[str, dict[str, Relation]] = {}
        self.labels: dict[tuple[str, str], str] = {}

    # --- time-ordered output ----------------------------------------------------------------

    def emit(self, at: datetime, record: dict[str, Any]) -> bool:
        """Keep `record` if `at` lies in the simulated window; say whether it was kept."""
        if not self.clock.start <= at < self.cutoff:
            return False
        self._items.append((int(at.timestamp()), len(self._items), record))
        return True

    def records(self) -> list[dict[str, Any]]:
        """Every kept record, ordered by event time (ties: in the order they were made)."""
        return [record for _, _, record in sorted(self._items, key=lambda i: (i[0], i[1]))]

    def inside(self, at: datetime) -> datetime:
        """`at` pulled back into the window (for bank records that trail an add)."""
        return min(at, self.cutoff - ONE_SECOND)

    # --- contacts and relations --------------------------------------------------------------

    def new_contact(
        self,
        *,
        customer: bool | None,
        tier: str | None = None,
        contact_type: int = 1,
        corp_name: str | None = None,
        silent: bool = False,
    ) -> Contact:
        contact = Contact(
            self.ids.external_userid(),
            contact_type,
            corp_name,
            self.ids.unionid(),
            customer,
            tier,
            silent=silent,
        )
        self.contacts[contact.external_userid] = contact
        return contact

    def relation(self, employee_id: str, external_userid: str) -> Relation:
        key = (employee_id, external_userid)
        rel = self.relations.get(key)
        if rel is None:
            rel = self.relations[key] = Relation()
            self._by_employee.setdefault(employee_id, {})[external_userid] = rel
        return rel

    def connected(self, employee_id: str, at: datetime) -> list[str]:
        """The contacts `employee_id` is connected with at `at`."""
        mine = self._by_employee.get(employee_id, {})
        return [ext for ext, rel in mine.items() if rel.connected_at(at)]

    # --- facts -------------------------------------------------------------------------------

    def add(
        self,
        rng: random.Random,
        employee_id: str,
        contact: Contact,
        at: datetime,
        *,
        add_way: int,
        state: str,
        label: str,
        by_customer: bool,
        half: bool = False,
        welcome: bool = True,
        assign_p: float = 0.6,
    ) -> bool:
        """An add (callback event and the enrichment profile), plus the CRM match the first time
        anyone adds this contact. False when `at` is outside the window (nothing emitted)."""
        ext = contact.external_userid
        if at >= self.clock.end:
            return False  # only follow-ups of the month's adds run into the tail
        event = records.add_event(
            self.corp_id,
            employee_id,
            ext,
            at,
            state=state,
            welcome_code=self.ids.welcome_code() if welcome else None,
            half=half,
        )
        if not self.emit(at, event):
            return False
        oper = ext if by_customer else employee_id
        self.emit(at, records.contact_profile(contact, employee_id, add_way, state, oper, at))
        self.relation(employee_id, ext).adds.append(at)
        self.labels.setdefault((employee_id, ext), str(label))
        if contact.is_customer is not None and not contact.linked:
            contact.linked = True
            verified = self.inside(at + timedelta(minutes=rng.uniform(5, 240)))
            assigned = employee_id if contact.is_customer and rng.random() < assign_p else None
            self.emit(verified, records.customer_link(contact, assigned, verified))
        return True

    def remove(
        self,
        employee_id: str,
        external_userid: str,
        at: datetime,
        *,
        by_customer: bool,
        source: str | None = None,
    ) -> datetime | None:
        """A delete by the employee (`del_external_contact`, maybe a handover) or by the
        customer (`del_follow_user`), at least a minute after the latest add. Returns when it
        happened, or None when that falls outside the window (nothing emitted)."""
        rel = self.relation(employee_id, external_userid)
        if rel.adds:
            at = max(at, max(rel.adds) + timedelta(minutes=1))
        event = records.delete_event(
            self.corp_id, employee_id, external_userid, at, by_customer=by_customer, source=source
        )
        if not self.emit(at, event):
            return None
        rel.removals.append(at)
        return at

    def message(
        self, employee_id: str, external_userid: str, at: datetime, direction: Direction, kind: Kind
    ) -> bool:
        record = records.message(
            self.ids.message_id(), employee_id, external_userid, direction, kind, at
        )
        return self.emit(at, record)

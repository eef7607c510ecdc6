"""What a contact's flags say (pure): accusations kept apart from facts (docs/product.md).

An accusation says the add itself looks gamed: bought in a burst, a peer institution's staff, an
employee's own account, shared across teams or in a ring, removed soon after (by the employee,
or by a contact with nothing real behind the add) or by the employee just after the retention
window (`DELETED_AFTER_WINDOW`), piled up at the period's end, writing like a script
(`SCRIPTED_CHAT`), judged gamed by a reviewer. A fact is worth a reviewer's eye but accuses
nobody: the customer removed the employee (the side that removed it is stated), no message yet,
WeCom has no profile, a reviewer vouched for the contact.

Who removed a quick delete matters only when the add was real: a matched customer or a contact
who held a conversation may leave an employee for reasons of their own, so their own removal is
the fact `CUSTOMER_DELETED`. An add with nothing real behind it (`features.is_hollow`) that its
contact removed within the window, in a quick-delete pattern shown to be gaming, is that pattern
as much as the employee's own removals: a cooperating contact removes the employee once the add
has counted. It is accused, and the fact that the contact removed it stays beside.

What the contact itself is (a peer institution's staff, an employee's own account) or a
reviewer's judgement accuses it on its own, when the contact is that: such a signal also
accuses the hollow adds of the days it was made on (`anomaly.explain`, an excess over that
honest work), and those are a pattern like any other. A pattern (a burst, a pile-up, a ring,
removals, silence, a script) accuses the contacts that are its evidence only when their
employee's score reaches the threshold: below it, the pattern is not shown to be gaming, and
neither is any add in it; the evidence stays in the employee's reasons. Silence below it is the
fact `NO_MESSAGE_YET`."""

from __future__ import annotations

from collections.abc import Iterable

from services.scorer.domain.features import is_hollow
from services.scorer.domain.validity import ContactVerdict

CUSTOMER_DELETED = "CUSTOMER_DELETED"
NO_MESSAGE_YET = "NO_MESSAGE_YET"
FACTS = frozenset({"PROFILE_NOT_FOUND", "UNVERIFIED", "REVIEWED_GENUINE"})
"""Validity flags that are facts, never accusations."""
OF_THE_CONTACT = frozenset({"PEER_INSTITUTION", "STAFF_ACCOUNT", "REVIEWED_GAMED"})
"""Accusations that rest on the contact alone (its profile, HR's records, a reviewer), whatever
the employee's score."""


def split(
    verdict: ContactVerdict, anomaly_flags: Iterable[str], employee_flagged: bool
) -> tuple[list[str], list[str]]:
    """(accusations, facts) of one contact, each sorted."""
    accusations: set[str] = set()
    facts: set[str] = set()
    removal = verdict.removed_in_window
    by_customer = removal is not None and removal.removed_by == "customer"
    own = verdict.flags
    for flag in (*own, *anomaly_flags):
        if flag in FACTS:
            facts.add(flag)
        elif flag == "QUICK_DELETE" and by_customer and verdict.facts.add_count <= 1:
            facts.add(CUSTOMER_DELETED)
            if employee_flagged and is_hollow(verdict):
                accusations.add(flag)
        elif flag == "NO_ENGAGEMENT" and not employee_flagged:
            facts.add(NO_MESSAGE_YET)
        elif employee_flagged or (flag in OF_THE_CONTACT and flag in own):
            accusations.add(flag)
    return sorted(accusations), sorted(facts)

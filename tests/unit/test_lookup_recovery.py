"""Which published answers a restart reads back into the ledger (recovery.py): pure."""

from __future__ import annotations

import orjson

from services.ingestor.lookups.ledger import Answered, Waiting
from services.ingestor.lookups.recovery import Published, answers_from, published_of


def test_only_contact_profiles_are_lookup_answers() -> None:
    profile = {"type": "contact_profile", "external_userid": "wm1", "employee_id": "e1"}
    assert published_of(orjson.dumps(profile)) == Published("wm1", "e1", True)
    gone = {
        "type": "contact_profile",
        "external_userid": "wm2",
        "found": False,
        "occurred_at": "1970-01-01T00:01:40+00:00",
    }
    assert published_of(orjson.dumps(gone)) == Published("wm2", None, False, 100.0)
    for other in (
        b"",
        b"not json",
        b"[1, 2]",
        orjson.dumps({"type": "employee", "employee_id": "e1"}),
        orjson.dumps({"type": "contact_profile", "external_userid": 7}),
    ):
        assert published_of(other) is None


def test_a_profile_covers_the_follower_it_names_and_a_not_found_covers_every_one() -> None:
    waiting = {
        "wm1": Waiting(10.0, frozenset({"e1", "e2"})),
        "wm2": Waiting(10.0, frozenset({"e3"})),
        "wm3": Waiting(10.0, frozenset({"e4"})),
    }
    published = [
        Published("wm1", "e1", True),
        Published("wm1", "e9", True),  # a follower nobody waits for
        Published("wm1", None, True),  # a follower WeCom no longer lists: covers nobody
        Published("wm2", None, False, 12.0),
        Published("wm9", "e1", True),  # a contact nobody waits for
    ]
    assert answers_from(published, waiting) == [
        Answered("wm2", ("e3",), "not_found"),
        Answered("wm1", ("e1",), "profiled"),
    ]
    assert answers_from([], waiting) == []


def test_a_not_found_from_before_the_wait_began_covers_nobody() -> None:
    """WeCom said "no such contact"; later an employee added it (so it exists for them):
    that old answer must not settle the new follower."""
    waiting = {"wm1": Waiting(50.0, frozenset({"e2"}))}
    assert answers_from([Published("wm1", None, False, 40.0)], waiting) == []
    assert answers_from([Published("wm1", None, False, None)], waiting) == []
    assert answers_from([Published("wm1", None, False, 50.0)], waiting) == [
        Answered("wm1", ("e2",), "not_found")
    ]

"""The rules' derived values (cached: every relation is judged with them) follow their fields,
in a copy with changed fields too."""

from __future__ import annotations

from datetime import timedelta

from services.scorer.domain.rules import ScoringRules


def test_a_copy_with_other_fields_derives_its_own_values() -> None:
    rules = ScoringRules()
    assert rules.retention_window == timedelta(days=7)  # computed and cached
    assert rules.profile_wait == timedelta(hours=72)
    assert rules.inherited_add_ways == frozenset({202})
    assert rules.is_peer_institution(2, "某某银行")
    other = rules.model_copy(
        update={
            "retention_days": 3,
            "profile_wait_hours": 1.0,
            "inherit_shared_by_colleague": True,
            "peer_corp_patterns": ("证券",),
        }
    )
    assert other.retention_window == timedelta(days=3)
    assert other.profile_wait == timedelta(hours=1)
    assert other.inherited_add_ways == frozenset({201, 202})
    assert not other.is_peer_institution(2, "某某银行")
    assert other.is_peer_institution(2, "某某证券")
    assert rules.retention_window == timedelta(days=7)  # the original keeps its own


def test_derived_values_take_no_part_in_equality() -> None:
    used, fresh = ScoringRules(), ScoringRules()
    assert used.retention_window and used.profile_wait
    assert used == fresh
    assert hash(used) == hash(fresh)

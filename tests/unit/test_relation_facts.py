"""The relation facts as the refresh decodes them equal what ContactFacts' own constructor
makes of the same columns (inputs._facts fills the frozen dataclass directly, for speed)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.scorer.domain.validity import ContactFacts, Removal
from services.scorer.inputs import _FACT_FIELDS, _facts

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class Row(tuple):  # type: ignore[type-arg]
    """What asyncpg gives: a record indexable and sliceable by position, with its columns."""

    def keys(self) -> tuple[str, ...]:
        return _FACT_FIELDS


def values() -> dict[str, object]:
    """A value for every field, none of them its default."""
    return {
        "employee_id": "e1",
        "external_userid": "wm1",
        "first_added_at": AT,
        "add_count": 2,
        "contact_type": 1,
        "corp_name": "某银行",
        "is_customer": True,
        "customer_tier": "私行",
        "assigned_employee_id": "e2",
        "state": "qr-1",
        "add_way": 1,
        "first_customer_msg_at": AT + timedelta(minutes=3),
        "customer_msgs": 4,
        "one_to_one_msgs": 6,
        "mass_msgs": 1,
        "new_to_bank": True,
        "profile_found": False,
        "staff_account_of": "e9",
        "handed_over": True,
        "review": "genuine",
        "campaign": "spring",
        "removals": [(AT + timedelta(days=2), "customer", "DEL_FOLLOW_USER")],
        "is_employee_account": True,
        "seen_at": AT + timedelta(seconds=5),
    }


def test_every_field_is_decoded_as_the_constructor_makes_it() -> None:
    given = values()
    assert set(given) == set(_FACT_FIELDS)  # a new field must be added here too
    decoded = _facts([Row(given[f] for f in _FACT_FIELDS)])[0]
    expected = ContactFacts(
        **{
            **given,
            "removals": (Removal(AT + timedelta(days=2), "customer", "DEL_FOLLOW_USER"),),
        }  # type: ignore[arg-type]
    )
    assert decoded == expected
    assert hash(decoded) == hash(expected)
    assert dataclasses.asdict(decoded) == dataclasses.asdict(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.customer_msgs = 0  # type: ignore[misc]


def test_no_removals_decode_as_none() -> None:
    given = {**values(), "removals": None}
    decoded = _facts([Row(given[f] for f in _FACT_FIELDS)])[0]
    assert decoded.removals == ()


def test_columns_out_of_order_are_refused() -> None:
    class Shuffled(Row):
        def keys(self) -> tuple[str, ...]:
            return tuple(reversed(_FACT_FIELDS))

    with pytest.raises(RuntimeError, match="columns"):
        _facts([Shuffled(values()[f] for f in _FACT_FIELDS)])

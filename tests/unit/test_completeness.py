"""When a period's inputs are complete enough to close it (services/scorer/domain/completeness):
each condition holds the close on its own, and lets go once met."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scorer.domain.completeness import (
    CloseInputs,
    CompletenessRules,
    PartitionProgress,
    close_holds,
    reason_code,
)

END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # November's end in Shanghai
RETENTION = timedelta(days=7)
NOW = END + timedelta(days=8, hours=1)  # past the default deadline
RULES = CompletenessRules()


def partition(n: int, latest: datetime, consumed: datetime = NOW) -> PartitionProgress:
    return PartitionProgress(n, latest, consumed)


def inputs(**changes: object) -> CloseInputs:
    base: dict[str, object] = {
        "partitions": [partition(0, NOW), partition(1, NOW)],
        "sources": {},
        "profile_unknown_adds": 0,
        "data_stale": False,
    }
    return CloseInputs(**{**base, **changes})  # type: ignore[arg-type]


def test_complete_inputs_hold_nothing() -> None:
    assert close_holds(END, RETENTION, inputs(), RULES, NOW) == []


def test_a_partition_still_consuming_the_period_holds_the_close() -> None:
    backfill = [partition(0, NOW), partition(1, END - timedelta(days=3))]
    holds = close_holds(END, RETENTION, inputs(partitions=backfill), RULES, NOW)
    assert holds == ["contact_watermark:1"] and reason_code(holds[0]) == "contact_watermark"
    # its event time past the end of the retention window: no longer
    done = [partition(0, NOW), partition(1, END + RETENTION)]
    assert close_holds(END, RETENTION, inputs(partitions=done), RULES, NOW) == []


def test_an_idle_partition_stops_holding_the_close() -> None:
    quiet = [partition(0, NOW), partition(1, END - timedelta(days=3), NOW - timedelta(hours=1))]
    assert close_holds(END, RETENTION, inputs(partitions=quiet), RULES, NOW) == []
    rules = CompletenessRules(idle_partition=timedelta(hours=2))
    assert close_holds(END, RETENTION, inputs(partitions=quiet), rules, NOW) == [
        "contact_watermark:1"
    ]


def test_a_required_source_holds_until_complete_through_the_period_end() -> None:
    rules = CompletenessRules(required_sources=frozenset({"crm"}))
    assert close_holds(END, RETENTION, inputs(), rules, NOW) == ["source_watermark:crm"]
    early = inputs(sources={"crm": END - timedelta(seconds=1)})
    assert close_holds(END, RETENTION, early, rules, NOW) == ["source_watermark:crm"]
    assert close_holds(END, RETENTION, inputs(sources={"crm": END}), rules, NOW) == []
    # a source nobody requires holds nothing
    assert close_holds(END, RETENTION, inputs(), RULES, NOW) == []


def test_outstanding_lookups_hold_the_close() -> None:
    holds = close_holds(END, RETENTION, inputs(profile_unknown_adds=12), RULES, NOW)
    assert holds == ["profile_unknown:12"]


def test_stale_wecom_data_holds_unless_a_reconciliation_ran_after_the_end() -> None:
    assert close_holds(END, RETENTION, inputs(data_stale=True), RULES, NOW) == ["data_stale"]
    before = inputs(data_stale=True, sources={"wecom.reconciliation": END - timedelta(hours=1)})
    assert close_holds(END, RETENTION, before, RULES, NOW) == ["data_stale"]
    after = inputs(data_stale=True, sources={"wecom.reconciliation": END + timedelta(hours=3)})
    assert close_holds(END, RETENTION, after, RULES, NOW) == []


def test_every_reason_is_reported_at_once() -> None:
    rules = CompletenessRules(required_sources=frozenset({"hr", "crm"}))
    everything = inputs(partitions=[partition(2, END)], profile_unknown_adds=1, data_stale=True)
    assert close_holds(END, RETENTION, everything, rules, NOW) == [
        "contact_watermark:2",
        "source_watermark:crm",
        "source_watermark:hr",
        "profile_unknown:1",
        "data_stale",
    ]


def test_a_partition_assigned_but_not_consumed_yet_holds_until_idle() -> None:
    fresh = [partition(0, NOW), PartitionProgress(1, None, NOW - timedelta(minutes=5))]
    assert close_holds(END, RETENTION, inputs(partitions=fresh), RULES, NOW) == [
        "contact_watermark:1"
    ]
    quiet = [partition(0, NOW), PartitionProgress(1, None, NOW - timedelta(hours=1))]
    assert close_holds(END, RETENTION, inputs(partitions=quiet), RULES, NOW) == []

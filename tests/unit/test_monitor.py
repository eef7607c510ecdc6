"""Consumer lag per topic from end offsets and the offsets stored with the data."""

from __future__ import annotations

from aiokafka import TopicPartition

from shared.monitor import lag_by_topic


def test_lag_sums_partitions_and_counts_unstored_partitions_from_their_start() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    ends = {a0: 100, a1: 50, b0: 10}
    starts = {a0: 0, a1: 20, b0: 0}
    stored = {("a", 0): 90, ("b", 0): 10}
    # a: 10 behind on partition 0, nothing stored on 1 so 50 - 20 from its start; b: caught up
    assert lag_by_topic(ends, starts, stored) == {"a": 40, "b": 0}


def test_lag_is_never_negative() -> None:
    tp = TopicPartition("a", 0)
    # an offset stored past the end seen (the end offsets were read just before a commit)
    assert lag_by_topic({tp: 5}, {tp: 0}, {("a", 0): 7}) == {"a": 0}

"""Pure parts of the ingestor's callback path: spool file, replay window, retry filter,
circuit breaker, profiles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingestor.callback import StaleRequestError, check_replay_window
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import Spool, SpoolError, open_spool
from services.ingestor.delivery.spool_frames import frame
from services.ingestor.enrichment.breaker import CircuitBreaker
from services.ingestor.enrichment.profiles import follower_profile
from services.ingestor.retries import RetryFilter
from services.ingestor.wecom import WeComError


def rec(i: int) -> Outgoing:
    return Outgoing("t", f"k{i}", f'{{"n":{i},"s":"客户\\n"}}'.encode())


def test_spool_keeps_order_and_cut_keeps_later_appends(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(0), rec(1)])
    spool.append([rec(2)])
    items, consumed = spool.oldest(2)
    assert items == [rec(0), rec(1)] and spool.depth == 3
    spool.append([rec(3)])  # arrives while the first two are being replayed
    spool.cut(consumed)
    assert spool.depth == 2
    assert spool.oldest(10)[0] == [rec(2), rec(3)]


def test_spool_survives_restart_and_skips_a_torn_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(0)])
    spool.close()
    (segment,) = tmp_path.glob("segment-*.spool")
    with segment.open("ab") as f:
        f.write(frame(rec(1))[:-7])  # a crash mid-append: never acknowledged
    again = Spool(tmp_path)
    assert again.depth == 2  # the torn record counts until the replay finds it torn
    items, consumed = again.oldest(10)
    assert items == [rec(0)]
    again.cut(consumed)
    assert again.oldest(10) == ([], 0) and again.depth == 0


def test_one_process_owns_a_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    with pytest.raises(SpoolError, match="owned"):
        Spool(tmp_path)
    first.close()
    Spool(tmp_path).close()


def test_unreadable_spool_line_is_quarantined_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "spool.ndjson").write_bytes(b"garbage\n" + rec(1).to_line())
    spool = Spool(tmp_path)
    items, consumed = spool.oldest(10)
    assert items == [rec(1)]
    spool.cut(consumed)
    assert spool.depth == 0
    assert (tmp_path / "unreadable.ndjson").read_bytes() == b"garbage\n"


def test_replay_window_judges_the_query_timestamp() -> None:
    check_replay_window("1000", now=1100, window=300)
    check_replay_window("1300", now=1100, window=300)  # small clock skew either way
    with pytest.raises(StaleRequestError):
        check_replay_window("700", now=1100, window=300)
    for bad in ("", "12a", "١٢٣", "-5", "9" * 20):
        with pytest.raises(WeComError):
            check_replay_window(bad, now=1100, window=300)


async def test_retry_filter_stores_once_even_when_retries_overlap() -> None:
    stored: list[str] = []

    async def store() -> str:
        await asyncio.sleep(0.05)
        stored.append("x")
        return "kafka"

    retries = RetryFilter()
    results = await asyncio.gather(*(retries.once("id", store) for _ in range(3)))
    assert stored == ["x"] and results.count("kafka") == 1 and results.count(None) == 2
    assert await retries.once("id", store) is None


async def test_retry_filter_lets_a_failed_store_be_retried() -> None:
    async def fail() -> str:
        raise OSError("disk full")

    async def ok() -> str:
        return "spool"

    retries = RetryFilter()
    with pytest.raises(OSError):
        await retries.once("id", fail)
    assert await retries.once("id", ok) == "spool"


def test_breaker_opens_after_failures_and_half_opens_for_one_trial() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_seconds=10, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failed()
    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow()


def test_profile_of_this_follower_and_unknown_add_way() -> None:
    answer = {
        "external_contact": {"external_userid": "wm1", "type": 1, "unionid": "u"},
        "follow_user": [
            {"userid": "other", "add_way": 1, "state": "x", "createtime": 1},
            {"userid": "e1", "add_way": 999, "state": "", "oper_userid": "e1", "createtime": 2},
        ],
    }
    at = datetime(2026, 1, 1, tzinfo=UTC)
    record = follower_profile(answer, "e1", at)
    assert (record.employee_id, record.add_way, record.state, record.oper_userid) == (
        "e1",
        999,
        None,
        "e1",
    )
    gone = follower_profile(answer, "deleted", at)
    assert gone.employee_id is None and gone.unionid == "u"
    assert follower_profile(answer, "e1", at).event_id == record.event_id  # deterministic


def test_default_spool_in_use_falls_back_and_is_adopted_later(tmp_path: Path) -> None:
    owner = open_spool(tmp_path, explicit=False)
    second = open_spool(tmp_path, explicit=False)  # e.g. a test run beside a local stack
    assert second.directory != owner.directory
    second.append([rec(7)])
    second.close()
    with pytest.raises(SpoolError):
        open_spool(tmp_path, explicit=True)
    owner.close()
    adopter = open_spool(tmp_path, explicit=False)
    assert adopter.directory == tmp_path and adopter.oldest(10)[0] == [rec(7)]

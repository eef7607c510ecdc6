"""The segmented spool: order, crashes (torn and corrupt frames, kill -9 mid-append, a crash
between Kafka's acknowledgement and the cursor), segment deletion, the legacy file, appends
that never wait for the replay, and a replay whose cost is linear in what was spooled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.ingestor.delivery import spool as spool_module
from services.ingestor.delivery import spool_frames
from services.ingestor.delivery.durable import SpoolReplayer
from services.ingestor.delivery.kafka_link import KafkaLink
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import (
    CURSOR_FILE,
    LEGACY_FILE,
    Position,
    Spool,
    read_cursor,
    segment_name,
)
from services.ingestor.delivery.spool_frames import HEADER, frame

ROOT = Path(__file__).resolve().parents[2]


def rec(i: int) -> Outgoing:
    return Outgoing("t", f"k{i}", f'{{"n":{i},"s":"客户\\n"}}'.encode())


def numbers(items: Sequence[Outgoing]) -> list[int]:
    return [int(item.key[1:]) for item in items]


def drain(spool: Spool, batch: int = 7) -> list[Outgoing]:
    """What a replayer whose every publish is acknowledged would send, in order."""
    sent: list[Outgoing] = []
    while True:
        items, consumed = spool.oldest(batch)
        if not consumed:
            return sent
        sent += items
        spool.cut(consumed)


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.spool"))


def unreadable(reason: str) -> float:
    return REGISTRY.get_sample_value("ingestor_spool_unreadable_total", {"reason": reason}) or 0.0


def test_order_is_kept_across_segments_and_replayed_segments_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1024)
    for start in range(0, 200, 5):
        spool.append([rec(i) for i in range(start, start + 5)])
    assert spool.depth == 200 and len(segments(tmp_path)) > 10
    first = segments(tmp_path)[0]
    sent: list[Outgoing] = []
    while first.exists():  # a segment goes as soon as its last record is acknowledged
        items, consumed = spool.oldest(3)
        sent += items
        spool.cut(consumed)
    assert numbers(sent) == list(range(len(sent))) and spool.depth == 200 - len(sent)
    sent += drain(spool)
    assert numbers(sent) == list(range(200)) and spool.depth == 0
    assert len(segments(tmp_path)) == 1  # the head, kept for the next append
    spool.append([rec(200)])
    assert numbers(drain(spool)) == [200]
    spool.close()
    Spool(tmp_path).close()
    assert segments(tmp_path) == []  # a restart deletes what was replayed


def test_replay_resumes_at_the_cursor_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=2048)
    spool.append([rec(i) for i in range(50)])
    _, consumed = spool.oldest(20)
    spool.cut(consumed)
    spool.close()
    again = Spool(tmp_path)
    assert again.depth == 30
    again.append([rec(50)])  # a new process appends to a segment of its own
    assert numbers(drain(again)) == list(range(20, 51))


def test_a_crash_before_the_cursor_is_written_replays_the_batch_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(i) for i in range(10)])
    spool.oldest(4)  # published, acknowledged... and the process dies before `cut`
    spool.close()
    again = Spool(tmp_path)
    assert again.depth == 10
    assert numbers(drain(again)) == list(range(10))  # 0-3 twice on the topic, none lost


class FakeKafka:
    """Acknowledges every send (recording it); `connected` as KafkaLink has it."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.connected = asyncio.Event()
        self.connected.set()

    async def send(self, items: Sequence[Outgoing]) -> None:
        self.sent += items


async def test_the_replayer_writes_the_cursor_only_after_kafka_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(i) for i in range(6)])
    kafka = FakeKafka()
    replayer = SpoolReplayer(cast(KafkaLink, kafka), spool, 1.0, batch=4, timeout=5.0)
    order: list[str] = []
    real_send = kafka.send

    async def send(items: Sequence[Outgoing]) -> None:
        order.append("acknowledged")
        await real_send(items)

    def crash(directory: Path, position: Position) -> None:
        order.append("cursor")
        raise OSError("power cut")  # the acknowledgement is in, the cursor never written

    monkeypatch.setattr(kafka, "send", send)
    monkeypatch.setattr(spool_module, "write_cursor", crash)
    with pytest.raises(OSError, match="power cut"):
        await replayer.replay_once()
    assert order == ["acknowledged", "cursor"] and numbers(kafka.sent) == [0, 1, 2, 3]
    spool.close()
    monkeypatch.undo()

    again = Spool(tmp_path)
    replayer = SpoolReplayer(cast(KafkaLink, kafka), again, 1.0, batch=4, timeout=5.0)
    while again.depth:
        await replayer.replay_once()
    assert numbers(kafka.sent) == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]  # twice, never lost
    assert read_cursor(tmp_path) == Position(2, 0) and segments(tmp_path) == []


def test_a_torn_tail_is_skipped_and_later_segments_still_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(0), rec(1), rec(2)])
    spool.close()
    torn = segments(tmp_path)[0]
    os.truncate(torn, torn.stat().st_size - 5)  # kill -9 in the middle of writing rec(2)
    again = Spool(tmp_path)
    again.append([rec(3)])
    before = unreadable("torn")
    assert again.depth == 4  # the torn record counts until the replay finds it torn
    assert numbers(drain(again)) == [0, 1, 3] and again.depth == 0
    assert unreadable("torn") == before + 1
    assert "hold no readable record" in caplog.text and torn.name in caplog.text
    assert not torn.exists()


def test_a_corrupt_checksum_skips_that_record_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(i) for i in range(5)])
    spool.close()
    path = segments(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[len(frame(rec(0))) * 2 + HEADER.size + 3] ^= 0x20  # a bit flipped inside rec(2)
    path.write_bytes(bytes(data))
    before = unreadable("corrupt")
    again = Spool(tmp_path)
    assert again.depth == 5  # counted until the replay finds it corrupt
    assert numbers(drain(again, batch=2)) == [0, 1, 3, 4] and again.depth == 0
    assert unreadable("corrupt") == before + 1 and "checksum" in caplog.text


def test_a_corrupt_length_does_not_hide_the_records_after_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(i) for i in range(5)])
    spool.close()
    path = segments(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[len(frame(rec(0))) + 4] = 0x7F  # rec(1) now claims a far longer payload
    path.write_bytes(bytes(data))
    again = Spool(tmp_path)
    assert numbers(drain(again)) == [0, 2, 3, 4] and again.depth == 0


def frame_spans(count: int) -> Iterator[tuple[int, int]]:
    start = 0
    for i in range(count):
        end = start + len(frame(rec(i)))
        yield start, end
        start = end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    damage=st.lists(
        st.tuples(st.integers(0, 20 * 40), st.integers(1, 255)), min_size=1, max_size=4
    ),
    cut_at=st.one_of(st.none(), st.integers(0, 20 * 40)),
    batch=st.integers(1, 6),
)
def test_any_damage_loses_only_the_damaged_records(
    damage: list[tuple[int, int]], cut_at: int | None, batch: int
) -> None:
    """Bytes xored and the file cut anywhere: every record whose bytes are intact is replayed,
    in order; the depth a restart counts is never less than what replay finds (so replay
    never stops short), and 0 once it is done."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        spool = Spool(directory)
        spool.append([rec(i) for i in range(20)])
        spool.close()
        path = segments(directory)[0]
        data = bytearray(path.read_bytes())
        touched = {at % len(data) for at, _ in damage}
        for at, bits in damage:
            data[at % len(data)] ^= bits
        length = len(data) if cut_at is None else min(cut_at, len(data))
        path.write_bytes(bytes(data[:length]))
        intact = [
            i
            for i, (start, end) in enumerate(frame_spans(20))
            if end <= length and not touched & set(range(start, end))
        ]
        again = Spool(directory)
        counted = again.depth
        replayed = numbers(drain(again, batch))
        assert set(intact) <= set(replayed) and replayed == sorted(replayed)
        assert counted >= len(replayed) and again.depth == 0
        again.close()


@pytest.mark.parametrize("read_bytes", [1, 3, 5, 13, 64])
def test_frames_and_marks_cut_by_any_read_size_are_found_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_bytes: int
) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(i) for i in range(30)])
    spool.close()
    monkeypatch.setattr(spool_frames, "READ_BYTES", read_bytes)
    monkeypatch.setattr(spool_frames, "COUNT_BYTES", read_bytes)
    again = Spool(tmp_path)
    assert again.depth == 30
    assert numbers(drain(again, batch=4)) == list(range(30))


APPENDER = """
import sys
from pathlib import Path
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool import Spool

spool = Spool(Path(sys.argv[1]), segment_bytes=4096)
for i in range(1_000_000):
    spool.append([Outgoing("t", f"k{i}", b'{"n":%d}' % i)])
    print(i, flush=True)  # acknowledged: WeCom would have its 200 now
"""


def test_kill9_mid_append_loses_nothing_acknowledged(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acknowledged = [int(proc.stdout.readline()) for _ in range(1500)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    spool = Spool(tmp_path)
    replayed = numbers(drain(spool, batch=100))
    assert replayed[: len(acknowledged)] == acknowledged  # in order, none missing
    assert replayed == list(range(len(replayed)))  # beyond them, only whole records


def test_the_legacy_file_replays_first_then_is_removed(tmp_path: Path) -> None:
    legacy = tmp_path / LEGACY_FILE
    legacy.write_bytes(b"".join(rec(i).to_line() for i in range(5)) + b'{"topic":"t","ke')
    spool = Spool(tmp_path)
    assert spool.depth == 5  # the torn last line was never acknowledged
    spool.append([rec(5), rec(6)])
    items, consumed = spool.oldest(2)
    spool.cut(consumed)
    spool.close()  # a restart in the middle of the legacy file
    assert read_cursor(tmp_path) == Position(0, sum(len(rec(i).to_line()) for i in range(2)))
    again = Spool(tmp_path)
    assert again.depth == 5
    assert numbers(items + drain(again, batch=2)) == list(range(7))
    assert not legacy.exists()
    again.close()
    assert Spool(tmp_path).depth == 0


def test_a_legacy_file_with_no_cursor_for_it_is_replayed_whole(tmp_path: Path) -> None:
    """After segments were in use, a legacy file (an older ingestor run on this folder in
    between) is read from its start, never from the segments' offset."""
    (tmp_path / CURSOR_FILE).write_bytes(b'{"segment": 7, "offset": 120}')
    (tmp_path / LEGACY_FILE).write_bytes(rec(0).to_line() + rec(1).to_line())
    spool = Spool(tmp_path)
    spool.append([rec(2)])
    assert numbers(drain(spool)) == [0, 1, 2]


def test_an_unreadable_cursor_replays_everything_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(0), rec(1)])
    _, consumed = spool.oldest(1)
    spool.cut(consumed)
    spool.close()
    (tmp_path / CURSOR_FILE).write_bytes(b'{"segm')
    assert numbers(drain(Spool(tmp_path))) == [0, 1]


def blocking(
    target: Callable[..., Any], entered: threading.Event, release: threading.Event
) -> Callable[..., Any]:
    """`target`, but it says when it is entered and waits there until released (or 10 s:
    then whoever should have released it was itself blocked, and the test fails)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        if not release.wait(10):
            raise AssertionError("never released: the other side waited for this one")
        return target(*args, **kwargs)

    return wrapper


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.parametrize("step", ["read_pieces", "write_cursor"])
def test_appends_complete_while_the_replay_is_in_its_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The replay is held inside its read (or its cursor write); an append must complete
    meanwhile: no lock it needs is held across that I/O."""
    spool = Spool(tmp_path)
    spool.append([rec(0), rec(1)])
    entered, release = threading.Event(), threading.Event()
    monkeypatch.setattr(spool_module, step, blocking(getattr(spool_module, step), entered, release))

    def replay() -> None:
        _, consumed = spool.oldest(10)
        spool.cut(consumed)

    thread, errors = in_thread(replay)
    assert entered.wait(10)
    spool.append([rec(2)])  # would wait for the replay if they shared a lock over I/O
    release.set()
    thread.join()
    assert errors == []
    assert numbers(drain(spool)) == [2]


def test_the_replay_reads_while_an_append_is_in_its_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.append([rec(0)])
    entered, release = threading.Event(), threading.Event()
    monkeypatch.setattr(
        spool_module, "_write_all", blocking(spool_module._write_all, entered, release)
    )
    thread, errors = in_thread(lambda: spool.append([rec(1)]))
    assert entered.wait(10)
    items, consumed = spool.oldest(10)  # only what was fsynced: the append is not yet
    spool.cut(consumed)
    release.set()
    thread.join()
    assert errors == [] and numbers(items) == [0]
    assert numbers(drain(spool)) == [1]


def process_io() -> dict[str, int]:
    """Bytes this process read and wrote through system calls (page cache included)."""
    fields = Path("/proc/self/io").read_text().split("\n")
    return {k: int(v) for k, v in (line.split(": ") for line in fields if line)}


def test_replay_cost_is_linear_and_nothing_is_rewritten(tmp_path: Path) -> None:
    """10,000 records replayed 100 at a time: each spooled byte is read once, and the bytes
    written are the cursor's alone, a few dozen per batch (rewriting the rest at each cut, as
    the spool once did, wrote ~50 times the spool). Every segment keeps its inode and size
    until it is deleted."""
    if not Path("/proc/self/io").exists():
        pytest.skip("needs /proc/self/io")
    spool = Spool(tmp_path, segment_bytes=256 * 1024)
    for start in range(0, 10_000, 50):
        spool.append([rec(i) for i in range(start, start + 50)])
    spooled = sum(path.stat().st_size for path in segments(tmp_path))
    files = {path: (path.stat().st_ino, path.stat().st_size) for path in segments(tmp_path)}
    before = process_io()
    replayed = 0
    cuts = 0
    while True:
        items, consumed = spool.oldest(100)
        if not consumed:
            break
        spool.cut(consumed)
        replayed += len(items)
        cuts += 1
        for path, (inode, size) in files.items():
            if path.exists():
                assert (path.stat().st_ino, path.stat().st_size) == (inode, size)
    after = process_io()
    read, written = after["rchar"] - before["rchar"], after["wchar"] - before["wchar"]
    assert replayed == 10_000 and cuts <= 100 + len(files)  # a batch ends with its segment
    assert read <= spooled + 64 * 1024, (read, spooled)  # one read-ahead at most
    assert written <= 64 * (cuts + len(files)), (written, spooled)  # a cursor: ~30 bytes
    assert segments(tmp_path) == [tmp_path / segment_name(len(files))]  # the head alone

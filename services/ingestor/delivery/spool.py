"""The local durable spool: where a callback goes when Kafka does not acknowledge in time.

Segment files, only ever appended to: a callback's records are framed (length and checksum,
spool_frames.py) onto the head segment and fsynced before the caller answers WeCom 200, so an
acknowledged callback survives a crash or kill -9 even while Kafka is down. A head that
reached `segment_bytes` is closed and a new one begun; each process begins its own, so a
segment a crash tore is never written to again.

The replayer reads from the cursor (segment and offset), publishes in order, and once Kafka
has acknowledged moves the cursor past what it published (a small file, fsynced, renamed over
the last); a segment read to its end is deleted. Nothing is ever rewritten, so a replay costs
what was spooled, once, however long the outage was. A crash between Kafka's acknowledgement
and the cursor write replays those records again: duplicates with their event_id, which the
scorer applies once; never a loss. Torn or corrupt frames are skipped, logged and counted,
and replay goes on with the valid records after them.

Appends and the replay share only a short lock over positions and counts, never held across
I/O: the replay reads closed segments, and the head up to its last fsynced byte, while new
callbacks are appended and fsynced to the head meanwhile.

The depth (records waiting) is counted at start by the frames' marks, at the speed of a read:
exact for undamaged segments, and high by the torn or corrupt records until the replay passes
them, never low, so that replay never stops short; it is 0 once everything was read.

A spool in the format before segments (`spool.ndjson`, JSON lines) is replayed first, as
segment 0, then removed.

One process owns a spool directory (an exclusive `flock`): two ingestors sharing one would
replay each other's records twice."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.delivery.spool_frames import (
    MAGIC,
    Piece,
    Scanner,
    count_marks,
    frame,
    read_pieces,
    scan_frames,
    scan_lines,
)
from services.ingestor.metrics import SPOOL_APPENDED, SPOOL_DEPTH, SPOOL_UNREADABLE

log = logging.getLogger(__name__)

SEGMENT_BYTES = 32 * 1024 * 1024
CURSOR_FILE = "cursor"
LEGACY_FILE = "spool.ndjson"  # the format before segments
LEGACY_SEGMENT = 0  # the legacy file replays as this segment, before every real one
QUARANTINE_FILE = "unreadable.ndjson"
ADOPT_BATCH = 10_000
_SEGMENT_NAME = re.compile(r"segment-(\d{12})\.spool")


class SpoolError(OSError):
    """The spool cannot store: the caller must refuse (503) so that WeCom retries."""


def segment_name(seq: int) -> str:
    return f"segment-{seq:012d}.spool"


@dataclass(slots=True)
class Segment:
    """One file of the spool. `end` is how far it may be read: while it is the head, its last
    fsynced byte (never a record half-written); once closed, all it holds."""

    seq: int
    path: Path
    end: int
    closed: bool

    @property
    def scan(self) -> Scanner:
        return scan_lines if self.seq == LEGACY_SEGMENT else scan_frames

    @property
    def mark(self) -> bytes:
        """What each of its records holds exactly once."""
        return b"\n" if self.seq == LEGACY_SEGMENT else MAGIC


@dataclass(frozen=True, slots=True)
class Position:
    """Where replay resumes: everything before it is acknowledged by Kafka."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Window:
    """What the replay may read now, snapshotted under the lock and read outside it."""

    segment: Segment
    start: int
    end: int
    closed: bool


@dataclass(frozen=True, slots=True)
class Batch:
    """What `oldest` handed out, held until `cut` says Kafka has it."""

    window: Window
    items: list[Outgoing]
    consumed: int  # bytes from window.start
    records: int  # as counted in depth: the items and the intact lines that are no record
    not_records: list[bytes]
    unreadable: list[Piece]


@dataclass(frozen=True, slots=True)
class Head:
    segment: Segment
    fd: int


class Spool:
    """Thread-safe for any number of appenders and one replayer (`oldest`, then `cut`)."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._append_lock = threading.Lock()  # one writer of the head at a time
        self._state = threading.Lock()  # segments, cursor, depth: never held across I/O
        directory.mkdir(parents=True, exist_ok=True)
        self._owner = _take_ownership(directory)
        self._cursor = read_cursor(directory)
        self._segments = _surviving_segments(directory, self._cursor)
        self._head: Head | None = None
        self._next_seq = max([self._cursor.segment, *(s.seq for s in self._segments)]) + 1
        self._batch: Batch | None = None
        self._ahead = (self._cursor, b"")  # the replay's read-ahead: where it starts, the bytes
        self._depth = sum(
            count_marks(s.path, self._start_of(s), s.end, s.mark) for s in self._segments
        )
        SPOOL_DEPTH.set(self._depth)

    @property
    def depth(self) -> int:
        """Records waiting for Kafka (after a restart, damaged ones until replay finds them)."""
        return self._depth

    def close(self) -> None:
        with self._append_lock:
            self._close_head()
        self._owner.close()

    def append(self, items: Sequence[Outgoing]) -> None:
        """Write and fsync; returns only once the records would survive a power cut."""
        if not items:
            return
        data = b"".join(frame(item) for item in items)
        with self._append_lock:
            head = self._head_for(len(data))
            try:
                _write_all(head.fd, data)
                os.fsync(head.fd)
            except OSError as exc:
                self._close_head()  # what it may hold past `end` is read after a restart only
                raise SpoolError(f"spool {head.segment.path} cannot store: {exc.strerror}") from exc
            with self._state:
                head.segment.end += len(data)
                self._depth += len(items)
                SPOOL_DEPTH.set(self._depth)
        SPOOL_APPENDED.inc(len(items))

    def oldest(self, limit: int) -> tuple[list[Outgoing], int]:
        """Up to `limit` records from the cursor on, and how many bytes of the spool they span
        (what `cut` takes once Kafka has acknowledged them). Stretches holding no record are
        skipped here, logged and counted; appends go on meanwhile."""
        while True:
            window = self._readable()
            if window is None:
                self._batch = None
                return [], 0
            segment = window.segment
            pieces, ahead = read_pieces(
                segment.path, window.start, window.end, limit, segment.scan, self._ahead_of(window)
            )
            batch = _batch_of(window, pieces)
            self._ahead = (Position(segment.seq, window.start + batch.consumed), ahead)
            if batch.records:
                self._batch = batch
                return batch.items, batch.consumed
            self._commit(batch)  # nothing for Kafka in it

    def cut(self, consumed: int) -> None:
        """Forget what the last `oldest` handed out, now that Kafka has acknowledged it."""
        batch, self._batch = self._batch, None
        if consumed == 0:
            return
        if batch is None or batch.consumed != consumed:
            raise ValueError("cut takes what the last oldest() returned, once")
        self._commit(batch)

    def _commit(self, batch: Batch) -> None:
        """The cursor moves past the batch (durably, before the depth says so); a closed
        segment read to its end goes."""
        _set_aside(self.directory, batch)
        segment = batch.window.segment
        position = Position(segment.seq, batch.window.start + batch.consumed)
        write_cursor(self.directory, position)
        with self._state:
            self._cursor = position
            self._depth -= batch.records
            SPOOL_DEPTH.set(self._depth)
            exhausted = segment.closed and position.offset >= segment.end
        if exhausted:
            self._retire(segment)

    def _ahead_of(self, window: Window) -> bytes:
        """What the last read holds past its last record, if this read starts there (not when
        a failed publish has the batch read again)."""
        position, ahead = self._ahead
        return ahead if position == Position(window.segment.seq, window.start) else b""

    def _readable(self) -> Window | None:
        """The oldest segment with something left to read, retiring the exhausted ones."""
        while True:
            with self._state:
                if not self._segments:
                    self._replayed_all()
                    return None
                segment = self._segments[0]
                window = Window(segment, self._start_of(segment), segment.end, segment.closed)
                if window.start >= window.end and not window.closed:
                    self._replayed_all()  # the head, read up to its last fsynced record
                    return None
            if window.start < window.end:
                return window
            self._retire(segment)

    def _replayed_all(self) -> None:
        """Under the state lock, nothing left past the cursor: the depth is 0. It is more
        only when a restart counted records that turned out torn or corrupt (an estimate
        that may be high, never low, so that replay never stops short)."""
        if self._depth:
            log.info("spool depth was %d with every record replayed; now 0", self._depth)
            self._depth = 0
            SPOOL_DEPTH.set(0)

    def _retire(self, segment: Segment) -> None:
        """A closed segment read to its end: the cursor moves to the next, the file goes."""
        position = Position(segment.seq + 1, 0)
        write_cursor(self.directory, position)
        segment.path.unlink(missing_ok=True)
        with self._state:
            self._segments.remove(segment)
            self._cursor = position
        log.info("spool segment %s replayed and deleted", segment.path.name)

    def _start_of(self, segment: Segment) -> int:
        return self._cursor.offset if segment.seq == self._cursor.segment else 0

    def _head_for(self, size: int) -> Head:
        """The segment to append to: a new one when the head is full (never one a previous
        process wrote, whose end a crash may have torn)."""
        head = self._head
        if head is not None and head.segment.end and head.segment.end + size > self._segment_bytes:
            self._close_head()
            head = None
        return head or self._open_head()

    def _open_head(self) -> Head:
        path = self.directory / segment_name(self._next_seq)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise SpoolError(f"spool {path} cannot be created: {exc.strerror}") from exc
        try:
            _fsync_dir(self.directory)  # its name must survive a crash as its records do
        except OSError as exc:
            os.close(fd)
            raise SpoolError(f"spool {self.directory} cannot be synced: {exc.strerror}") from exc
        segment = Segment(self._next_seq, path, 0, closed=False)
        self._next_seq += 1
        with self._state:
            self._segments.append(segment)
        self._head = Head(segment, fd)
        return self._head

    def _close_head(self) -> None:
        head, self._head = self._head, None
        if head is None:
            return
        try:
            os.close(head.fd)
        finally:
            with self._state:
                head.segment.closed = True


def _batch_of(window: Window, pieces: list[Piece]) -> Batch:
    items: list[Outgoing] = []
    not_records: list[bytes] = []
    for piece in pieces:
        if piece.payload is None:
            continue
        try:
            items.append(Outgoing.from_line(piece.payload))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeError):
            not_records.append(piece.payload)
    return Batch(
        window,
        items,
        pieces[-1].end - window.start if pieces else 0,
        len(items) + len(not_records),
        not_records,
        [piece for piece in pieces if piece.payload is None],
    )


def _set_aside(directory: Path, batch: Batch) -> None:
    """Never silently dropped: an intact line that is no record is moved aside; torn and
    corrupt stretches (no record can be read from them) are logged and counted."""
    for line in batch.not_records:
        log.error("unreadable spool line moved to %s", QUARANTINE_FILE)
        SPOOL_UNREADABLE.labels("not_a_record").inc()
        with (directory / QUARANTINE_FILE).open("ab") as sink:
            sink.write(line)
            sink.flush()
            os.fsync(sink.fileno())
    window = batch.window
    for piece in batch.unreadable:
        torn = window.closed and piece.end == window.end
        reason = "torn" if torn else "corrupt"
        SPOOL_UNREADABLE.labels(reason).inc()
        log.log(
            logging.WARNING if torn else logging.ERROR,
            "spool %s: %d bytes at offset %d hold no readable record (%s); skipped",
            window.segment.path.name,
            piece.end - piece.start,
            piece.start,
            "a crash mid-append, never acknowledged" if torn else "checksum or framing wrong",
        )


def _surviving_segments(directory: Path, cursor: Position) -> list[Segment]:
    """The segments replay has not finished, oldest first. Those it had (a crash or a stop
    kept them after their last record was acknowledged) are deleted now. The legacy file
    replays before all others."""
    found: list[Segment] = []
    legacy = directory / LEGACY_FILE
    if legacy.exists():
        found.append(Segment(LEGACY_SEGMENT, legacy, legacy.stat().st_size, closed=True))
    for path in directory.glob("segment-*.spool"):
        matched = _SEGMENT_NAME.fullmatch(path.name)
        if matched is not None:
            found.append(Segment(int(matched[1]), path, path.stat().st_size, closed=True))
    left = [segment for segment in found if _unfinished(segment, cursor)]
    for segment in found:
        if segment not in left:
            segment.path.unlink()
            log.info("spool segment %s was replayed before a restart; deleted", segment.path.name)
    return sorted(left, key=lambda segment: segment.seq)


def _unfinished(segment: Segment, cursor: Position) -> bool:
    if segment.seq == cursor.segment:
        return cursor.offset < segment.end
    return segment.seq > cursor.segment or (segment.seq == LEGACY_SEGMENT and segment.end > 0)


def read_cursor(directory: Path) -> Position:
    """Where the last run's replay got to; with no cursor (or one that cannot be read: replay
    everything again, duplicates being harmless), the start of the oldest segment."""
    path = directory / CURSOR_FILE
    try:
        doc = orjson.loads(path.read_bytes())
        return Position(int(doc["segment"]), int(doc["offset"]))
    except FileNotFoundError:
        return Position(LEGACY_SEGMENT, 0)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("spool cursor %s unreadable; replaying every segment from its start", path)
        return Position(LEGACY_SEGMENT, 0)


def write_cursor(directory: Path, position: Position) -> None:
    """Fsynced, then renamed over the last one, so a crash leaves one or the other, whole. The
    directory is not fsynced: a rename a crash undid leaves the earlier cursor, which only
    replays again what Kafka already has."""
    tmp = directory / f"{CURSOR_FILE}.tmp"
    with tmp.open("wb") as out:
        out.write(orjson.dumps({"segment": position.segment, "offset": position.offset}))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / CURSOR_FILE)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take_ownership(directory: Path) -> IO[bytes]:
    lock = (directory / ".lock").open("ab")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise SpoolError(f"spool {directory} is owned by another running ingestor") from exc
    return lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_spool(directory: Path, *, explicit: bool) -> Spool:
    """The configured spool; when only the default was used and another process on this
    machine owns it (a second ingestor, a test run beside a local stack), a per-process
    folder inside it. Whoever owns the main spool adopts per-process folders left behind
    by processes that have ended, so nothing spooled there is forgotten."""
    try:
        spool = Spool(directory)
    except SpoolError:
        if explicit:
            raise
        fallback = directory / f"pid-{os.getpid()}"
        log.warning("default spool in use by another process; using %s", fallback)
        return Spool(fallback)
    _adopt_orphans(spool)
    return spool


def _adopt_orphans(spool: Spool) -> None:
    for orphan in sorted(spool.directory.glob("pid-*")):
        try:
            left = Spool(orphan)
        except SpoolError:
            continue  # its process still runs
        try:
            adopted = _move_records(left, spool)
        finally:
            left.close()
        if adopted:
            log.info("adopted %d spooled records from %s", adopted, orphan)
    SPOOL_DEPTH.set(spool.depth)  # each orphan's spool set the gauge while it was open


def rewrite_without(
    directory: Path, unwanted: Callable[[bytes], bool], batch: int = ADOPT_BATCH
) -> tuple[int, int]:
    """The spool at `directory` (and the per-process folders left in it) without the records,
    and the quarantine file without the lines, whose bytes are `unwanted` (`wecom-quota
    erase`). Needs the spool: SpoolError while an ingestor owns it. Nothing is rewritten in
    place: the records kept are appended to a per-process folder first (fsynced), then cut from
    the spool and moved back, so a crash halfway leaves each record kept in one place or two
    (the next owner adopts the folder; a duplicate is harmless), never none. Returns the
    records and the quarantined lines dropped."""
    main = open_spool(directory, explicit=True)
    dropped = 0
    try:
        aside = Spool(directory / f"pid-erase-{os.getpid()}")
        try:
            while True:
                items, consumed = main.oldest(batch)
                if not consumed:
                    break
                kept = [item for item in items if not unwanted(item.to_line())]
                dropped += len(items) - len(kept)
                aside.append(kept)
                main.cut(consumed)
            _move_records(aside, main)
        finally:
            aside.close()
        for leftover in aside.directory.iterdir():
            leftover.unlink()
        aside.directory.rmdir()
        quarantined = _rewrite_quarantine(directory, unwanted)
    finally:
        main.close()
    SPOOL_DEPTH.set(0)  # this process is not the ingestor: the gauge is not its to keep
    return dropped, quarantined


def _rewrite_quarantine(directory: Path, unwanted: Callable[[bytes], bool]) -> int:
    path = directory / QUARANTINE_FILE
    if not path.exists():
        return 0
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not unwanted(line)]
    if len(kept) < len(lines):
        tmp = directory / f"{QUARANTINE_FILE}.tmp"
        with tmp.open("wb") as out:
            out.write(b"".join(kept))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    return len(lines) - len(kept)


def _move_records(source: Spool, target: Spool) -> int:
    """Appended (fsynced) to `target` before they are cut from `source`: a crash in between
    adopts them twice, never loses them."""
    moved = 0
    while True:
        items, consumed = source.oldest(ADOPT_BATCH)
        if not consumed:
            return moved
        if items:
            target.append(items)
        source.cut(consumed)
        moved += len(items)

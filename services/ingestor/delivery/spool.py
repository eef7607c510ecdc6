"""The local durable spool: where a callback goes when Kafka does not acknowledge in time.

An append-only file of JSON lines (topic, key, value), fsynced before the caller answers
WeCom 200, so an acknowledged callback survives a crash or kill -9 even while Kafka is down.
The replayer reads the oldest lines, publishes them in order and then cuts them off the front
of the file (rewriting the remainder to a new file, fsynced, atomically renamed). A line
half-written by a crash was never acknowledged to WeCom (which retries it), so it is trimmed.

One process owns a spool directory (an exclusive `flock`): two ingestors sharing one would
replay each other's records twice and race on the rewrite."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import orjson

from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.metrics import SPOOL_APPENDED, SPOOL_DEPTH

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.ndjson"
QUARANTINE_FILE = "unreadable.ndjson"


class SpoolError(OSError):
    """The spool cannot store: the caller must refuse (503) so that WeCom retries."""


class Spool:
    """Thread-safe: appends and the replayer's cuts take one lock; file I/O runs in threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SPOOL_FILE
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self._owner = _take_ownership(directory)
        self._repair()
        self._depth = self._count()
        SPOOL_DEPTH.set(self._depth)

    @property
    def depth(self) -> int:
        """Records waiting for Kafka."""
        return self._depth

    def close(self) -> None:
        self._owner.close()

    def append(self, items: Sequence[Outgoing]) -> None:
        """Write and fsync; returns only once the records would survive a power cut."""
        data = b"".join(item.to_line() for item in items)
        with self._lock:
            try:
                created = not self.path.exists()
                with self.path.open("ab") as spool:
                    spool.write(data)
                    spool.flush()
                    os.fsync(spool.fileno())
                if created:
                    _fsync_dir(self.directory)
            except OSError as exc:
                raise SpoolError(f"spool {self.path} cannot store: {exc.strerror}") from exc
            self._depth += len(items)
            SPOOL_DEPTH.set(self._depth)
        SPOOL_APPENDED.inc(len(items))

    def oldest(self, limit: int) -> tuple[list[Outgoing], int]:
        """Up to `limit` records from the front, and how many bytes of the file they span."""
        items: list[Outgoing] = []
        consumed = 0
        with self._lock:
            if not self.path.exists():
                return [], 0
            with self.path.open("rb") as spool:
                for line in spool:
                    if not line.endswith(b"\n") or len(items) >= limit:
                        break
                    consumed += len(line)
                    try:
                        items.append(Outgoing.from_line(line))
                    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                        self._quarantine(line)
        return items, consumed

    def cut(self, consumed: int) -> None:
        """Drop the first `consumed` bytes (acknowledged by Kafka), keeping later appends."""
        with self._lock:
            with self.path.open("rb") as spool:
                spool.seek(consumed)
                rest = spool.read()
            _replace(self.path, rest)
            self._depth = rest.count(b"\n")
            SPOOL_DEPTH.set(self._depth)

    def _quarantine(self, line: bytes) -> None:
        """Never silently dropped: an unreadable line is moved aside, and logged."""
        log.error("unreadable spool line moved to %s", QUARANTINE_FILE)
        with (self.directory / QUARANTINE_FILE).open("ab") as sink:
            sink.write(line)
            sink.flush()
            os.fsync(sink.fileno())

    def _repair(self) -> None:
        """Trim a trailing partial line left by a crash mid-append."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            log.warning("spool ended in a partial line (%d bytes); trimmed", len(data) - len(keep))
            _replace(self.path, keep)

    def _count(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as spool:
            return sum(1 for _ in spool)


def _take_ownership(directory: Path) -> IO[bytes]:
    lock = (directory / ".lock").open("ab")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise SpoolError(f"spool {directory} is owned by another running ingestor") from exc
    return lock


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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
        items, consumed = left.oldest(1_000_000_000)
        if items:
            spool.append(items)
            log.info("adopted %d spooled records from %s", len(items), orphan)
        if consumed:
            left.cut(consumed)
        left.close()

"""The lookup ledger: which contacts wait for a WeCom lookup, durably (SQLite, stdlib).

- `follower`: per (contact, employee) seen adding or editing it, whether an answer (or a
  reconciliation walk, which publishes the same facts) has covered that follower;
- `contact`: per contact, when it started waiting, when it is next due, the failures so far
  and the last outcome. A contact waits exactly while one of its followers is uncovered: a
  profiled (or not-found) contact is not looked up again, except once when a follower the
  last answer did not cover appears (add_way and state are per follower);
- `fold_offset`: how far the contact-event topic has been folded, per partition, written in
  the same transaction as the rows it produced (effectively once; the consumer seeks there);
- `mark`: `recorded_kafka_ms`, the newest record timestamp Kafka had acknowledged when a batch
  of answers was recorded: answers published well before it are recorded (recovery.py reads
  back from a margin before it).

WAL and synchronous=FULL (as reconcile_store.py): a committed fold or answer survives kill -9
and power loss. Every method is one transaction behind one lock, so the workers' threads
(asyncio.to_thread) never interleave. Times are unix seconds from the injected clock."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS contact (
    external_userid TEXT PRIMARY KEY,
    wanted_since REAL,
    due_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS contact_due ON contact (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS follower (
    external_userid TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    covered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (external_userid, employee_id)
);
CREATE TABLE IF NOT EXISTS fold_offset (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS mark (
    name TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Want:
    """A contact event's meaning for the ledger: this employee follows this contact;
    `walked` when the reconciliation's walk already published its profile."""

    external_userid: str
    employee_id: str
    walked: bool = False


@dataclass(frozen=True)
class Folded:
    """One consumed record: its position, and what it wants (None: nothing, e.g. a delete)."""

    partition: int
    offset: int
    want: Want | None


@dataclass(frozen=True)
class Due:
    """A contact to look up now, for these (uncovered) followers."""

    external_userid: str
    failures: int
    followers: tuple[str, ...]


@dataclass(frozen=True)
class Answered:
    external_userid: str
    followers: tuple[str, ...]  # the ones the answer covered
    outcome: str  # profiled | not_found


@dataclass(frozen=True)
class Failure:
    external_userid: str
    due_at: float
    error: str


@dataclass(frozen=True)
class Waiting:
    """A contact waiting for a lookup: since when (unix seconds), for which followers."""

    since: float
    followers: frozenset[str]


@dataclass(frozen=True)
class Backlog:
    waiting: int
    oldest_since: float | None


def ledger_path(directory: Path, topic: str) -> Path:
    """One file per contact-event topic: a ledger never mixes two streams' contacts."""
    return directory / f"{re.sub(r'[^A-Za-z0-9._-]', '_', topic)}.sqlite3"


class LookupLedger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the fold -------------------------------------------------------------------------
    def offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT partition, next_offset FROM fold_offset WHERE topic = ?", (topic,)
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def fold(self, topic: str, records: Sequence[Folded], now: float) -> int:
        """Records consumed from `topic`, with their offsets, in one transaction; records
        below the stored offset (a rebalance may deliver them again) are skipped. Returns how
        many wants were applied."""
        with self._transaction():
            stored = dict(
                self._db.execute(
                    "SELECT partition, next_offset FROM fold_offset WHERE topic = ?", (topic,)
                ).fetchall()
            )
            applied = 0
            reached: dict[int, int] = {}
            for record in records:
                if record.offset < stored.get(record.partition, 0):
                    continue
                reached[record.partition] = max(reached.get(record.partition, 0), record.offset + 1)
                if record.want is not None:
                    self._want(record.want, now)
                    applied += 1
            self._db.executemany(
                """INSERT INTO fold_offset (topic, partition, next_offset) VALUES (?, ?, ?)
                   ON CONFLICT (topic, partition)
                   DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)""",
                [(topic, p, o) for p, o in reached.items()],
            )
        return applied

    def _want(self, want: Want, now: float) -> None:
        self._db.execute(
            """INSERT INTO follower (external_userid, employee_id, covered) VALUES (?, ?, ?)
               ON CONFLICT (external_userid, employee_id)
               DO UPDATE SET covered = max(covered, excluded.covered)""",
            (want.external_userid, want.employee_id, int(want.walked)),
        )
        self._settle(want.external_userid, now, "walked", answer=False)

    def _settle(self, external_userid: str, now: float, outcome: str, *, answer: bool) -> None:
        """Due while a follower is uncovered, answered otherwise. A fold keeps a waiting
        contact's due time (and backoff) and an answered one's outcome; an `answer` sets the
        outcome, and makes a follower that appeared during the lookup due at once."""
        uncovered = self._db.execute(
            "SELECT 1 FROM follower WHERE external_userid = ? AND covered = 0 LIMIT 1",
            (external_userid,),
        ).fetchone()
        if uncovered is not None and answer:
            self._db.execute(
                """UPDATE contact SET wanted_since = ?1, due_at = ?1, failures = 0,
                                      last_error = NULL
                    WHERE external_userid = ?2""",
                (now, external_userid),
            )
        elif uncovered is not None:
            self._db.execute(
                """INSERT INTO contact (external_userid, wanted_since, due_at)
                   VALUES (?1, ?2, ?2)
                   ON CONFLICT (external_userid) DO UPDATE
                   SET wanted_since = coalesce(wanted_since, ?2),
                       due_at = coalesce(due_at, ?2)""",
                (external_userid, now),
            )
        else:
            self._db.execute(
                """INSERT INTO contact (external_userid, outcome) VALUES (?1, ?2)
                   ON CONFLICT (external_userid) DO UPDATE
                   SET wanted_since = NULL, due_at = NULL, failures = 0, last_error = NULL,
                       outcome = CASE WHEN ?3 OR due_at IS NOT NULL OR outcome IS NULL
                                      THEN ?2 ELSE outcome END""",
                (external_userid, outcome, int(answer)),
            )

    # -- the work -------------------------------------------------------------------------
    def due(self, now: float, limit: int, busy: Iterable[str] = ()) -> list[Due]:
        """Up to `limit` contacts due by `now`, the longest-due first, none of `busy`."""
        skip = set(busy)
        with self._lock:
            rows = self._db.execute(
                """SELECT external_userid, failures FROM contact
                    WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?""",
                (now, limit + len(skip)),
            ).fetchall()
            out: list[Due] = []
            for external_userid, failures in rows:
                if external_userid in skip or len(out) >= limit:
                    continue
                followers = self._db.execute(
                    """SELECT employee_id FROM follower
                        WHERE external_userid = ? AND covered = 0 ORDER BY employee_id""",
                    (external_userid,),
                ).fetchall()
                out.append(Due(external_userid, int(failures), tuple(f[0] for f in followers)))
        return out

    def record(
        self,
        answered: Sequence[Answered],
        failures: Sequence[Failure],
        now: float,
        kafka_ms: int | None = None,
    ) -> None:
        """Answers (their followers covered; due again at once if a follower appeared
        meanwhile) and failures (due again later), in one transaction; `kafka_ms`, when given,
        is Kafka's newest acknowledged timestamp as this batch was taken."""
        with self._transaction():
            if kafka_ms is not None and kafka_ms >= 0:
                self._db.execute(
                    """INSERT INTO mark (name, value) VALUES ('recorded_kafka_ms', ?)
                       ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)""",
                    (kafka_ms,),
                )
            for a in answered:
                self._db.executemany(
                    """UPDATE follower SET covered = 1
                        WHERE external_userid = ? AND employee_id = ?""",
                    [(a.external_userid, e) for e in a.followers],
                )
                self._settle(a.external_userid, now, a.outcome, answer=True)
            self._db.executemany(
                """UPDATE contact SET failures = failures + 1, due_at = ?, last_error = ?
                    WHERE external_userid = ? AND due_at IS NOT NULL""",
                [(f.due_at, f.error[:500], f.external_userid) for f in failures],
            )

    def recorded_kafka_ms(self) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM mark WHERE name = 'recorded_kafka_ms'"
            ).fetchone()
        return None if row is None else int(row[0])

    def waiting(self) -> dict[str, Waiting]:
        """Every waiting contact: since when, and its uncovered followers."""
        with self._lock:
            rows = self._db.execute(
                """SELECT f.external_userid, c.wanted_since, f.employee_id FROM follower f
                     JOIN contact c USING (external_userid)
                    WHERE c.due_at IS NOT NULL AND f.covered = 0"""
            ).fetchall()
        since: dict[str, float] = {}
        followers: dict[str, set[str]] = {}
        for external_userid, wanted_since, employee_id in rows:
            since[str(external_userid)] = float(wanted_since or 0.0)
            followers.setdefault(str(external_userid), set()).add(str(employee_id))
        return {x: Waiting(since[x], frozenset(es)) for x, es in followers.items()}

    def backlog(self) -> Backlog:
        with self._lock:
            waiting, oldest = self._db.execute(
                "SELECT count(*), min(wanted_since) FROM contact WHERE due_at IS NOT NULL"
            ).fetchone()
        return Backlog(int(waiting), None if oldest is None else float(oldest))

    def outcomes(self) -> Mapping[str, str | None]:
        """Every contact's last outcome (None while it waits): for tests and operators."""
        with self._lock:
            rows = self._db.execute(
                """SELECT external_userid, CASE WHEN due_at IS NULL THEN outcome END
                     FROM contact"""
            ).fetchall()
        return {str(x): o for x, o in rows}

    # -- internals ------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

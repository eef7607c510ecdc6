"""The reconciliation's own durable state: a SQLite file in RECONCILE_STATE_DIR.

- `follower`: per (employee, contact) the latest add and removal folded, the system's belief
  (followed when added after the last removal);
- `fold_offset`: how far the contact-event topic has been folded into it (per partition);
- `run`: every reconciliation run (start, end, outcome, corrections), so the schedule knows
  the last successful run across restarts and an operator can read the history.

SQLite (stdlib) because this is one process's working state, small per employee, written in
transactions (WAL, synchronous=FULL: a committed fold or walk survives a crash). Losing the
file costs nothing but time: the next run folds the topic from its start again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.ingestor.reconciliation import Fact, Relation

SCHEMA = """
CREATE TABLE IF NOT EXISTS follower (
    employee_id TEXT NOT NULL,
    external_userid TEXT NOT NULL,
    added_at INTEGER,
    removed_at INTEGER,
    PRIMARY KEY (employee_id, external_userid)
);
CREATE TABLE IF NOT EXISTS fold_offset (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    employees INTEGER NOT NULL DEFAULT 0,
    relations INTEGER NOT NULL DEFAULT 0,
    missed_adds INTEGER NOT NULL DEFAULT 0,
    missed_deletes INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
"""


@dataclass(frozen=True)
class RunRecord:
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    missed_adds: int
    missed_deletes: int


# The latest run, of any outcome when the parameter is NULL.
LAST_RUN_SQL = """
SELECT started_at, finished_at, outcome, missed_adds, missed_deletes FROM run
 WHERE ?1 IS NULL OR outcome = ?1
 ORDER BY id DESC LIMIT 1
"""


class ReconcileStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            directory / "reconcile.sqlite3", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- the fold -------------------------------------------------------------------------
    def fold_offsets(self, topic: str) -> dict[int, int]:
        rows = self._db.execute(
            "SELECT partition, next_offset FROM fold_offset WHERE topic = ?", (topic,)
        )
        return {int(p): int(o) for p, o in rows}

    def facts_of(self, relations: Iterable[Relation]) -> dict[Relation, Fact]:
        out: dict[Relation, Fact] = {}
        for employee_id, external_userid in relations:
            row = self._db.execute(
                """SELECT added_at, removed_at FROM follower
                    WHERE employee_id = ? AND external_userid = ?""",
                (employee_id, external_userid),
            ).fetchone()
            if row is not None:
                out[(employee_id, external_userid)] = (row[0], row[1])
        return out

    def save_fold(
        self, topic: str, changed: Mapping[Relation, Fact], offsets: Mapping[int, int]
    ) -> None:
        """Folded relations and the offsets reached, atomically."""
        with self._transaction():
            self._db.executemany(
                """INSERT INTO follower (employee_id, external_userid, added_at, removed_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (employee_id, external_userid)
                   DO UPDATE SET added_at = excluded.added_at, removed_at = excluded.removed_at""",
                [(e, x, a, r) for (e, x), (a, r) in changed.items()],
            )
            self._db.executemany(
                """INSERT INTO fold_offset (topic, partition, next_offset) VALUES (?, ?, ?)
                   ON CONFLICT (topic, partition)
                   DO UPDATE SET next_offset = excluded.next_offset""",
                [(topic, p, o) for p, o in offsets.items()],
            )

    # -- the walk -------------------------------------------------------------------------
    def known_followers(self, employees: Sequence[str]) -> dict[Relation, int]:
        out: dict[Relation, int] = {}
        for employee_id in employees:
            for external_userid, added_at in self._db.execute(
                """SELECT external_userid, added_at FROM follower
                    WHERE employee_id = ? AND added_at IS NOT NULL
                      AND (removed_at IS NULL OR removed_at < added_at)""",
                (employee_id,),
            ):
                out[(employee_id, str(external_userid))] = int(added_at)
        return out

    def employees(self) -> list[str]:
        rows = self._db.execute(
            """SELECT DISTINCT employee_id FROM follower
                WHERE added_at IS NOT NULL AND (removed_at IS NULL OR removed_at < added_at)"""
        )
        return [str(r[0]) for r in rows]

    def replace_followers(self, employees: Sequence[str], walked: Mapping[Relation, int]) -> None:
        """After the corrections are acknowledged: the walk is the new belief."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM follower WHERE employee_id = ?", [(e,) for e in employees]
            )
            self._db.executemany(
                """INSERT INTO follower (employee_id, external_userid, added_at)
                   VALUES (?, ?, ?)""",
                [(e, x, at) for (e, x), at in walked.items()],
            )

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, at: datetime) -> int:
        cursor = self._db.execute("INSERT INTO run (started_at) VALUES (?)", (at.isoformat(),))
        return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        at: datetime,
        *,
        employees: int = 0,
        relations: int = 0,
        missed_adds: int = 0,
        missed_deletes: int = 0,
        error: str | None = None,
    ) -> None:
        self._db.execute(
            """UPDATE run SET finished_at = ?, outcome = ?, employees = ?, relations = ?,
                              missed_adds = ?, missed_deletes = ?, error = ?
                WHERE id = ?""",
            (
                at.isoformat(),
                outcome,
                employees,
                relations,
                missed_adds,
                missed_deletes,
                error,
                run_id,
            ),
        )

    def last_run(self, outcome: str | None = None) -> RunRecord | None:
        row = self._db.execute(LAST_RUN_SQL, (outcome,)).fetchone()
        if row is None:
            return None
        return RunRecord(
            datetime.fromisoformat(row[0]),
            datetime.fromisoformat(row[1]) if row[1] else None,
            str(row[2]),
            int(row[3]),
            int(row[4]),
        )

    # -- internals ------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")

"""Erasing one external contact from an ingestor's local state (`wecom-quota erase`; SECURITY.md,
"Personal data"). The ingestor has no database: what it keeps of a contact is on its own disk,

- the spool (SPOOL_DIR): callbacks and records waiting for Kafka, and the quarantine file of
  lines that were no record;
- the reconciliation's state (RECONCILE_STATE_DIR): the follow relations it knows;
- the lookup ledger (LOOKUP_STATE_DIR): contacts waiting for, or given, a WeCom lookup.

The ingestor must be stopped while they are erased (on each host that runs one): the spool
belongs to one process (its lock tells that one runs, and the erasure refuses), and a running
ingestor would write its own view of the relations back. Deleted SQLite rows are overwritten
(`secure_delete`) and the write-ahead log is emptied, so the bytes leave the files too."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from services.ingestor.delivery.spool import SpoolError, rewrite_without

RECONCILE_FILE = "reconcile.sqlite3"
RECONCILE_DELETES = (("follower", "DELETE FROM follower WHERE external_userid = ?"),)
LEDGER_DELETES = (
    ("follower", "DELETE FROM follower WHERE external_userid = ?"),
    ("contact", "DELETE FROM contact WHERE external_userid = ?"),
)
TABLES_SQL = "SELECT name FROM sqlite_master WHERE type = 'table'"


class IngestorRunningError(RuntimeError):
    """An ingestor owns the spool: stop it first."""


@dataclass
class IngestorErased:
    spool_records: int = 0
    quarantined_lines: int = 0
    reconcile_rows: int = 0
    lookup_rows: int = 0
    missing: tuple[str, ...] = ()  # folders not on this host

    def summary(self) -> dict[str, object]:
        return {
            "spool_records": self.spool_records,
            "quarantined_lines": self.quarantined_lines,
            "reconcile_rows": self.reconcile_rows,
            "lookup_rows": self.lookup_rows,
            "not_on_this_host": list(self.missing),
        }


def mentions(external_userid: str) -> re.Pattern[bytes]:
    """The id as a whole word (not the start of a longer id) anywhere in a record's bytes: a
    contact event's field, a profile, a callback's XML."""
    word = re.escape(external_userid.encode())
    return re.compile(rb"(?<![A-Za-z0-9_-])" + word + rb"(?![A-Za-z0-9_-])")


def erase_ingestor_state(
    external_userid: str, spool_dir: Path, reconcile_dir: Path, lookup_dir: Path
) -> IngestorErased:
    """Erase the contact from the three, spool first (whose lock says whether an ingestor runs:
    then nothing is touched)."""
    out = IngestorErased()
    missing = [p for p in (spool_dir, reconcile_dir, lookup_dir) if not p.is_dir()]
    out.missing = tuple(str(p) for p in missing)
    if spool_dir.is_dir():
        pattern = mentions(external_userid)
        try:
            out.spool_records, out.quarantined_lines = rewrite_without(
                spool_dir, lambda line: pattern.search(line) is not None
            )
        except SpoolError as exc:
            raise IngestorRunningError(
                f"an ingestor is running on SPOOL_DIR={spool_dir} ({exc}): stop it, erase, "
                "then start it again"
            ) from None
    if (reconcile_dir / RECONCILE_FILE).exists():
        out.reconcile_rows = _delete(
            reconcile_dir / RECONCILE_FILE, RECONCILE_DELETES, external_userid
        )
    if lookup_dir.is_dir():
        for ledger in sorted(lookup_dir.glob("*.sqlite3")):
            out.lookup_rows += _delete(ledger, LEDGER_DELETES, external_userid)
    return out


def _delete(path: Path, statements: tuple[tuple[str, str], ...], external_userid: str) -> int:
    """Delete in one transaction, the freed pages overwritten, the log checkpointed empty."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        db.execute("PRAGMA secure_delete=ON")
        tables = {str(r[0]) for r in db.execute(TABLES_SQL)}
        db.execute("BEGIN IMMEDIATE")
        deleted = 0
        try:
            for table, statement in statements:
                if table in tables:
                    deleted += db.execute(statement, (external_userid,)).rowcount
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if deleted:
            db.execute("VACUUM")  # no copy of a deleted row left in a free page
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted
    finally:
        db.close()

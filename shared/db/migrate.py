"""Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order in one transaction
under an advisory lock, each recorded with its checksum in `schema_migration`.

Several services start at once and each may call this: the lock makes them take turns, and a
migration that is already recorded is skipped. A recorded migration whose file has changed
since is refused: shipped migrations are never edited, a new one is added instead."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5745434F4D  # "WECOM": one advisory lock for all migration runs
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations() -> list[Migration]:
    """The packaged migrations, ordered by version; gaps and duplicates are refused."""
    found: list[Migration] = []
    for entry in resources.files("shared.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 0001, 0002, ... without gaps or duplicates; "
                f"found {migration.version:04d}_{migration.name} where {expected:04d} belongs"
            )
    return found


# Applied migrations whose comments (never their statements) were reworded since: the checksum
# they were applied with is still accepted, and the stored one is brought up to date.
REWORDED: dict[int, frozenset[str]] = {
    # 0001: a comment named a document outside the repository; it now names docs/contract.md
    1: frozenset({"fa96bdc3be107371c0abf04ab0a6ecefe28cff9558e4dbc6d9c98304d299af3a"}),
}


async def apply_migrations(dsn: str, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is not yet applied; returns the versions applied now."""
    todo = load_migrations() if migrations is None else migrations
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migration (
                       version int PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migration")
            }
            applied: list[int] = []
            for migration in todo:
                if migration.version in done:
                    stored = done[migration.version]
                    if stored in REWORDED.get(migration.version, frozenset()):
                        await conn.execute(
                            "UPDATE schema_migration SET checksum = $2 WHERE version = $1",
                            migration.version,
                            migration.checksum,
                        )
                        continue
                    if stored != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} changed after "
                            "it was applied; add a new migration instead"
                        )
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
                applied.append(migration.version)
            return applied
    finally:
        await conn.close()


def main() -> None:
    """`python -m shared.db.migrate`: apply migrations with DATABASE_MIGRATION_URL (the owner)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.parse_args()
    dsn = os.environ.get("DATABASE_MIGRATION_URL") or os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("set DATABASE_MIGRATION_URL (or DATABASE_URL) to the schema owner's DSN")
    applied = asyncio.run(apply_migrations(dsn))
    print(f"migrations applied: {applied or 'none (up to date)'}")


if __name__ == "__main__":
    main()

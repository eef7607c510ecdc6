"""An applied migration whose comments were reworded later (REWORDED) is accepted under the
checksum it was applied with, which is then brought up to date; any other change is refused."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db.migrate import REWORDED, MigrationError, apply_migrations, load_migrations
from tests.infra import Infra

pytestmark = pytest.mark.integration


async def test_a_reworded_migration_is_accepted_and_a_changed_one_refused(
    infra: Infra, database: str
) -> None:
    dsn = infra.owner_dsn(database)
    [old] = REWORDED[1]
    current = load_migrations()[0].checksum
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE schema_migration SET checksum = $1 WHERE version = 1", old)
        assert await apply_migrations(dsn) == []
        stored = await conn.fetchval("SELECT checksum FROM schema_migration WHERE version = 1")
        assert stored == current
        await conn.execute("UPDATE schema_migration SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(dsn)
    finally:
        await conn.close()

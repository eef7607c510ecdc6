"""Migrations are numbered without gaps and applied in order."""

from __future__ import annotations

import pytest

from shared.db.migrate import Migration, MigrationError, load_migrations


def test_packaged_migrations_are_ordered_and_contiguous() -> None:
    migrations = load_migrations()
    assert migrations, "no migrations packaged"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.sql.strip() for m in migrations)


def test_checksum_changes_with_content() -> None:
    a = Migration(1, "a", "CREATE TABLE x ();")
    b = Migration(1, "a", "CREATE TABLE y ();")
    assert a.checksum != b.checksum


def test_gaps_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.resources

    class Entry:
        def __init__(self, name: str) -> None:
            self.name = name

        def read_text(self, encoding: str) -> str:
            return "SELECT 1;"

    class Folder:
        def iterdir(self) -> list[Entry]:
            return [Entry("0001_a.sql"), Entry("0003_c.sql")]

    monkeypatch.setattr(importlib.resources, "files", lambda _: Folder())
    with pytest.raises(MigrationError, match="0002 belongs"):
        load_migrations()

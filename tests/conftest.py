"""Session-scoped real Kafka and PostgreSQL (tests/infra.py decides where from), and factory
fixtures that give each test its own topics, consumer groups and database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from shared.db import apply_migrations
from shared.settings import Topics
from tests.infra import ROOT, Infra, provide_infra, unique

SCHEMA_GRANTS = ROOT / "deploy" / "postgres" / "schema_grants.sql"


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture
def topics() -> Topics:
    """Topic names of this test only: tests never see each other's records."""
    suffix = unique("t")
    return Topics(
        contact_events=f"wecom.contact-events.{suffix}",
        bank_records=f"bank.records.{suffix}",
        breaches=f"scoring.breaches.{suffix}",
        raw_callbacks=f"wecom.raw-events.{suffix}",
    )


@pytest.fixture
async def database(infra: Infra) -> AsyncIterator[str]:
    """A fresh, migrated database for this test; yields its name."""
    name = unique("test")
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{infra.owner_role}"')
    finally:
        await admin.close()
    owner = await asyncpg.connect(infra.owner_dsn(name))
    try:
        if (
            await owner.fetchval(
                "SELECT count(*) FROM pg_roles WHERE rolname IN ('wq_app', 'wq_reader')"
            )
            == 2
        ):
            await owner.execute(SCHEMA_GRANTS.read_text())
    finally:
        await owner.close()
    await apply_migrations(infra.owner_dsn(name))
    yield name
    if os.environ.get("KEEP_TEST_DATABASES") != "1":
        admin = await asyncpg.connect(infra.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

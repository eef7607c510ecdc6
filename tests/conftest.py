"""Session-scoped real Kafka and PostgreSQL (tests/infra.py decides where from), and factory
fixtures that give each test its own topics, consumer groups and database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.settings import Topics
from tests.infra import Infra, create_database, drop_database, provide_infra, unique
from tests.kafka_helpers import delete_topics_named


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture
async def topics(infra: Infra) -> AsyncIterator[Topics]:
    """Topic names of this test only: tests never see each other's records. Deleted afterwards
    (with their dead-letter topics), so the test broker does not pile up thousands of
    partitions over many runs and slow down."""
    suffix = unique("t")
    names = Topics(
        contact_events=f"wecom.contact-events.{suffix}",
        bank_records=f"bank.records.{suffix}",
        breaches=f"scoring.breaches.{suffix}",
        raw_callbacks=f"wecom.raw-events.{suffix}",
        reconcile_lease=f"wecom.reconcile-lease.{suffix}",
    )
    yield names
    await delete_topics_named(infra, suffix)


@pytest.fixture
async def database(infra: Infra) -> AsyncIterator[str]:
    """A fresh, migrated database for this test; yields its name."""
    name = await create_database(infra)
    yield name
    if os.environ.get("KEEP_TEST_DATABASES") != "1":
        await drop_database(infra, name)

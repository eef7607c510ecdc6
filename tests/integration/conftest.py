"""Fixtures of the integration tier: the scorer app on the test's topics and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.scorer.app import create_app
from services.scorer.settings import ScorerSettings
from shared.settings import Topics
from tests.apps import running
from tests.infra import Infra, unique


def scorer_settings(
    infra: Infra, topics: Topics, database: str, **overrides: Any
) -> ScorerSettings:
    """A scorer of its own (consumer group) on the test's topics and database; periods are
    closed by the tests, not on a schedule."""
    return ScorerSettings(
        topics=topics,
        scorer_group_id=unique("scorer"),
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=SecretStr(infra.app_dsn(database)),
        database_migration_url=SecretStr(infra.owner_dsn(database)),
        **{"close_period_kinds": [], **overrides},
    )


@pytest.fixture
async def scorer(infra: Infra, topics: Topics, database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(scorer_settings(infra, topics, database))) as client:
        yield client

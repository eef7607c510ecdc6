"""The faults tier stops and restarts Kafka and PostgreSQL, so it runs on a stack of its own:
the local stack of deploy/local/ in `$WQ_STACK_DIR/faults`, on the ports three above
`$WQ_STACK_BASE_PORT`. The other tiers' stack is never touched, and the fault tests restart
only what they started."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Figures, Workload, clean_figures, workload
from tests.infra import Infra, LocalStack, create_database, drop_database, provide_infra

PORT_OFFSET = 3  # kafka base+3, controller base+4, postgres base+53


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    home = LocalStack.from_env()
    own = LocalStack(home.dir / "faults", home.base_port + PORT_OFFSET)
    with provide_infra(own) as provided:
        assert provided.local is not None
        yield provided


@pytest.fixture(scope="session")
def load() -> Workload:
    return workload()


@pytest.fixture(scope="session")
async def reference(
    infra: Infra, load: Workload, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Figures]:
    """The figures of a clean run of the workload, computed once for the tier."""
    name = await create_database(infra)
    try:
        yield await clean_figures(infra, name, load, Path(tmp_path_factory.mktemp("reference")))
    finally:
        if os.environ.get("KEEP_TEST_DATABASES") != "1":
            await drop_database(infra, name)

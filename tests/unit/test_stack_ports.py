"""The test and benchmark stacks' ports stay out of Linux's ephemeral range (32768-60999).

A port in that range can be held at any moment by an outgoing connection's local end; PostgreSQL
then fails to bind it, and the fault tier (which starts its own cluster late in `make test`) fails
with it. The bases are the defaults of the test suite, the benchmark and the evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import LocalStack

EPHEMERAL = range(32768, 61000)
# tests/infra.py, bench/common.py, tools/evaluate; the fault tier's own stack is 3 above the base,
# the Kafka cluster tests' stacks 5 and 7 above it.
BASES = [19092, 29092, 29192]
OFFSETS = [0, 3, 5, 7]


@pytest.mark.parametrize("base", BASES)
def test_every_port_of_every_stack_is_below_the_ephemeral_range(base: int) -> None:
    for offset in OFFSETS:
        ports = LocalStack(Path("/tmp/x"), base + offset).ports()
        assert not any(port in EPHEMERAL for port in ports.values()), (base, offset, ports)


def test_the_stacks_of_one_base_share_no_port() -> None:
    seen: dict[int, tuple[int, str]] = {}
    for offset in OFFSETS:
        for name, port in LocalStack(Path("/tmp/x"), 19092 + offset).ports().items():
            assert port not in seen, (offset, name, seen.get(port))
            seen[port] = (offset, name)

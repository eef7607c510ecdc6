"""Guard over the source itself (no I/O): the services, the shared package and the tools read
the time of day only through an injected clock (shared.clock), so that every test can run them
as of any day. `time.monotonic()` and `time.perf_counter()` measure durations and stay allowed;
`shared/clock.py` is the one module that reads the machine's clock."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra import ROOT

CLOCK_MODULE = ROOT / "shared" / "clock.py"
SOURCES = sorted(
    p
    for d in ("services", "shared", "tools")
    for p in (ROOT / d).rglob("*.py")
    if p != CLOCK_MODULE
)
# (object, attribute) pairs that read the wall clock, however the module was imported
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}
WALL_CLOCK_FUNCTIONS = {"utc_now"}  # shared.schemas.base.utc_now: a wall clock in disguise
# PostgreSQL's clock in SQL text of the services: a time compared with the injected clock must
# be written from it. Two uses of the database's clock stay: column DEFAULT now() of audit-only
# columns in the migrations, and clock_timestamp() for the refresh queue's settle time and
# lease, which are written and compared by PostgreSQL's clock alone (with
# transaction_timestamp(), its stable form, as the bound an index scan of the queue can use).
SQL_NOW = re.compile(r"\b(now|statement_timestamp)\(\)|\bcurrent_(date|timestamp)\b", re.IGNORECASE)


def wall_clock_reads(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, func.attr) in WALL_CLOCK or func.attr in WALL_CLOCK_FUNCTIONS:
                yield node.lineno
        elif isinstance(func, ast.Name) and func.id in WALL_CLOCK_FUNCTIONS:
            yield node.lineno


def sql_clock_reads(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and SQL_NOW.search(text):
            yield getattr(node, "lineno", 0)


def test_the_guard_sees_every_form() -> None:
    assert len(SOURCES) > 80
    for source in (
        "datetime.now(UTC)",
        "datetime.datetime.now()",
        "time.time()",
        "date.today()",
        "utc_now()",
        "base.utc_now()",
    ):
        assert list(wall_clock_reads(ast.parse(source))), source
    for allowed in ("time.monotonic()", "time.perf_counter()", "clock()", "self._clock()"):
        assert not list(wall_clock_reads(ast.parse(allowed))), allowed
    assert list(sql_clock_reads(ast.parse('"UPDATE t SET at = now() WHERE x"')))
    assert not list(sql_clock_reads(ast.parse('"the time now (injected)"')))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_the_wall_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    found = [f"{path.relative_to(ROOT)}:{line}" for line in wall_clock_reads(tree)]
    assert not found, f"read the injected clock (shared.clock) instead: {found}"


SERVICE_SOURCES = [p for p in SOURCES if p.is_relative_to(ROOT / "services")]


@pytest.mark.parametrize("path", SERVICE_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_service_query_reads_the_database_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    found = [f"{path.relative_to(ROOT)}:{line}" for line in sql_clock_reads(tree)]
    assert not found, f"pass the injected clock's time as a parameter instead: {found}"

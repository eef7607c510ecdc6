"""The anomaly features kept by deltas: each employee's adds counted by local ten minutes and
channel in `add_bucket` (migration 0031, domain/features.py; campaigns are left out there).

`tally.settle`, which judges relations again in the transaction that changed them, moves each
relation's signs from the bucket its old standing counted in to the one its new standing counts
in (`move`) and adds the summed changes in one statement (`add`), under the employees'
advisory locks. The refresh and the close read a period's buckets (`features`) instead of its
relations; the verifier counts them again from the relations."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.scorer.domain.features import FIELDS, Bucket, Features, span_of, unpacked
from services.scorer.domain.tally import Standing
from shared.calendar import Period
from shared.db import Connection, columns, recordset

log = logging.getLogger(__name__)
Key = tuple[str, datetime, str]
"""(employee_id, span_start, channel)"""

_COLUMNS = (
    ("employee_id", "text"),
    ("span_start", "timestamptz"),
    ("channel", "text"),
    *((f, "int") for f in FIELDS),
)
ADD_SQL = f"""
INSERT INTO add_bucket AS b ({", ".join(c for c, _ in _COLUMNS)})
SELECT {", ".join(f"x.{c}" for c, _ in _COLUMNS)}
  FROM json_to_recordset($1::text::json) AS x{columns(_COLUMNS)}
ON CONFLICT (employee_id, span_start, channel) DO UPDATE SET
    {", ".join(f"{f} = b.{f} + EXCLUDED.{f}" for f in FIELDS)}
"""  # noqa: S608 - constant column names

_FEATURES = f"""
SELECT employee_id, span_start, channel, ARRAY[{", ".join(FIELDS)}] AS counts FROM add_bucket
 WHERE {{employees}} span_start >= $2 AND span_start < $3
   AND ({" OR ".join(f"{f} <> 0" for f in FIELDS)})
"""  # noqa: S608 - constant column names
# The counts as one array (decoded in C, a list in the order of FIELDS), and a bucket whose
# adds all moved to another left out in the statement: a close reads a bank's month of them.
FEATURES_SQL = _FEATURES.format(employees="employee_id = ANY($1::text[]) AND")
"""A period's buckets of these employees, by the primary key."""
BANK_FEATURES_SQL = _FEATURES.format(employees="$1::text[] IS NULL AND")
"""A period's buckets of every employee (the verifier)."""
EVERYONES_SQL = BANK_FEATURES_SQL + ' ORDER BY employee_id COLLATE "C"'
"""A period's buckets of every employee in the order of their ids' code points (Python's
order of strings, whatever the database's collation), for `Everyones`."""
CODE_POINT_ENCODINGS = frozenset({"UTF8", "SQL_ASCII", "LATIN1"})
"""Server encodings whose byte order (`COLLATE "C"`) is the code points' order."""
EVERYONES_FETCH = 10_000
"""Buckets `Everyones` fetches at a time (a chunk of a close holds about 8,000)."""
EVERYONES_WORK_MEM = "256MB"
"""Memory for `Everyones`' one sort of a period's buckets by employee: a national bank's month
(816,000 buckets, a 152-MB sort) sorts in memory instead of spilling to disk."""


_bucket = tuple.__new__
"""A Bucket from its fields as a tuple, without its constructor's keyword handling (a close
decodes a bank's month of them)."""

Moves = dict[Key, Counter[int]]
"""Per bucket, how many relations with each set of signs (`features.bits`) came in (or went
out, negative) while a batch judged them: a batch's relations share a few sets of signs, so
they are summed as sets and expanded into counts once per bucket (`add`)."""


def move(
    into: Moves,
    employee_id: str,
    row: Any,
    looked_up: Mapping[str, Any],
    after: Standing | None,
    tz: ZoneInfo,
) -> None:
    """Add to `into` the change of one relation's bucket counts: out of the bucket its stored
    standing `row` (a `relation_standing` record) counted in (none when it counted nowhere,
    or was judged before migration 0031), into the one its new standing (`after`, with its
    `looked_up` signs) counts in."""
    old: tuple[Key, int] | None = None
    if row is not None and row["feature_bits"] is not None and row["first_added_at"] is not None:
        at = span_of(row["first_added_at"], tz)
        old = ((employee_id, at, row["channel"]), row["feature_bits"])
    new: tuple[Key, int] | None = None
    if after is not None and looked_up["feature_bits"] is not None:
        at = span_of(after.first_added_at, tz)
        key = (employee_id, at, looked_up["channel"])
        new = (key, looked_up["feature_bits"])
    if old == new:
        return
    if old is not None:
        into.setdefault(old[0], Counter())[old[1]] -= 1
    if new is not None:
        into.setdefault(new[0], Counter())[new[1]] += 1


def counts_of(moved: Counter[int]) -> list[int]:
    """The counts, in the order of FIELDS, of relations with these sets of signs."""
    counts = [0] * len(FIELDS)
    for signs, n in moved.items():
        if n:
            for i, on in enumerate(unpacked(signs)):
                if on:
                    counts[i] += n
    return counts


async def add(conn: Connection, changes: Moves) -> None:
    """Add the moves to `add_bucket` (buckets whose counts do not change left out)."""
    rows = []
    for key, moved in sorted(changes.items()):
        counts = counts_of(moved)
        if any(counts):
            rows.append(
                {
                    "employee_id": key[0],
                    "span_start": key[1],
                    "channel": key[2],
                    **dict(zip(FIELDS, counts, strict=True)),
                }
            )
    if rows:
        await conn.execute(ADD_SQL, recordset(rows))


async def features(
    conn: Connection, period: Period, ids: Sequence[str] | None, tz: ZoneInfo
) -> dict[str, Features]:
    """The features of `ids` (None: of every employee) in `period` (an employee without adds
    in it has none; a bucket whose adds all moved to another is left out)."""
    start, end = period.start_at(tz), period.end_at(tz)
    if ids is None:
        rows = await conn.fetch(BANK_FEATURES_SQL, None, start, end)
    else:
        rows = await conn.fetch(FEATURES_SQL, list(ids), start, end)
    found: dict[str, dict[Bucket, list[int]]] = {}
    _decode(rows, found)
    return {e: Features(b) for e, b in found.items()}


def _decode(rows: Sequence[Any], into: dict[str, dict[Bucket, list[int]]]) -> None:
    """Bucket rows (`_FEATURES`' columns), by employee."""
    for employee_id, start, channel, counts in rows:  # one row a bucket (the primary key)
        of = into.get(employee_id)
        if of is None:
            of = into[employee_id] = {}
        of[_bucket(Bucket, (start, channel, None))] = counts


class Everyones:
    """A period's buckets of every employee, read in one statement sorted by employee and
    handed out a chunk of employees at a time (the close). A chunk reading its employees'
    buckets by key reads a page per bucket: adds arrive in time order, so a page holds one
    ten minutes of the whole bank and each employee's buckets lie on as many pages (a chunk of
    1,000 employees read 7,940 pages for 8,160 buckets, every page of the month once per
    chunk). Sorted once, the month is read once.

    A cursor in a read-only transaction of its own connection, ended as soon as it is read
    through (`close` ends it otherwise). Chunks may take in any order; the buckets read past a
    chunk's employees wait for theirs (a close takes in the stream's order, so at most a fetch
    waits), and those of employees nobody will ask for are not kept. A failed fetch fails every
    take after it with its own error."""

    def __init__(self, transaction: Any, cursor: Any, wanted: set[str]) -> None:
        self._transaction: Any = transaction
        self._cursor = cursor
        self._wanted = wanted
        self._held: dict[str, dict[Bucket, list[int]]] = {}
        self._last: str | None = None
        """The last employee read: every one before it in code-point order is read whole."""
        self._exhausted = False
        self._failed: BaseException | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, conn: Connection, period: Period, tz: ZoneInfo, wanted: Sequence[str]
    ) -> Everyones | None:
        """The stream of the buckets of the `wanted` employees in `period`, on `conn`. None when
        the database's encoding does not sort ids as Python does (`CODE_POINT_ENCODINGS`):
        the caller reads each chunk's by key then."""
        if await conn.fetchval("SHOW server_encoding") not in CODE_POINT_ENCODINGS:
            return None
        transaction = conn.transaction(readonly=True)
        await transaction.start()
        try:
            await conn.execute(f"SET LOCAL work_mem = '{EVERYONES_WORK_MEM}'")
            cursor = await conn.cursor(EVERYONES_SQL, None, period.start_at(tz), period.end_at(tz))
        except BaseException:
            await _rolled_back(transaction)
            raise
        return cls(transaction, cursor, set(wanted))

    async def take(self, ids: Sequence[str]) -> dict[str, Features]:
        """The features of `ids` (an employee without adds in the period has none), read as
        far as the last of them; each employee's are handed out once."""
        if not ids:
            return {}
        top = max(ids)
        async with self._lock:
            # past the last of them: a fetch may end halfway through an employee's buckets
            while not self._exhausted and (self._last is None or self._last <= top):
                await self._read()
        return {e: Features(self._held.pop(e)) for e in ids if e in self._held}

    async def warm(self) -> None:
        """Start the sort (the first fetch waits for all of it) before a chunk asks."""
        async with self._lock:
            if self._last is None and not self._exhausted:
                await self._read()

    async def close(self) -> None:
        """End the transaction if a failure or a cancel left it open."""
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            await _rolled_back(transaction)

    async def _read(self) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            rows = await self._cursor.fetch(EVERYONES_FETCH)
        except Exception as failure:  # the transaction is aborted: later fetches would say so
            self._failed = failure
            raise
        if rows and self._last is not None and rows[0][0] < self._last:
            raise RuntimeError("the features' pass read employees out of order")
        fresh: dict[str, dict[Bucket, list[int]]] = {}
        _decode(rows, fresh)
        for employee_id, of in fresh.items():
            if employee_id in self._wanted:
                self._held.setdefault(employee_id, {}).update(of)  # one may span two fetches
        if rows:
            self._last = rows[-1][0]
        if len(rows) < EVERYONES_FETCH:
            self._exhausted = True
            await self.close()


async def _rolled_back(transaction: Any) -> None:
    """Roll back a read-only transaction; a connection lost meanwhile is logged, not raised
    (nothing was written, and the pool discards a broken connection)."""
    try:
        await transaction.rollback()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as e:
        log.warning("ending the features' read failed", extra={"error": str(e)})

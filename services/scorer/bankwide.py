"""Bank-wide figures of a period — the peers' baseline, the dense blocks of its contact graph —
shared by every scorer process through PostgreSQL (`period_aggregate`).

Computing one takes seconds at a national bank's size, so a computation is reused for a while
(domain/reuse.py: ten times as long as it took, and at least its kind's floor). Kept in each
process's memory, two scorer instances judged their employees against different versions and
their anomaly scores differed. Kept in the database, every process (and the read API's contact
view) uses the version stored last. Each version records the inputs' version it was computed
from; once the inputs stop changing, the scores are brought to rest (at_rest.py): a version
from older inputs is no longer reused, and every open row is recomputed against a fresh one.
A figure that is quick to compute and has no floor is not stored: it is computed afresh from
each snapshot, exact.

A computation is held in the process that made it until the refresh's next write transaction
stores it (the computations run in read-only snapshots)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from time import monotonic
from typing import Any, Generic, TypeVar

import orjson

from services.scorer.at_rest import VERSION_EXPR
from services.scorer.domain.anomaly import PeerBaseline
from services.scorer.domain.dense_block import DenseBlock
from services.scorer.domain.reuse import WORTH_REUSING_SECONDS, Computed
from services.scorer.domain.surprise import Spread
from shared.db import Connection

T = TypeVar("T")


@dataclass(frozen=True)
class Figure(Generic[T]):
    """One kind of bank-wide figure and how it is kept as JSON."""

    kind: str
    floor: float
    encode: Callable[[T], Any]
    decode: Callable[[Any], T]

    def kept(self, seconds: float) -> bool:
        """Worth storing: reused at all (see domain/reuse.py)."""
        return self.floor > 0 or seconds >= WORTH_REUSING_SECONDS


def encode_baseline(b: PeerBaseline) -> dict[str, Any]:
    return {
        "hollow_share": [b.hollow_share.centre, b.hollow_share.sd, b.hollow_share.peers],
        "hollow_per_day": b.hollow_per_day,
        "tail_lift": b.tail_lift,
        "day_hollow_median": {d.isoformat(): v for d, v in b.day_hollow_median.items()},
    }


def decode_baseline(j: dict[str, Any]) -> PeerBaseline:
    centre, sd, peers = j["hollow_share"]
    return PeerBaseline(
        hollow_share=Spread(centre, sd, peers),
        hollow_per_day=j["hollow_per_day"],
        tail_lift=j["tail_lift"],
        day_hollow_median={date.fromisoformat(d): v for d, v in j["day_hollow_median"].items()},
    )


def encode_blocks(by_employee: dict[str, DenseBlock]) -> list[dict[str, Any]]:
    unique = {id(b): b for b in by_employee.values()}.values()
    return [
        {
            "employees": list(b.employees),
            "contacts": list(b.contacts),
            "density": b.density,
            "star_bound": b.star_bound,
            "adds": b.adds,
            "shared": list(b.shared),
        }
        for b in sorted(unique, key=lambda b: b.employees)
    ]


def decode_blocks(j: list[dict[str, Any]]) -> dict[str, DenseBlock]:
    out: dict[str, DenseBlock] = {}
    for item in j:
        block = DenseBlock(
            tuple(item["employees"]),
            tuple(item["contacts"]),
            item["density"],
            item["star_bound"],
            item["adds"],
            tuple(item.get("shared", ())),  # kept before blocks named their shared contacts
        )
        out.update(dict.fromkeys(block.employees, block))
    return out


READ_SQL = """
SELECT i.at_rest,
       EXISTS (SELECT 1 FROM period_close c WHERE c.period = $1) AS closed,
       $VERSION AS version,
       a.value, a.stored_at, a.seconds, a.inputs_version,
       extract(epoch FROM clock_timestamp() - a.stored_at)::float8 AS age
  FROM scoring_inputs i
  LEFT JOIN period_aggregate a ON a.period = $1 AND a.kind = $2
""".replace("$VERSION", VERSION_EXPR.replace("$GROUP", "$3"))
STORE_SQL = """
INSERT INTO period_aggregate (period, kind, value, seconds, inputs_version, stored_at)
VALUES ($1, $2, $3::jsonb, $4, $5, clock_timestamp())
ON CONFLICT (period, kind) DO UPDATE
   SET value = EXCLUDED.value, seconds = EXCLUDED.seconds,
       inputs_version = EXCLUDED.inputs_version, stored_at = EXCLUDED.stored_at
 WHERE period_aggregate.inputs_version <= EXCLUDED.inputs_version
RETURNING stored_at
"""
# Ages are PostgreSQL's clock against PostgreSQL's clock: every process agrees on them. A
# computation from older inputs than the one stored (it took long, or ran before a rest) does
# not replace it.


@dataclass
class _Held:
    value: Any
    seconds: float
    floor: float
    at: float  # monotonic
    inputs_version: int

    def usable(self, now: float) -> bool:
        return _usable(now - self.at, self.seconds, self.floor)


SAME_INPUTS_SECONDS = 300.0
"""A figure computed from the inputs as they still stand (no record, verdict or rule change
since) is reused this long, however quickly it was computed: recomputing it would give the
same figure but for time's own effect (retention windows ending, working days elapsing), which
the sweep also brings to every open row after five minutes. Without it, the rows a rest marks
(hundreds of thousands at a bank's month end) were recomputed at the pace of the bank-wide
figures, each computed again every few rounds from unchanged inputs."""

FORGET_AFTER = 600.0
"""A decoded version not read for this long (seconds) is dropped: a period no longer scored."""


class BankWide:
    """The figures this process reads and computes: decoded ones by the version stored, and
    its own computations until stored."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], _Held] = {}
        # (period, kind) → (the stored version's time, its value, when last read: monotonic)
        self._decoded: dict[tuple[str, str], tuple[datetime, Any, float]] = {}

    async def reuse(
        self, conn: Connection, figure: Figure[T], period_key: str, group: str
    ) -> T | None:
        """The figure if a usable version is held or stored, else None (compute it). In an
        open period, a computation from inputs other than those since the scores' last rest
        (at_rest.py; `group`'s offsets are part of the inputs' version) is not usable."""
        key, now = (period_key, figure.kind), monotonic()
        row = await conn.fetchrow(READ_SQL, period_key, figure.kind, group)
        if row is None:  # no scoring_inputs row: a database without migration 0022
            return None
        held = self._pending.get(key)
        if (
            held is not None
            and _current(held.inputs_version, row)
            and (held.usable(now) or _unchanged(held.inputs_version, now - held.at, row))
        ):
            value: T = held.value
            return value
        if row["value"] is None or not _current(row["inputs_version"], row):
            return None
        if not _usable(row["age"], row["seconds"], figure.floor) and not _unchanged(
            row["inputs_version"], row["age"], row
        ):
            return None
        self._decoded = {k: v for k, v in self._decoded.items() if now - v[2] < FORGET_AFTER}
        decoded = self._decoded.get(key)
        if decoded is not None and decoded[0] == row["stored_at"]:
            found: T = decoded[1]
        else:
            raw = row["value"]
            found = figure.decode(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)
        self._decoded[key] = (row["stored_at"], found, now)
        return found

    def offer(
        self, figure: Figure[T], period_key: str, value: T, seconds: float, inputs_version: int
    ) -> None:
        """A computation of this process from inputs at `inputs_version` (at_rest.py), held
        until `store` (if worth keeping at all)."""
        now = monotonic()
        self._pending = {k: h for k, h in self._pending.items() if h.usable(now)}
        if figure.kept(seconds):
            self._pending[(period_key, figure.kind)] = _Held(
                value, seconds, figure.floor, now, inputs_version
            )

    async def store(
        self, conn: Connection, period_key: str, figures: tuple[Figure[Any], ...]
    ) -> None:
        """Store this process's computations of the period (in a writable transaction)."""
        for figure in figures:
            key = (period_key, figure.kind)
            held = self._pending.pop(key, None)
            if held is not None:
                stored_at = await conn.fetchval(
                    STORE_SQL,
                    period_key,
                    figure.kind,
                    orjson.dumps(figure.encode(held.value)).decode(),
                    held.seconds,
                    held.inputs_version,
                )
                if stored_at is not None:  # None: a computation from newer inputs is stored
                    self._decoded[key] = (stored_at, held.value, monotonic())

    def held(self) -> set[tuple[str, str]]:
        """(period, kind) of the computations held, not stored yet."""
        return set(self._pending)


def _current(inputs_version: int, row: Any) -> bool:
    """Computed from inputs no newer than now's and, in an open period, not older than the
    scores' last rest (a closed period is not brought to rest: its stored version is used
    while its age allows, as its close computed its own figures afresh)."""
    if inputs_version > row["version"]:  # another consumer group's inputs (a replay)
        return False
    return bool(row["closed"]) or inputs_version >= row["at_rest"]


def _unchanged(inputs_version: int, age: float, row: Any) -> bool:
    """Computed from the inputs as they stand now, recently enough (SAME_INPUTS_SECONDS)."""
    return inputs_version == row["version"] and age < SAME_INPUTS_SECONDS


def _usable(age: float, seconds: float, floor: float) -> bool:
    return Computed(0.0, seconds, None).usable(age, floor)

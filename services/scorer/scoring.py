"""Computing an employee's period scores from the scoring state — the one place that does
it, for the materialised table that the API, the SQL views and the alerts all read."""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from time import monotonic
from typing import Any, Literal, TypeVar

import asyncpg
from prometheus_client import Counter

from services.scorer import at_rest, buckets, inputs, tally
from services.scorer.bankwide import (
    BankWide,
    Figure,
    decode_baseline,
    decode_blocks,
    encode_baseline,
    encode_blocks,
)
from services.scorer.domain.anomaly import (
    NO_FEATURES,
    AnomalyResult,
    PeerBaseline,
    PeriodTail,
    assess,
    from_features,
)
from services.scorer.domain.cadence import ChatTrace
from services.scorer.domain.dense_block import DenseBlock, dense_blocks
from services.scorer.domain.rules import ScoringRules
from services.scorer.domain.scripted import MIN_SCRIPTED
from services.scorer.domain.tally import COUNTERS
from services.scorer.domain.validity import (
    ContactFacts,
    ContactVerdict,
    apply_state_cap,
    classify,
)
from shared import governance
from shared.calendar import BusinessCalendar, Period, PeriodKind, local_date
from shared.clock import Clock
from shared.db import Connection, columns, filter_mask, filtered_statements, recordset

NO_OVERLAP = inputs.Overlap({}, {})
SCREENED = Counter(
    "scorer_anomaly_screened_total",
    "Employee-period anomaly scores computed, by how: quiet (no signal fired on the kept "
    "features: score 0), features (scored from the kept features alone) or assessed (relations "
    "read and judged: evidence that names contacts)",
    ["outcome"],
)
T = TypeVar("T")


BLOCK_PERIOD_KINDS = frozenset({PeriodKind.MONTH, PeriodKind.QUARTER})


WEEK_TAIL_DAYS = 5
"""The period's last working week, over which a pile-up spread thin is judged."""
READ_AHEAD = 2
"""Chunks read at once on connections of their own while one is scored
(`compute_chunks_alongside`)."""
BASELINE_INTERVAL_SECONDS = 10.0
"""The peers' baseline is recomputed at most this often while a period's inputs stream in
(bankwide.py; a rest and a close compute it afresh): a bank-wide median moves slowly, and
recomputing it every refresh round, about every second under load, was the refresh's second
costliest statement (70 ms of PostgreSQL's time a round at 2,000 employees)."""
YIELD_EVERY = 16
"""Employees scored between two yields to the event loop."""
COMPUTE_CHUNK = 1_000
"""Employees whose relations are held in memory at once while scores are computed..."""
COMPUTE_RELATIONS = 50_000
"""...and at most about this many relations (an employee's adds in the period bound theirs):
1,000 employees of a bank under a burst of 450 adds each held 450,000 at once (604 MB)."""


def chunked(
    ids: Sequence[str], weight: dict[str, int], max_ids: int, max_weight: int
) -> list[list[str]]:
    """`ids` in order, cut into chunks of at most `max_ids` ids and `max_weight` weight (an id
    heavier than that alone makes a chunk of its own)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    load = 0
    for i in ids:
        w = weight.get(i, 0)
        if current and (len(current) >= max_ids or load + w > max_weight):
            chunks.append(current)
            current, load = [], 0
        current.append(i)
        load += w
    if current:
        chunks.append(current)
    return chunks


class Scorer:
    def __init__(
        self,
        rules: ScoringRules,
        calendar: BusinessCalendar,
        alert_threshold: float = 40.0,
        block_interval_seconds: float = 30.0,
        *,
        clock: Clock,
        inputs_group: str,
    ) -> None:
        self.rules = rules
        # The consumer group whose stored offsets are part of the inputs' version (at_rest.py).
        self.inputs_group = inputs_group
        self.calendar = calendar
        # What "now" is for pending windows, pace and closing: injected (shared.clock).
        self.clock = clock
        self.alert_threshold = alert_threshold
        self.block_interval_seconds = block_interval_seconds
        self.bankwide = BankWide()
        self._baseline = Figure(
            "baseline", BASELINE_INTERVAL_SECONDS, encode_baseline, decode_baseline
        )
        self._blocks = Figure("blocks", block_interval_seconds, encode_blocks, decode_blocks)
        self.figures: tuple[Figure[Any], ...] = (self._baseline, self._blocks)
        self._block_pass = asyncio.Lock()

    async def blocks(
        self, conn: Connection, period: Period, fresh: bool = False
    ) -> dict[str, DenseBlock]:
        """The period's dense employee–contact blocks by employee: the FRAUDAR pass over a
        snapshot of the contact graph, afresh on close and otherwise reused (by every scorer
        process: bankwide.py) for `block_interval_seconds`, or longer if the pass took long
        (domain/reuse.py: the streaming shared-contact counts cover the time between)."""
        if period.kind not in BLOCK_PERIOD_KINDS:
            return {}
        # One pass at a time: a month's and a quarter's graph peeled side by side (the refresh
        # works on two periods at once) held ~800 MB in the 1M-record drain; the second waiter
        # then usually finds its result cached.
        figure = self._blocks
        async with self._block_pass:
            if not fresh:
                cached = await self.bankwide.reuse(conn, figure, period.key, self.inputs_group)
                if cached is not None:  # {} is a result: no dense block
                    return cached
            started = monotonic()
            version = await at_rest.inputs_version(conn, self.inputs_group)
            graph = await inputs.contact_graph(conn, period, self.calendar.tz)
            found = await asyncio.to_thread(dense_blocks, graph)  # CPU-bound: off the loop
            del graph
            by_employee = {e: b for b in found for e in b.employees}
            if not fresh:
                seconds = monotonic() - started
                self.bankwide.offer(figure, period.key, by_employee, seconds, version)
            return by_employee

    async def anomaly(
        self,
        conn: Connection,
        period: Period,
        employee_id: str,
        verdicts: Sequence[ContactVerdict],
        baseline: PeerBaseline,
        now: datetime,
        overlap: inputs.Overlap | None = None,
        blocks: dict[str, DenseBlock] | None = None,
        tail: PeriodTail | Literal["compute"] | None = "compute",
        chats: Mapping[str, ChatTrace] | None = None,
        segment: str | Literal["read"] | None = "read",
        week: PeriodTail | None = None,
    ) -> AnomalyResult:
        """`tail` is the period's (`Scorer.tail`), computed here unless given (`compute` gives
        it once for all its employees); `chats` (the contacts' one-to-one messages) and the
        stated `segment` are read here unless given."""
        tz = self.calendar.tz
        if overlap is None:
            found = await inputs.cross_team_overlap(conn, period, [employee_id], tz)
            overlap = found.get(employee_id, NO_OVERLAP)
        if blocks is None:
            blocks = await self.blocks(conn, period)
        if chats is None:
            chats = (await inputs.chat_traces(conn, period, [employee_id], tz)).get(employee_id, {})
        if segment == "read":
            segment = (await inputs.stated_segments(conn, [employee_id])).get(employee_id)
        if tail == "compute":
            tail, week = self.tail(period, now), self.tail(period, now, WEEK_TAIL_DAYS)
        return self.assess(
            period,
            verdicts,
            baseline,
            now,
            overlap,
            blocks.get(employee_id),
            tail,
            chats,
            segment,
            week,
        )

    def assess(
        self,
        period: Period,
        verdicts: Sequence[ContactVerdict],
        baseline: PeerBaseline,
        now: datetime,
        overlap: inputs.Overlap,
        block: DenseBlock | None,
        tail: PeriodTail | None,
        chats: Mapping[str, ChatTrace],
        segment: str | None,
        week: PeriodTail | None,
        employee_id: str | None = None,
    ) -> AnomalyResult:
        """An employee's anomaly in `period` from inputs already read (pure)."""
        tz = self.calendar.tz
        return assess(
            verdicts,
            overlap.shared,
            baseline,
            period.end_at(tz),
            (period.end - period.start).days,
            now,
            tz,
            overlap.partners,
            tail,
            block,
            chats,
            segment,
            self.rules.retention_window,
            week,
            employee_id,
        )

    async def baseline(
        self, conn: Connection, period: Period, now: datetime, fresh: bool = False
    ) -> PeerBaseline:
        """The peers' baseline the anomaly signals of `period` are judged against: a scan of
        the whole bank's relations in the period (seconds for a national bank's month),
        afresh on close and otherwise reused for BASELINE_INTERVAL_SECONDS, or longer while
        that pays (domain/reuse.py), and up to five minutes while the inputs do not change, by
        every scorer process (bankwide.py); once the inputs rest, every open row is recomputed
        against a fresh one (at_rest.py)."""
        figure = self._baseline
        if not fresh:
            kept = await self.bankwide.reuse(conn, figure, period.key, self.inputs_group)
            if kept is not None:
                return kept
        started = monotonic()
        version = await at_rest.inputs_version(conn, self.inputs_group)
        found = await inputs.peer_baseline(
            conn, period, self.calendar.tz, now, self.tail(period, now)
        )
        if not fresh:
            self.bankwide.offer(figure, period.key, found, monotonic() - started, version)
        return found

    def tail(
        self, period: Period, now: datetime | None = None, length: int = 3
    ) -> PeriodTail | None:
        """The last `length` working days (make-up days count, holidays don't), from the end of
        the working day before them: the weekend or holiday just before is in the span too, or
        a pile-up could start on it unseen; while the period runs, rates are per working day
        worked so far."""
        days = self.calendar.working_days(period)
        if len(days) < length + 2:
            return None
        elapsed = None if now is None else self.calendar.working_days_elapsed(period, now)
        early = len(days) - length if elapsed is None else min(len(days) - length, int(elapsed))
        starts = days[-length - 1] + timedelta(days=1)
        return PeriodTail(
            datetime.combine(starts, time(), self.calendar.tz).astimezone(UTC),
            length / len(days),
            days=length,
            early_days=early,
            elapsed_days=elapsed,
        )

    def verdicts(self, facts: Sequence[Any], now: datetime) -> list[ContactVerdict]:
        """The relations judged, in (first add, contact) order: the same list whichever order
        they were read in, and a span's verdicts sliced by time are a period's (`JudgedSpan`)."""
        ordered = sorted(facts, key=lambda f: (f.first_added_at, f.external_userid))
        verdicts = [classify(f, self.rules, now) for f in ordered]
        tz = self.calendar.tz
        return apply_state_cap(
            verdicts, self.rules.max_adds_per_state_per_day, lambda t: local_date(t, tz)
        )

    def target_of(self, target: int | None, period: Period) -> int | None:
        """Daily targets apply to working days only."""
        if period.kind is PeriodKind.DAY and not self.calendar.is_working_day(period.start):
            return None
        return target

    async def compute(
        self, conn: Connection, period: Period, ids: Sequence[str], now: datetime, closed: bool
    ) -> list[dict[str, Any]]:
        """The scores of `ids` in `period` (employees without an org record get none)."""
        out: list[dict[str, Any]] = []
        async for chunk in self.compute_chunks(conn, period, ids, now, closed):
            out += chunk
        return out

    async def compute_chunks(
        self, conn: Connection, period: Period, ids: Sequence[str], now: datetime, closed: bool
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The scores of `ids` in `period`, a chunk of employees at a time (`chunks`): memory
        is bounded by one chunk's relations (and, for a caller that stores each chunk before
        asking for the next, by one chunk's scores; by two for one that stores a chunk while
        the next is scored, as the close does with `compute_chunks_alongside`), not by how
        many employees are asked for nor how busy they were; the period's peer baseline and
        dense blocks are read once for all chunks. Every chunk is read from the caller's
        snapshot."""
        shared: BankFigures | None = None
        for chunk in await self.chunks(conn, period, ids):
            read = await self.read_chunk(conn, period, chunk, now, closed, shared)
            if read is not None:
                shared = read.bank
                yield await self.score_chunk(read)

    async def compute_chunks_alongside(
        self,
        conn: Connection,
        readers: Callable[[], asyncpg.Pool],
        period: Period,
        ids: Sequence[str],
        now: datetime,
        closed: bool,
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """`compute_chunks` with the reads on connections of their own (`readers`), side by
        side: the peers' baseline, the dense blocks and up to READ_AHEAD chunks at once, the
        next chunks read while Python scores this one. The same scores, chunk by chunk in the
        same order, for a caller in a read-committed transaction whose every statement reads
        what is committed when it runs (the close), and whose writes (score rows, outcomes)
        these reads do not see, as its own reads did not: the baseline, the one read of score
        rows, is awaited before the first chunk is scored and so before anything is written.
        Every employee's overlap with other teams (from the few shared contacts) is read at
        once beside them, and every employee's anomaly features in one pass sorted by
        employee, from which each chunk takes its employees' (`buckets.Everyones`: a bank's
        month of buckets held at once took 740 MB). A chunk's read awaits these before the
        features decide which employees' relations it reads, holding its connection: `readers`
        holds at least READ_AHEAD + 4 connections, and the four bank-wide reads take theirs
        first. The caller's `conn` is used only before the first chunk is yielded: the caller
        may store each chunk on it while the next is read and scored (`PeriodCloser._close`)."""

        async def pooled(read: Callable[[Connection], Awaitable[T]]) -> T:
            async with readers().acquire() as c:
                return await read(c)

        def reader(chunk: list[str]) -> Callable[[Connection], Awaitable[ChunkInputs | None]]:
            return lambda c: self.read_chunk(c, period, chunk, now, closed, bank)

        async def bank() -> BankFigures:
            return BankFigures(await baseline, await blocks, await everyone, features)

        async def everyone_of(c: Connection) -> dict[str, inputs.Overlap]:
            return await inputs.cross_team_overlap(c, period, None, self.calendar.tz)

        async with contextlib.AsyncExitStack() as held:
            # the features' one pass holds its connection until the last chunk has taken its
            # employees' (None: each chunk reads its employees' by key, and the connection
            # goes back at once)
            stream = await held.enter_async_context(contextlib.AsyncExitStack())
            streaming = await stream.enter_async_context(readers().acquire())
            features = await buckets.Everyones.open(streaming, period, self.calendar.tz, ids)
            if features is None:
                await stream.aclose()
            else:
                stream.push_async_callback(features.close)
            # its sort runs beside the other bank-wide reads
            warming = asyncio.create_task(features.warm() if features else asyncio.sleep(0))
            baseline = asyncio.create_task(
                pooled(lambda c: self.baseline(c, period, now, fresh=closed))
            )
            blocks = asyncio.create_task(pooled(lambda c: self.blocks(c, period, fresh=closed)))
            everyone = asyncio.create_task(pooled(everyone_of))
            pending: deque[asyncio.Task[ChunkInputs | None]] = deque()
            try:
                todo = deque(await self.chunks(conn, period, ids))
                while todo or pending:
                    while todo and len(pending) < READ_AHEAD:
                        pending.append(asyncio.create_task(pooled(reader(todo.popleft()))))
                    read = await pending.popleft()
                    if read is not None:
                        yield await self.score_chunk(read)
            finally:
                tasks = (warming, baseline, blocks, everyone, *pending)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def chunks(self, conn: Connection, period: Period, ids: Sequence[str]) -> list[list[str]]:
        """`ids` cut into chunks of at most COMPUTE_CHUNK employees and about COMPUTE_RELATIONS
        relations (each employee weighs its gross adds in the period)."""
        gross = await inputs.gross_adds(conn, period, ids)
        return chunked(ids, gross, COMPUTE_CHUNK, COMPUTE_RELATIONS)

    async def read_chunk(
        self,
        conn: Connection,
        period: Period,
        ids: Sequence[str],
        now: datetime,
        closed: bool,
        bank: BankFigures | Callable[[], Awaitable[BankFigures]] | None = None,
        from_span: bool = False,
        counters: bool = True,
    ) -> ChunkInputs | None:
        """Everything the scores of one chunk of employees are computed from, read in the
        caller's snapshot (None: none of them has an org record yet); `bank`, the period's
        peer baseline and dense blocks, is read unless given (or awaited, when given as a
        function: a caller reading them alongside). Only the relations of employees whose
        anomaly their kept features cannot give alone are read (`screened`). The computation itself
        (`score_chunk`) needs no snapshot: a caller may end its transaction before it, so that
        no read snapshot stays open while Python computes (an open snapshot keeps PostgreSQL
        from pruning the versions the consumer's batches leave behind). `from_span`: the
        relations and chat traces are not read here: the caller read them over a span holding
        the period (`read_span`) and gives them, judged, to `score_chunk`. `counters`: the
        quota and quality columns are read from the counters in this snapshot; without, the
        scores carry only their target, and their store fills the rest (`store_open` and
        `store_current` read the counters as they stand when they store)."""
        tz = self.calendar.tz
        org = await inputs.org_rows(conn, period, ids, tz)
        if not org:
            return None
        known = [o.employee_id for o in org]
        if bank is None:
            bank = BankFigures(
                await self.baseline(conn, period, now, fresh=closed),
                await self.blocks(conn, period, fresh=closed),
            )
        elif not isinstance(bank, BankFigures):
            bank = await bank()
        overlaps = (
            bank.overlaps
            if bank.overlaps is not None
            else await inputs.cross_team_overlap(conn, period, known, tz)
        )
        segments = await inputs.stated_segments(conn, known)
        ready = await self.screened(conn, period, known, now, overlaps, bank, segments)
        assessed = [e for e in known if e not in ready]
        relations: dict[str, list[ContactFacts]] | None = None
        chats = None
        if not from_span:
            relations = await self._relations_by_employee(conn, period, assessed)
            chats = await inputs.chat_traces(conn, period, assessed, tz)
        target = {o.employee_id: self.target_of(o.target, period) for o in org}
        return ChunkInputs(
            period,
            now,
            closed,
            bank,
            org,
            relations,
            overlaps,
            chats,
            segments,
            (
                await tally.quota_fields(conn, self, period.key, target, now, closed)
                if counters
                else {e: {"target": t} for e, t in target.items()}
            ),
            ready,
        )

    async def screened(
        self,
        conn: Connection,
        period: Period,
        ids: Sequence[str],
        now: datetime,
        overlaps: Mapping[str, inputs.Overlap],
        bank: BankFigures,
        segments: Mapping[str, str],
    ) -> dict[str, AnomalyResult]:
        """The anomalies of those of `ids` that their kept features give alone
        (`anomaly.from_features`), counted in SCREENED: quiet (no signal fired), or scored
        from the features; the others' relations are read (assessed). The chats of the
        contacts that may be scripted are read for those with enough of them, and which of
        them have a campaign of their team in the period."""
        tz = self.calendar.tz
        found = await (
            bank.features.take(ids)
            if bank.features is not None
            else buckets.features(conn, period, ids, tz)
        )
        talkative = [
            e for e in ids if (f := found.get(e)) is not None and f.total("talkers") >= MIN_SCRIPTED
        ]
        traces = await inputs.chat_traces(conn, period, talkative, tz, talkers=True)
        campaigns = await inputs.with_campaigns(conn, period, ids, tz)
        tail, week = self.tail(period, now), self.tail(period, now, WEEK_TAIL_DAYS)
        days = (period.end - period.start).days
        out: dict[str, AnomalyResult] = {}
        for e in ids:
            o = overlaps.get(e, NO_OVERLAP)
            result = from_features(
                found.get(e, NO_FEATURES),
                e,
                o.shared,
                o.partners,
                bank.blocks.get(e),
                bank.baseline,
                period.end_at(tz),
                days,
                now,
                tz,
                tail,
                week,
                segments.get(e),
                self.rules.retention_window,
                traces.get(e, {}),
                e in campaigns,
            )
            if result is not None:
                out[e] = result
        quiet = sum(1 for r in out.values() if not r.reasons)
        SCREENED.labels("quiet").inc(quiet)
        SCREENED.labels("features").inc(len(out) - quiet)
        SCREENED.labels("assessed").inc(len(ids) - len(out))
        return out

    async def read_span(self, conn: Connection, span: Period, ids: Sequence[str]) -> SpanReads:
        """The relations of `ids` first added in `span` and their chat traces, read once for
        the several periods inside it that a refresh round recomputes for them."""
        relations = await self._relations_by_employee(conn, span, ids)
        return SpanReads(relations, await inputs.chat_traces(conn, span, ids, self.calendar.tz))

    async def _relations_by_employee(
        self, conn: Connection, period: Period, ids: Sequence[str]
    ) -> dict[str, list[ContactFacts]]:
        """The relations of `ids` first added in `period`, by employee (every one of `ids` has
        a list, empty when it added nobody)."""
        by_employee: dict[str, list[ContactFacts]] = {e: [] for e in ids}
        for f in await inputs.relations(conn, period, ids, self.calendar.tz):
            by_employee[f.employee_id].append(f)
        return by_employee

    def judge_span(self, read: SpanReads, now: datetime) -> JudgedSpan:
        """A span's relations judged once for every period inside it (CPU only)."""
        return JudgedSpan(
            {e: self.verdicts(facts, now) for e, facts in read.relations.items()}, read.chats
        )

    async def score_chunk(
        self, read: ChunkInputs, span: JudgedSpan | None = None
    ) -> list[dict[str, Any]]:
        """The scores of a chunk from what `read_chunk` read, and from `span` the relations
        and chat traces it left to the caller (CPU only, no I/O)."""
        period, now = read.period, read.now
        tail = self.tail(period, now)
        week = self.tail(period, now, WEEK_TAIL_DAYS)
        start, end = period.start_at(self.calendar.tz), period.end_at(self.calendar.tz)
        out: list[dict[str, Any]] = []
        for i, o in enumerate(read.org):
            if i and i % YIELD_EVERY == 0:
                # CPU-bound stretch: let the consumer's batch (which awaits PostgreSQL in the
                # same event loop) go on between employees
                await asyncio.sleep(0)
            ready = read.ready.get(o.employee_id)
            if ready is not None:
                anomaly = ready  # what `assess` gives, from the features alone
            else:
                if read.relations is not None:
                    verdicts = self.verdicts(read.relations[o.employee_id], now)
                    chats = (read.chats or {}).get(o.employee_id, {})
                elif span is not None:
                    verdicts, chats = span.of(o.employee_id, start, end)
                else:
                    raise ValueError("a chunk read from a span is scored with that span")
                anomaly = self.assess(
                    period,
                    verdicts,
                    read.bank.baseline,
                    now,
                    read.overlaps.get(o.employee_id, NO_OVERLAP),
                    read.bank.blocks.get(o.employee_id),
                    tail,
                    chats,
                    read.segments.get(o.employee_id),
                    week,
                    o.employee_id,
                )
            out.append(
                {
                    "employee_id": o.employee_id,
                    "period": period.key,
                    "branch_id": o.branch_id,
                    "team_id": o.team_id,
                    "supervisor_id": o.supervisor_id,
                    "role": o.role,
                    **read.counted[o.employee_id],  # quota and quality, or the target alone
                    "anomaly_score": anomaly.score,
                    "flagged": anomaly.score >= self.alert_threshold,
                    "reasons": anomaly.reasons,
                    "computed_at": now,
                    "closed": read.closed,
                }
            )
        return out


@dataclass(frozen=True)
class BankFigures:
    """A period's bank-wide figures that each employee's anomaly is judged against."""

    baseline: PeerBaseline
    blocks: dict[str, DenseBlock]
    overlaps: Mapping[str, inputs.Overlap] | None = None
    """Every employee's overlap with other teams, read at once (the close); None: each chunk
    reads its employees'."""
    features: buckets.Everyones | None = None
    """Every employee's anomaly features, read in one pass and taken a chunk at a time (the
    close); None: each chunk reads its employees'."""


@dataclass(frozen=True)
class SpanReads:
    """A chunk of employees' relations (by employee) and chat traces over a span of time that
    holds several of the periods recomputed for them (`Scorer.read_span`)."""

    relations: Mapping[str, Sequence[ContactFacts]]
    chats: Mapping[str, Mapping[str, ChatTrace]]


@dataclass(frozen=True)
class JudgedSpan:
    """A span's relations judged (`Scorer.judge_span`), and its chat traces: each period's are
    a slice, exactly what reading and judging the period alone gives (relations by their first
    add; the cap on adds per channel state counts per day, and periods are whole days; a
    period's traces are its contacts' messages from its start on)."""

    verdicts: Mapping[str, Sequence[ContactVerdict]]
    """By employee, in (first add, contact) order."""
    chats: Mapping[str, Mapping[str, ChatTrace]]

    def of(
        self, employee_id: str, start: datetime, end: datetime
    ) -> tuple[list[ContactVerdict], dict[str, ChatTrace]]:
        """The employee's verdicts and chat traces of the period [start, end): the verdicts
        are in first-add order and a trace's messages in time order, so both are cut where
        the period starts and ends, not filtered one by one."""
        judged = self.verdicts.get(employee_id, ())
        first = bisect_left(judged, start, key=_first_added_at)
        verdicts = list(judged[first : bisect_left(judged, end, key=_first_added_at)])
        traces = self.chats.get(employee_id, {})
        chats: dict[str, ChatTrace] = {}
        for v in verdicts:
            trace = traces.get(v.facts.external_userid)
            if trace is None:
                continue
            kept = trace.messages[bisect_left(trace.messages, start, key=_sent_at) :]
            if kept:
                whole = len(kept) == len(trace.messages)
                chats[trace.external_userid] = (
                    trace if whole else ChatTrace(trace.external_userid, kept)
                )
        return verdicts, chats


def _first_added_at(v: ContactVerdict) -> datetime:
    return v.facts.first_added_at


def _sent_at(message: tuple[datetime, bool]) -> datetime:
    return message[0]


@dataclass(frozen=True)
class ChunkInputs:
    """What one chunk of employees' scores in a period are computed from (`read_chunk`)."""

    period: Period
    now: datetime
    closed: bool
    bank: BankFigures
    org: Sequence[inputs.OrgRow]
    relations: Mapping[str, Sequence[ContactFacts]] | None
    """By employee, the relations first added in the period (None: read over a span)."""
    overlaps: Mapping[str, inputs.Overlap]
    chats: Mapping[str, Mapping[str, ChatTrace]] | None
    segments: Mapping[str, str]
    counted: Mapping[str, dict[str, Any]]
    """By employee, the quota and quality columns from the counters (or only the target)."""
    ready: Mapping[str, AnomalyResult] = field(default_factory=dict)
    """By employee, the anomalies their features gave alone (`Scorer.screened`): their
    relations were not read."""

    @property
    def assessed(self) -> list[str]:
        """The employees whose relations `score_chunk` judges."""
        return [o.employee_id for o in self.org if o.employee_id not in self.ready]


_ORG_COLUMNS = ("branch_id", "team_id", "supervisor_id", "role")
_QUALITY = ("quality_score", "quality")
_RECOMPUTED = ("anomaly_score", "flagged", "reasons", "computed_at")
_QUOTA = (
    "target",
    "gross_adds",
    *COUNTERS,
    "attainment",
    "pace",
    "projection",
    "status",
    *_QUALITY,
    "quota_version",
)
"""The columns a row's figures from the counters fill (`tally.quota_fields`)."""
COLUMNS = ("employee_id", "period", *_ORG_COLUMNS, *_QUOTA, *_RECOMPUTED)
_TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int",
    "int",
    *("int" for _ in COUNTERS),
    "float8",
    "float8",
    "float8",
    "text",
    "float8",
    "jsonb",
    "int8",
    "float8",
    "bool",
    "jsonb",
    "timestamptz",
)
_TYPED = tuple(zip(COLUMNS, _TYPES, strict=True))
OWN_COLUMNS = (*_ORG_COLUMNS, *_RECOMPUTED)
"""What the refresh writes of an open period's existing row as it computed it; its quota and
quality columns it writes from the counters as they stand when it stores them, and only when
they are at least as new as the row's (`quota_version`): a refresh never puts back figures
older than a batch's or a timer's."""


def _upsert(updated: Sequence[str], newer: Sequence[str] = ()) -> str:
    """A new row gets every column (its quota columns written as of `computed_at`); an
    existing one, `updated`, and `newer` when its quota version is not older than the row's."""
    fresh = "EXCLUDED.quota_version >= s.quota_version"
    return (
        f"INSERT INTO employee_period_score AS s ({', '.join(COLUMNS)}, quota_at) "  # noqa: S608
        f"SELECT {', '.join(COLUMNS)}, computed_at "
        "FROM json_to_recordset($1::text::json) "
        f"AS x{columns(_TYPED)} "
        "ON CONFLICT (period, employee_id) DO UPDATE SET "
        + ", ".join(
            [f"{c} = EXCLUDED.{c}" for c in updated]
            + [f"{c} = CASE WHEN {fresh} THEN EXCLUDED.{c} ELSE s.{c} END" for c in newer]
        )
    )


UPSERT_SQL = _upsert([*(c for c in COLUMNS if c not in ("employee_id", "period")), "quota_at"])
STORE_OWN_SQL = _upsert(OWN_COLUMNS, (*_QUOTA, "quota_at"))


async def store_scores(
    conn: Connection, scores: Sequence[dict[str, Any]], statement: str = UPSERT_SQL
) -> None:
    if scores:
        # in key order, as the batches write their rows (tally._write_quota): two writers that
        # lock the same rows in different orders deadlock
        scores = sorted(scores, key=lambda s: (s["employee_id"], s["period"]))
        await conn.execute(statement, recordset({c: s[c] for c in COLUMNS} for s in scores))


async def store_open(
    conn: Connection, scorer: Scorer, period_key: str, scores: list[dict[str, Any]]
) -> bool:
    """Store the refresh's scores of a period still open: anomaly and org columns as computed,
    the quota and quality columns from the counters as they stand now (read here: the
    batches leave them to the refresh, `tally.sync_scores`), written only over older ones.
    No employee is held, so the batches' quota writes never wait for a refresh; a batch that
    commits after this read marked the row dirty, and the next round writes it again. False,
    with nothing stored, when the period was closed meanwhile (the close takes this lock
    exclusively): its rows are then recomputed as closed."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('close:' || $1))", period_key)
    if await conn.fetchval("SELECT 1 FROM period_close WHERE period = $1", period_key):
        return False
    await scorer.bankwide.store(conn, period_key, scorer.figures)
    if scores:
        targets = {s["employee_id"]: s["target"] for s in scores}
        now = scorer.clock()
        current = await tally.quota_fields(conn, scorer, period_key, targets, now, False)
        for s in scores:
            s.update(current[s["employee_id"]])
    await store_scores(conn, scores, STORE_OWN_SQL)
    return True


async def store_current(
    conn: Connection,
    scorer: Scorer,
    period_key: str,
    scores: list[dict[str, Any]],
    now: datetime,
    closed: bool,
) -> None:
    """Store computed scores with their quota columns read again from the counters while
    holding the employees (tally.py): a batch that committed after the computation's snapshot
    is not overwritten by older figures."""
    await scorer.bankwide.store(conn, period_key, scorer.figures)
    if not scores:
        return
    await tally.hold(conn, [s["employee_id"] for s in scores])
    targets = {s["employee_id"]: s["target"] for s in scores}
    current = await tally.quota_fields(conn, scorer, period_key, targets, now, closed)
    for s in scores:
        s.update(current[s["employee_id"]])
    await store_scores(conn, scores)


VIEW_SQL = filtered_statements(
    """SELECT EXISTS (SELECT 1 FROM period_close WHERE period = $1) AS closed,
              EXISTS (SELECT 1 FROM purged_period WHERE period = $1) AS purged,
              ARRAY(SELECT e.employee_id FROM employee e
                     WHERE NOT EXISTS (SELECT 1 FROM employee_period_score s
                                        WHERE s.period = $1 AND s.employee_id = e.employee_id)
                       AND e.active""",
    1,
    ("e.branch_id =", "e.team_id ="),
    " ORDER BY e.employee_id) AS missing",
)
"""Whether the period is closed, whether its contact data was purged, and its active employees
(of a branch or team) without a score row: one round trip before each read of scores."""


async def ensure_scores(
    conn: Connection,
    scorer: Scorer,
    period: Period,
    branch_id: str | None,
    team_id: str | None,
) -> bool:
    """Every active employee has a row for a period someone asks about, even without a single
    add in it: a supervisor must see who has nothing. Not in a period whose contact data was
    purged (its rows stay as they stood). A missing row waiting for the refresh (an employee's
    first adds: the batch left the row to it) gets its org and quota columns now and its
    anomaly from the refresh, whose store raises any flag, breach and review case. Returns
    whether the period is closed."""
    view = await conn.fetchrow(
        VIEW_SQL[filter_mask(branch_id, team_id)],
        period.key,
        *(v for v in (branch_id, team_id) if v is not None),
    )
    assert view is not None  # one row, always
    closed: bool = view["closed"]
    missing: list[str] = [] if view["purged"] else list(view["missing"])
    if missing and not closed:
        pending = {
            r["employee_id"]
            for r in await conn.fetch(
                """SELECT employee_id FROM score_dirty
                    WHERE period = $1 AND employee_id = ANY($2::text[])""",
                period.key,
                missing,
            )
        }
        if pending:
            async with conn.transaction():
                await tally.hold(conn, pending)
                keys = [(e, period.key) for e in sorted(pending)]
                await tally.sync_scores(conn, scorer, keys, scorer.clock())
            missing = [e for e in missing if e not in pending]
    if missing:
        # one snapshot for every query of the computation, as the refresh does: read
        # committed, a batch committing between two of them gave a row of half its data
        now = scorer.clock()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            seen = await governance.generation(conn)
            scores = await scorer.compute(conn, period, missing, now, closed)
        async with conn.transaction():
            await governance.hold_shared(conn)
            if await governance.generation(conn) == seen:  # else: asked again, computed then
                await store_current(conn, scorer, period.key, scores, now, closed)
    return closed

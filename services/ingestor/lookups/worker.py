"""The lookup workers: due contacts → `externalcontact/get` → profiles published → answered.

One dispatcher takes due contacts from the ledger (the longest-due first), waits for the
pace's token and the circuit breaker, and starts at most `concurrency` lookups. A lookup's
verdict (answers.py) is published first (DurablePublisher: Kafka's acks=all, or the fsynced
spool), then recorded in the ledger, in batches; until then the contact stays "busy" so it is
not dispatched twice. A crash before the record loses no answer that Kafka has: the next start
reads them back (recovery.py); only a lookup whose answer had not reached Kafka is asked again
(at least once, never zero times). Failures are retried forever with capped exponential
backoff and jitter: a WeCom outage of hours costs time, never a profile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from services.ingestor.delivery.durable import DurablePublisher
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.enrichment.breaker import CircuitBreaker
from services.ingestor.enrichment.wecom_api import WeComApi, WeComApiError
from services.ingestor.lookups.answers import (
    Failed,
    NoSuchContact,
    Profiled,
    Verdict,
    judge_answer,
    judge_error,
)
from services.ingestor.lookups.ledger import Answered, Due, Failure, LookupLedger
from services.ingestor.lookups.pacing import CallbackLoad, Pace, retry_delay
from services.ingestor.metrics import (
    LOOKUP_BACKLOG,
    LOOKUP_FAILURES,
    LOOKUP_OLDEST,
    LOOKUP_RATE,
    LOOKUPS,
)
from shared.clock import Clock
from shared.schemas import ContactProfileRecord

log = logging.getLogger(__name__)


class LookupWorkers:
    def __init__(
        self,
        ledger: LookupLedger,
        api: WeComApi,
        publisher: DurablePublisher,
        breaker: CircuitBreaker,
        pace: Pace,
        *,
        profile_topic: str,
        concurrency: int,
        retry_base: float,
        retry_cap: float,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        poll_seconds: float = 0.2,
        callbacks: CallbackLoad | None = None,
    ) -> None:
        self._callbacks = callbacks or CallbackLoad(0)
        self._ledger = ledger
        self._api = api
        self._publisher = publisher
        self._breaker = breaker
        self._pace = pace
        self._topic = profile_topic
        self._slots = asyncio.Semaphore(concurrency)
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._clock = clock
        self._monotonic = monotonic
        self._poll = poll_seconds
        self._draw = random.Random()  # noqa: S311 (jitter, not a secret)
        self._busy: set[str] = set()
        self._answered: list[Answered] = []
        self._failures: list[Failure] = []
        self._results = asyncio.Event()
        self._lookups: set[asyncio.Task[None]] = set()
        self._logged: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    async def dispatch_forever(self) -> None:
        try:
            while True:
                try:
                    due = await asyncio.to_thread(
                        self._ledger.due, self._clock().timestamp(), 500, set(self._busy)
                    )
                except Exception:
                    log.exception("reading the lookup ledger failed; trying again")
                    due = []
                if not due:
                    await asyncio.sleep(self._poll)
                    continue
                for contact in due:
                    await self._start(contact)
        finally:
            for task in self._lookups:
                task.cancel()

    async def record_forever(self) -> None:
        """Verdicts into the ledger in batches (one fsync for many lookups)."""
        while True:
            await self._results.wait()
            await asyncio.sleep(0.05)  # let a few more join the batch
            try:
                await self.flush()
            except Exception:
                log.exception("recording lookups in the ledger failed; trying again")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        self._results.clear()
        answered, failures = self._answered, self._failures
        self._answered, self._failures = [], []
        kafka_ms = self._publisher.kafka.acked_ms  # every answer published by now is in hand
        if not answered and not failures:
            return
        try:
            await asyncio.to_thread(
                self._ledger.record, answered, failures, self._clock().timestamp(), kafka_ms
            )
        except BaseException:
            self._answered += answered  # tried again with the next batch
            self._failures += failures
            self._results.set()
            raise
        for x in [a.external_userid for a in answered] + [f.external_userid for f in failures]:
            self._busy.discard(x)

    async def gauges_forever(self, every: float = 1.0) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.update_gauges()
            await asyncio.sleep(every)

    async def update_gauges(self) -> None:
        backlog = await asyncio.to_thread(self._ledger.backlog)
        LOOKUP_BACKLOG.set(backlog.waiting)
        now = self._clock().timestamp()
        oldest = 0.0 if backlog.oldest_since is None else max(0.0, now - backlog.oldest_since)
        LOOKUP_OLDEST.set(oldest)
        LOOKUP_RATE.set(self._pace.rate)

    async def _start(self, contact: Due) -> None:
        await self._slots.acquire()
        try:
            await self._admitted()
        except BaseException:
            self._slots.release()
            raise
        self._busy.add(contact.external_userid)
        task = asyncio.create_task(self._lookup(contact))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _admitted(self) -> None:
        """Until callbacks leave room, the breaker lets a call out and the pace has a token."""
        while True:  # clocks and a count, not events: polled at the time they name
            if self._callbacks.busy():
                await asyncio.sleep(0.02)
                continue
            wait = self._pace.take(self._monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            elif self._breaker.allow():  # last: a half-open breaker's trial goes out now
                return
            else:
                await asyncio.sleep(self._poll)

    async def _lookup(self, contact: Due) -> None:
        try:
            if contact.failures:
                LOOKUPS.labels("retried").inc()
            verdict = await self._ask(contact)
            if not isinstance(verdict, Failed):
                verdict = await self._publish(verdict)
            self._note(contact, verdict)
        except Exception as exc:  # a bug must not lose the contact: it is due again later
            log.exception("lookup failed unexpectedly")
            self._note(contact, Failed("garbage", f"{type(exc).__name__}: {exc}"))
        finally:
            self._slots.release()

    async def _ask(self, contact: Due) -> Verdict:
        at = self._clock()
        try:
            answer = await self._api.external_contact(contact.external_userid)
        except WeComApiError as exc:
            verdict: Verdict = judge_error(contact.external_userid, exc, at)
        else:
            verdict = judge_answer(contact.external_userid, answer, contact.followers, at)
        if isinstance(verdict, Failed) and verdict.rate_limited:
            self._pace.rate_limited(self._monotonic())
        if isinstance(verdict, Failed) and verdict.wecom_failing:
            self._breaker.failed()
        else:  # WeCom answered (a 45009 too: it is up, the pace deals with the rate)
            self._breaker.succeeded()
        return verdict

    async def _publish(self, verdict: Profiled | NoSuchContact) -> Verdict:
        records: tuple[ContactProfileRecord, ...] = (
            verdict.records if isinstance(verdict, Profiled) else (verdict.record,)
        )
        outgoing = [Outgoing(self._topic, r.entity_key(), r.to_json()) for r in records]
        try:
            await self._publisher.store(outgoing)
        except Exception as exc:  # neither Kafka nor the spool: answered again later
            return Failed("publish", f"{type(exc).__name__}: {exc}")
        return verdict

    def _note(self, contact: Due, verdict: Verdict) -> None:
        x = contact.external_userid
        if isinstance(verdict, Profiled):
            LOOKUPS.labels("profiled").inc()
            self._answered.append(Answered(x, contact.followers, "profiled"))
        elif isinstance(verdict, NoSuchContact):
            LOOKUPS.labels("not_found").inc()
            log.info("WeCom has no such contact (errcode %s): recorded", verdict.errcode)
            self._answered.append(Answered(x, contact.followers, "not_found"))
        else:
            LOOKUPS.labels("rate_limited" if verdict.rate_limited else "failed").inc()
            LOOKUP_FAILURES.labels(verdict.reason).inc()
            delay = retry_delay(contact.failures + 1, self._retry_base, self._retry_cap, self._draw)
            if not verdict.rate_limited:
                self._warn(verdict, delay)
            due_at = self._clock().timestamp() + delay
            self._failures.append(Failure(x, due_at, f"{verdict.reason}: {verdict.detail}"))
        self._results.set()

    def _warn(self, failure: Failed, delay: float) -> None:
        """One line per reason every 10 s at most, with how many failed meanwhile: 5 % of
        1,000 lookups/s failing must not flood the log."""
        now = self._monotonic()
        count = self._quiet.get(failure.reason, 0) + 1
        if now - self._logged.get(failure.reason, -1e9) < 10.0:
            self._quiet[failure.reason] = count
            return
        self._logged[failure.reason] = now
        self._quiet[failure.reason] = 0
        log.warning(
            "WeCom lookup failed (%s: %s), %d such failure(s) since the last line; each "
            "is looked up again (this one in %.1f s)",
            failure.reason,
            failure.detail,
            count,
            delay,
        )

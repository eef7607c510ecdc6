"""The enrichment stage: after a contact event is stored, fetch who the contact is.

Runs beside the callback path, never in it: `submit` only queues (a full queue drops the job,
counted; the daily reconciliation profiles every contact anyway). A bounded number of workers
call `externalcontact/get`; the client backs off on 45009 and the circuit breaker stops calls
while WeCom keeps failing. A job that fails transiently is retried later, a few times; the
contact event has flowed unenriched meanwhile and the profile follows when it can."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from services.ingestor.delivery.durable import DurablePublisher
from services.ingestor.delivery.outgoing import Outgoing
from services.ingestor.enrichment.breaker import CircuitBreaker
from services.ingestor.enrichment.profiles import follower_profile
from services.ingestor.enrichment.wecom_api import WeComApi, WeComApiError
from services.ingestor.metrics import ENRICHMENTS
from shared.clock import Clock
from shared.schemas import ChangeType, ContactEvent

log = logging.getLogger(__name__)
# Deletes and failed handovers change no profile; adds and edits are worth a lookup.
PROFILED_CHANGES = frozenset({ChangeType.ADD, ChangeType.ADD_HALF, ChangeType.EDIT})


@dataclass(frozen=True)
class Job:
    employee_id: str
    external_userid: str
    attempt: int = 1


class Enricher:
    def __init__(
        self,
        api: WeComApi,
        publisher: DurablePublisher,
        breaker: CircuitBreaker,
        *,
        profile_topic: str,
        concurrency: int,
        queue_size: int,
        attempts: int,
        retry_seconds: float,
        clock: Clock,
    ) -> None:
        self._api = api
        self._clock = clock
        self._publisher = publisher
        self._breaker = breaker
        self._topic = profile_topic
        self._concurrency = concurrency
        self._queue: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self._attempts = attempts
        self._retry = retry_seconds
        self._workers: list[asyncio.Task[None]] = []
        self._later: set[asyncio.TimerHandle] = set()

    def submit(self, event: ContactEvent) -> None:
        """Queue a lookup for a stored contact event; never blocks, never raises."""
        if event.change_type in PROFILED_CHANGES:
            self._offer(Job(event.employee_id, event.external_userid))

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    async def stop(self) -> None:
        for handle in self._later:
            handle.cancel()
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self._api.close()

    async def idle(self) -> None:
        """Until every queued job is done (for tests and an orderly shutdown)."""
        await self._queue.join()

    def _offer(self, job: Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            ENRICHMENTS.labels("dropped").inc()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self.enrich(job)
            except Exception:
                log.exception("enrichment job failed unexpectedly")
            finally:
                self._queue.task_done()

    async def enrich(self, job: Job) -> None:
        if not self._breaker.allow():
            ENRICHMENTS.labels("circuit_open").inc()
            self._again(job, counts=False)
            return
        try:
            answer = await self._api.external_contact(job.external_userid)
        except WeComApiError as exc:
            if exc.transient:
                self._breaker.failed()
                self._again(job)
            else:  # WeCom answered: it works, this contact has no profile for us
                self._breaker.succeeded()
                ENRICHMENTS.labels("not_found").inc()
                log.info("no profile for a contact: errcode %s", exc.errcode)
            return
        self._breaker.succeeded()
        record = follower_profile(answer, job.employee_id, self._clock())
        await self._publisher.store([Outgoing(self._topic, record.entity_key(), record.to_json())])
        ENRICHMENTS.labels("profiled").inc()

    def _again(self, job: Job, *, counts: bool = True) -> None:
        """Retry after a pause; a job out of attempts waits for the reconciliation."""
        attempt = job.attempt + 1 if counts else job.attempt
        if attempt > self._attempts:
            ENRICHMENTS.labels("gave_up").inc()
            return
        ENRICHMENTS.labels("retried").inc()
        later = Job(job.employee_id, job.external_userid, attempt)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self._retry, self._offer, later)
        self._later.add(handle)
        loop.call_later(self._retry + 0.01, self._later.discard, handle)

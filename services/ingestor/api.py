"""`POST /v1/events`: the bank systems' record stream (docs/contract.md)."""

from __future__ import annotations

import logging

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from services.ingestor.intake import BodyError, decode_body, validate
from services.ingestor.publisher import RecordPublisher
from services.ingestor.settings import IngestorSettings
from shared.auth import Identity
from shared.auth.http import identity_of
from shared.clock import Clock
from shared.http import BodyTooLargeError, JSONResponse, error, read_limited
from shared.schemas import IngestRecord, Submitter, TargetRecord

log = logging.getLogger(__name__)
REQUESTS = Counter("ingestor_event_requests_total", "POST /v1/events by outcome", ["outcome"])


def submitted(record: IngestRecord, caller: Identity) -> IngestRecord:
    """A target names who sent it, for the audit row the scorer writes when it applies it."""
    if not isinstance(record, TargetRecord):
        return record
    who = Submitter(name=caller.name, role=caller.role.value, employee_id=caller.employee_id)
    return record.model_copy(update={"submitted_by": who})


def events_endpoint(settings: IngestorSettings, publisher: RecordPublisher, clock: Clock):  # type: ignore[no-untyped-def]
    """The endpoint; the app guards it (INGEST_API_TOKENS or an SSO JWT with the ingest role)."""

    async def post_events(request: Request) -> Response:
        try:
            body = await read_limited(request, settings.ingest_max_body_bytes)
            items = decode_body(
                body, request.headers.get("content-type", ""), settings.ingest_max_records
            )
        except BodyTooLargeError:
            REQUESTS.labels("too_large").inc()
            return error(413, f"body over {settings.ingest_max_body_bytes} bytes")
        except BodyError as exc:
            REQUESTS.labels("malformed").inc()
            return JSONResponse({"errors": [{"index": None, "error": str(exc)}]}, status_code=400)
        intake = validate(items, accepted_at=clock())
        if intake.errors:
            REQUESTS.labels("invalid").inc()
            return JSONResponse({"errors": intake.errors}, status_code=422)
        caller = identity_of(request)
        records = [submitted(r, caller) for r in intake.records]
        try:
            await publisher.publish(records)
        except Exception:
            REQUESTS.labels("unavailable").inc()
            log.exception("publishing to Kafka failed; nothing acknowledged")
            return error(503, "could not store the records now; retry (records are idempotent)")
        REQUESTS.labels("accepted").inc()
        return JSONResponse({"accepted": len(intake.records)})

    return post_events

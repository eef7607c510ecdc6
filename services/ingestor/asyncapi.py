"""The ingestor's Kafka contract (`GET /asyncapi.json`, docs/asyncapi/ingestor.json).

The ingestor sends with the aiokafka producer of its started FastStream broker (the spool and
KafkaLink; /v1/events through the broker itself): those publishers are declared on that broker.
Its consumers are plain aiokafka consumers, and reconciliation and its lease publish with
producers of their own: they are declared on a broker that is never started, which only this
document reads."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from starlette.routing import Route

from services.ingestor.reconcile_lease import LeaseRecord
from services.ingestor.settings import IngestorSettings
from shared.asyncapi import asyncapi_route
from shared.schemas import BankRecordUnion, ContactEvent, RawCallback

DESCRIPTION = (
    "The ingestor turns WeCom callbacks and the bank's `/v1/events` records into records on "
    "Kafka (acks=all, idempotent; spooled while Kafka is away). It reads the contact-event "
    "topic back for its WeCom lookups and for the daily reconciliation."
)


async def _declared_only(record: ContactEvent) -> None:
    """A consumer that is not a FastStream subscriber, declared for the document only."""
    raise NotImplementedError("declared for the AsyncAPI document; never subscribed")


def declared_consumers(settings: IngestorSettings) -> KafkaBroker:
    """The aiokafka consumers and reconciliation's producers, on a broker never started."""
    topics = settings.topics
    declared = KafkaBroker(settings.kafka_bootstrap_servers, client_id="ingestor-declared")
    declared.subscriber(
        topics.contact_events,
        group_id=settings.lookup_group_id,
        title=f"{topics.contact_events}:lookups",
        description="WeCom lookups (when WECOM_CORP_SECRET is set): an aiokafka consumer in "
        "group LOOKUP_GROUP_ID asks `externalcontact/get` about each new contact and publishes "
        "its profile to the bank-records topic.",
    )(_declared_only)
    declared.subscriber(
        topics.contact_events,
        title=f"{topics.contact_events}:reconciliation-fold",
        description="Reconciliation's fold: an aiokafka consumer without a group reads the "
        "topic up to its end at the start of a run (its position kept in the reconcile store).",
    )(_declared_only)
    declared.subscriber(
        topics.reconcile_lease,
        group_id=settings.reconcile_lease_group,
        title=f"{topics.reconcile_lease}:lease",
        description="The reconciliation lease: every ingestor replica's schedule joins group "
        "RECONCILE_LEASE_GROUP on this one-partition, compacted topic, and only the member "
        "assigned its partition runs the reconciliation. That member reads the topic from its "
        "start (the last successful run) before it decides whether the day's run is due.",
    )(_declared_only)
    declared.publisher(
        topics.reconcile_lease,
        schema=LeaseRecord,
        title=f"{topics.reconcile_lease}:last-success",
        description="The lease holder's successful runs: the start of each, keyed "
        "`last-success` (compaction keeps the latest), so that a replica taking the lease over "
        "does not run the day's reconciliation again.",
    )
    declared.publisher(
        topics.contact_events,
        schema=ContactEvent,
        title=f"{topics.contact_events}:reconciliation",
        description="Reconciliation's corrections (origin `reconciliation`): missed adds and "
        "removals found by walking WeCom's contact lists; keyed by employee_id.",
    )
    declared.publisher(
        topics.bank_records,
        schema=BankRecordUnion,
        title=f"{topics.bank_records}:reconciliation",
        description="Reconciliation's contact profiles (`contact_profile`, keyed "
        "`contact:<external_userid>`) and, last, its completion marker (`source_watermark` of "
        "source `wecom.reconciliation`, keyed `source:wecom.reconciliation`).",
    )
    return declared


def ingestor_asyncapi(broker: KafkaBroker, settings: IngestorSettings) -> Route:
    """Declare what the ingestor's broker sends and serve the document."""
    topics = settings.topics
    broker.publisher(
        topics.contact_events,
        schema=ContactEvent,
        title=f"{topics.contact_events}:ingestor",
        description="Contact changes from WeCom callbacks (origin `callback`) and from "
        "`/v1/events` (origin `bank`); keyed by employee_id, so one employee's changes stay "
        "in order.",
    )
    broker.publisher(
        topics.bank_records,
        schema=BankRecordUnion,
        title=f"{topics.bank_records}:ingestor",
        description="The bank's records from `/v1/events` and the contact profiles of WeCom "
        "lookups; keyed by entity (`employee:<id>`, `contact:<external_userid>`, "
        "`target:<scope>:<id>`, `source:<source>`).",
    )
    broker.publisher(
        topics.raw_callbacks,
        schema=RawCallback,
        title=f"{topics.raw_callbacks}:ingestor",
        description="WeCom callbacks that are not contact changes this product scores, kept "
        "whole; keyed by the callback's UserID (else the CorpID). No service consumes them.",
    )
    return asyncapi_route("ingestor", DESCRIPTION, broker, declared_consumers(settings))

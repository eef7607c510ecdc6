"""The ingestor's Prometheus metrics, in one place so names stay consistent.

No per-employee (or per-contact) labels: label values come from small closed sets (outcomes,
WeCom error codes, API names), so cardinality stays bounded whatever WeCom or a bank sends."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

CALLBACKS = Counter(
    "ingestor_wecom_callbacks_total",
    "WeCom callback requests by outcome (accepted, spooled, duplicate, url_verified, ...)",
    ["method", "outcome"],
)
CRYPTO_FAILURES = Counter(
    "ingestor_wecom_crypto_failures_total",
    "Callbacks refused by signature, decryption or CorpID checks, by WXBizMsgCrypt error code",
    ["code"],
)
PUBLISH_SECONDS = Histogram(
    "ingestor_wecom_publish_duration_seconds",
    "Time from a callback's records being ready to Kafka acknowledging them (or the spool)",
    ["destination"],
    buckets=LATENCY_BUCKETS,
)
SPOOL_DEPTH = Gauge("ingestor_spool_depth", "Records in the local durable spool waiting for Kafka")
SPOOL_APPENDED = Counter(
    "ingestor_spool_appended_total", "Records written to the spool because Kafka did not ack"
)
SPOOL_REPLAYED = Counter(
    "ingestor_spool_replayed_total", "Spooled records acknowledged by Kafka on replay"
)
SPOOL_UNREADABLE = Counter(
    "ingestor_spool_unreadable_total",
    "Stretches of the spool replay skipped, by reason: torn (a crash mid-append, never "
    "acknowledged), corrupt (failing its checksum), not_a_record (kept in unreadable.ndjson)",
    ["reason"],
)
WECOM_API_CALLS = Counter(
    "ingestor_wecom_api_calls_total", "WeCom REST API calls by endpoint", ["api"]
)
WECOM_API_ERRORS = Counter(
    "ingestor_wecom_api_errors_total",
    "WeCom REST API failures by endpoint and errcode (a known errcode or other; http_<status>, "
    "timeout, network or garbage when no errcode came back)",
    ["api", "errcode"],
)
LOOKUPS = Counter(
    "ingestor_lookups_total",
    "WeCom contact lookup attempts by outcome: profiled, not_found (WeCom has no such "
    "contact: a recorded result), rate_limited (45009), failed (a transient failure, looked up "
    "again later), retried (an attempt for a contact whose earlier attempt failed)",
    ["outcome"],
)
for _outcome in ("profiled", "not_found", "rate_limited", "retried", "failed"):
    LOOKUPS.labels(_outcome)  # exported at 0 from the start (dashboards, alert figures)
LOOKUPS_RECOVERED = Counter(
    "ingestor_lookups_recovered_total",
    "Contacts whose lookup answer was published before a stop but not yet recorded, read "
    "back from Kafka at start instead of being asked of WeCom again",
)
LOOKUP_FAILURES = Counter(
    "ingestor_lookup_failures_total",
    "Failed WeCom contact lookups by reason (timeout, network, http_5xx, http_4xx, busy, "
    "other_errcode, garbage, publish): each is looked up again later, never dropped",
    ["reason"],
)
LOOKUP_BACKLOG = Gauge(
    "ingestor_lookup_backlog", "Contacts waiting for a WeCom lookup (durable, in the ledger)"
)
LOOKUP_OLDEST = Gauge(
    "ingestor_lookup_oldest_seconds",
    "Age of the oldest contact waiting for a WeCom lookup (0 when none waits)",
)
LOOKUP_RATE = Gauge(
    "ingestor_lookup_rate_per_second",
    "The lookup rate allowed now (halved on each 45009 answer, recovering slowly)",
)
RECONCILE_CORRECTIONS = Counter(
    "ingestor_reconcile_corrections_total",
    "Corrective contact events the reconciliation emitted, by kind (add, delete)",
    ["kind"],
)
RECONCILE_RUNS = Counter(
    "ingestor_reconcile_runs_total", "Scheduled reconciliation runs by outcome", ["outcome"]
)
RECONCILE_LAST_SUCCESS = Gauge(
    "ingestor_reconcile_last_success_timestamp_seconds",
    "Unix time the last successful reconciliation run started (0: none yet)",
)

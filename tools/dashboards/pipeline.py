"""Pipeline health: are the services up, is data flowing, how far behind, how fast, what fails.
Prometheus only; the recording rules of deploy/prometheus/rules/recording.yml do the heavy
expressions so that dashboards and alerts show the same figures."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, timeseries

from tools.dashboards.common import PROMETHEUS, Numbering, promql

# A held close exists as a series only while some period is held: `OR_NONE` gives the panels a
# zero when none is, labelled so that the legend reads "none held".
HELD = "scorer_close_held"
OR_NONE = 'or on() label_replace(vector(0), "period", "none held", "", "")'


def _stat(n: Numbering, title: str, unit: str, expr: str) -> stat.Panel:
    return (
        n(stat.Panel())
        .title(title)
        .datasource(PROMETHEUS)
        .with_target(promql(expr))
        .unit(unit)
        .height(4)
        .span(6)
    )


def _series(n: Numbering, title: str, unit: str, *targets: tuple[str, str]) -> timeseries.Panel:
    panel = n(timeseries.Panel()).title(title).datasource(PROMETHEUS).unit(unit).height(8)
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(promql(expr, legend, ref_id=chr(ord("A") + i)))
    return panel.span(12)


def build() -> db.Dashboard:
    n = Numbering()
    up = (
        n(stat.Panel())
        .title("Services up")
        .datasource(PROMETHEUS)
        .with_target(promql('up{job=~"ingestor|scorer|notifier"}', "{{job}}"))
        .height(4)
        .span(8)
    )
    lag = (
        n(stat.Panel())
        .title("Consumer lag (records)")
        .datasource(PROMETHEUS)
        .with_target(promql("group_topic:kafka_consumer_lag_records:sum", "{{topic}}"))
        .unit("short")
        .height(4)
        .span(8)
    )
    spool = (
        n(stat.Panel())
        .title("Ingestor spool (records waiting for Kafka)")
        .datasource(PROMETHEUS)
        .with_target(promql("sum(ingestor_spool_depth)"))
        .height(4)
        .span(8)
    )
    lookups_waiting = _stat(n, "WeCom lookups waiting", "short", "sum(ingestor_lookup_backlog)")
    oldest_lookup = _stat(
        n, "Oldest WeCom lookup waiting", "s", "max(ingestor_lookup_oldest_seconds)"
    )
    dead_letters = _stat(
        n, "Dead letters (last 15 min)", "short", "sum(job:dead_letters:increase15m)"
    )
    closes_held = _stat(n, "Period closes held", "short", f"count({HELD} > 0) {OR_NONE}")
    return (
        db.Dashboard("WeCom quota · pipeline health")
        .uid("wq-pipeline-health")
        .tags(["wecom-quota", "operations"])
        .time("now-1h", "now")
        .refresh("10s")
        .timezone("browser")
        .with_panel(up)
        .with_panel(lag)
        .with_panel(spool)
        .with_panel(lookups_waiting)
        .with_panel(oldest_lookup)
        .with_panel(dead_letters)
        .with_panel(closes_held)
        .with_row(n(db.Row("Flow")))
        .with_panel(
            _series(
                n,
                "Ingest requests by outcome",
                "reqps",
                ("sum by (outcome) (rate(ingestor_event_requests_total[1m]))", "{{outcome}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "WeCom callbacks by outcome",
                "reqps",
                (
                    "sum by (method, outcome) (rate(ingestor_wecom_callbacks_total[1m]))",
                    "{{method}} {{outcome}}",
                ),
            )
        )
        .with_panel(
            _series(
                n,
                "WeCom callbacks refused by WXBizMsgCrypt error code (last 15 min)",
                "short",
                (
                    "sum by (code) (increase(ingestor_wecom_crypto_failures_total[15m]))",
                    "{{code}}",
                ),
            )
        )
        .with_panel(
            _series(
                n,
                "WeCom lookups by outcome",
                "ops",
                ("sum by (outcome) (rate(ingestor_lookups_total[1m]))", "{{outcome}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "WeCom lookup backlog: contacts waiting",
                "short",
                ("sum(ingestor_lookup_backlog)", "waiting"),
            )
        )
        .with_panel(
            _series(
                n,
                "WeCom lookup backlog: age of the oldest",
                "s",
                ("max(ingestor_lookup_oldest_seconds)", "oldest waiting"),
            )
        )
        .with_panel(
            _series(
                n,
                "Records published to Kafka by type",
                "ops",
                ("sum by (type) (rate(ingestor_records_published_total[1m]))", "{{type}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Kafka batches consumed",
                "ops",
                ("job_handler:faststream_received_messages:rate1m", "{{job}} {{handler}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Scorer records by outcome",
                "ops",
                ("sum by (outcome) (rate(scorer_records_total[1m]))", "{{outcome}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Consumer lag by group and topic",
                "short",
                ("group_topic:kafka_consumer_lag_records:sum", "{{consumer_group}} {{topic}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Scores waiting and recomputed",
                "short",
                ("scorer_dirty_scores", "waiting"),
                ("rate(scorer_scores_refreshed_total[1m])", "recomputed per second"),
                (
                    'rate(scorer_anomaly_screened_total{outcome="assessed"}[1m])',
                    "anomaly assessed in full per second (refresh and close)",
                ),
            )
        )
        .with_row(n(db.Row("Latency")))
        .with_panel(
            _series(
                n,
                "Event to score, p95 by stage",
                "s",
                ("job:scorer_event_to_state_seconds:p95_5m", "Kafka record → state committed"),
                ("job:scorer_state_to_score_seconds:p95_5m", "state → score committed"),
            )
        )
        .with_panel(
            _series(
                n,
                "Scorer batch: database transaction p95 and size p50",
                "s",
                ("job:scorer_batch_transaction_seconds:p95_5m", "transaction p95 (s)"),
                (
                    "histogram_quantile(0.5, sum by (le) (rate(scorer_batch_records_bucket[5m])))",
                    "records per batch p50",
                ),
            )
        )
        .with_panel(
            _series(
                n,
                "Ingestor: Kafka acknowledgement p95",
                "s",
                (
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(ingestor_publish_duration_seconds_bucket[5m])))",
                    "p95",
                ),
            )
        )
        .with_panel(
            _series(
                n,
                "Age of the newest data by source",
                "s",
                ("source:wecom_data_age_seconds:max", "{{source}}"),
            )
        )
        .with_row(n(db.Row("Failures and alerts")))
        .with_panel(
            _series(
                n,
                "Failed share of consumed batches and of ingest requests",
                "percentunit",
                ("job:faststream_processed_messages_failed:ratio_rate5m", "{{job}} batches"),
                ("job:ingestor_event_requests_failed:ratio_rate5m", "ingest requests"),
            )
        )
        .with_panel(
            _series(
                n,
                "Dead letters (last 15 min)",
                "short",
                ("job:dead_letters:increase15m", "{{job}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Period closes held, by period and reason (1 while held)",
                "short",
                (f"max by (period, reason) ({HELD}) {OR_NONE}", "{{period}} {{reason}}"),
            )
        )
        .with_panel(
            _series(
                n,
                "Breach events published",
                "short",
                (
                    "sum by (alertname, status) (increase(scorer_breaches_published_total[15m]))",
                    "{{alertname}} {{status}}",
                ),
            )
        )
        .with_panel(
            _series(
                n,
                "Notices delivered by channel and outcome; digests waiting and dead",
                "short",
                (
                    "sum by (channel, outcome) (increase(notifier_notices_total[15m]))",
                    "{{channel}} {{outcome}}",
                ),
                ("notifier_digests", "digests {{state}}"),
            )
        )
    )

"""Business overview for a period and branches: attainment by branch and team, status counts,
quality components, the anomaly leaderboard with its reasons, the notifier's alert log, and the
audit log of state-changing calls. PostgreSQL (read-only role) through the views of
shared/db/migrations."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db

from tools.dashboards.common import POSTGRES, Numbering, Sql, sql_variable

# Months (YYYY-MM) first, the business default, newest first; then the other period kinds.
PERIOD = """
    SELECT period FROM (SELECT DISTINCT period FROM v_employee_period_scores) p
     ORDER BY period SIMILAR TO '[0-9]{4}-[0-9]{2}' DESC, period DESC
"""
BRANCH = "SELECT DISTINCT branch_id FROM employee ORDER BY branch_id"
IN_SCOPE = "period = '$period' AND branch_id IN ($branch)"


def build() -> db.Dashboard:
    n = Numbering()
    counts = (
        n(stat.Panel())
        .title("Employees by status")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT count(*) FILTER (WHERE status = 'on_track') AS on_track,
                       count(*) FILTER (WHERE status = 'behind') AS behind,
                       count(*) FILTER (WHERE status = 'met') AS met,
                       count(*) FILTER (WHERE status = 'missed') AS missed,
                       count(*) FILTER (WHERE status IS NULL) AS no_target,
                       count(*) FILTER (WHERE flagged) AS flagged
                  FROM v_employee_period_scores
                 WHERE {IN_SCOPE}
            """)
        )
        .height(5)
        .span(24)
    )
    by_branch = (
        n(barchart.Panel())
        .title("Attainment by branch (valid adds / target)")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT branch_id AS branch,
                       CASE WHEN sum(target) > 0
                            THEN sum(valid_adds)::double precision / sum(target) END AS attainment
                  FROM v_team_period_summary
                 WHERE {IN_SCOPE}
                 GROUP BY branch_id
                 ORDER BY branch_id
            """)
        )
        .x_field("branch")
        .unit("percentunit")
        .height(9)
        .span(12)
    )
    quality = (
        n(barchart.Panel())
        .title("Quality components by branch (0–1, averaged over employees)")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT branch_id AS branch,
                       avg(quality_customer_match) AS customer_match,
                       avg(quality_engagement) AS engagement,
                       avg(quality_retention) AS retention,
                       avg(quality_responsiveness) AS responsiveness,
                       avg(quality_personal_touch) AS personal_touch
                  FROM v_employee_period_scores
                 WHERE {IN_SCOPE}
                 GROUP BY branch_id
                 ORDER BY branch_id
            """)
        )
        .x_field("branch")
        .height(9)
        .span(12)
    )
    teams = (
        n(table.Panel())
        .title("Teams")
        .description(
            "profile_unknown_adds: adds waiting for their contact's WeCom profile (part of "
            "pending_adds); unverified_adds: judged without one after the wait; "
            "inherited_adds: customers assigned or handed over, not counted as valid adds."
        )
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT branch_id AS branch, team_id AS team, employees, target, valid_adds,
                       pending_adds, profile_unknown_adds, unverified_adds, inherited_adds,
                       removed_adds, attainment, on_track, behind, met, missed,
                       round(quality_score::numeric, 3) AS quality_score,
                       round(anomaly_score::numeric, 1) AS anomaly_score, flagged
                  FROM v_team_period_summary
                 WHERE {IN_SCOPE}
                 ORDER BY attainment NULLS LAST, branch_id, team_id
            """)
        )
        .height(10)
        .span(24)
    )
    anomalies = (
        n(table.Panel())
        .title("Anomaly leaderboard")
        .description("Highest anomaly scores of the period, with the reasons behind each score.")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT s.employee_id, s.employee_name, s.branch_id AS branch, s.team_id AS team,
                       s.anomaly_score, s.flagged, s.valid_adds, s.gross_adds,
                       (SELECT string_agg(r ->> 'code', ', ' ORDER BY
                                          (r ->> 'contribution')::double precision DESC)
                          FROM jsonb_array_elements(s.reasons) AS r) AS reasons
                  FROM v_employee_period_scores s
                 WHERE s.{IN_SCOPE} AND s.anomaly_score > 0
                 ORDER BY s.anomaly_score DESC, s.employee_id
                 LIMIT 25
            """)
        )
        .height(10)
        .span(24)
    )
    adds = (
        n(timeseries.Panel())
        .title("Contact adds per day")
        .datasource(POSTGRES)
        .with_target(
            Sql(
                """
                SELECT $__timeGroupAlias(c.occurred_at, 1d), e.branch_id AS metric, count(*) AS adds
                  FROM contact_event c JOIN employee e USING (employee_id)
                 WHERE $__timeFilter(c.occurred_at)
                   AND c.change_type IN ('add_external_contact', 'add_half_external_contact')
                   AND e.branch_id IN ($branch)
                 GROUP BY 1, 2
                 ORDER BY 1
            """,
                fmt="time_series",
            )
        )
        .height(8)
        .span(24)
    )
    alerts = (
        n(table.Panel())
        .title("Alert log")
        .description("Alerts the notifier received and the notices it sent for them.")
        .datasource(POSTGRES)
        .with_target(
            Sql("""
                SELECT received_at AS "time", alertname, status, employee_id, team_id AS team,
                       branch_id AS branch, period, summary, channel, recipient, notice_state,
                       sent_at, acknowledged_at, resolved_at, escalation_level
                  FROM v_alert_log
                 WHERE $__timeFilter(received_at)
                   AND (branch_id IN ($branch) OR branch_id IS NULL)
                 ORDER BY received_at DESC, alert_id DESC
                 LIMIT 200
            """)
        )
        .height(10)
        .span(24)
    )
    audit = (
        n(table.Panel())
        .title("Audit log")
        .description(
            "Recent state-changing calls: period closes, acknowledgements, silences, tokens "
            "issued and revoked; who (actor, role, employee id), what, when, request id. "
            "Before/after values: GET /v1/audit (admin, risk)."
        )
        .datasource(POSTGRES)
        .with_target(
            Sql("""
                SELECT at AS "time", actor, role, employee_id, action, target, request_id
                  FROM v_audit_recent
                 WHERE $__timeFilter(at)
                 ORDER BY at DESC, audit_id DESC
                 LIMIT 200
            """)
        )
        .height(10)
        .span(24)
    )
    return (
        db.Dashboard("WeCom quota · business overview")
        .uid("wq-business-overview")
        .tags(["wecom-quota", "business"])
        .time("now-30d", "now")
        .refresh("1m")
        .timezone("Asia/Shanghai")
        .with_variable(sql_variable("period", "Period", PERIOD))
        .with_variable(sql_variable("branch", "Branch", BRANCH, multi=True, include_all=True))
        .with_panel(counts)
        .with_panel(by_branch)
        .with_panel(quality)
        .with_panel(teams)
        .with_panel(anomalies)
        .with_panel(adds)
        .with_panel(alerts)
        .with_panel(audit)
    )

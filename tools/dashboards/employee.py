"""Employee drill-down: one customer manager's scores for a period, their quality components,
anomaly reasons with evidence, history over periods of the same kind, daily adds and removals,
alerts about them and their newest contacts. Variables: branch → team → employee, period."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db

from tools.dashboards.common import POSTGRES, Numbering, Sql, sql_variable

BRANCH = "SELECT DISTINCT branch_id FROM employee ORDER BY branch_id"
TEAM = "SELECT DISTINCT team_id FROM employee WHERE branch_id = '$branch' ORDER BY team_id"
EMPLOYEE = """
    SELECT employee_id AS __value, name || ' (' || employee_id || ')' AS __text
      FROM employee
     WHERE branch_id = '$branch' AND team_id = '$team'
     ORDER BY name, employee_id
"""
PERIOD = """
    SELECT period FROM v_employee_period_scores
     WHERE employee_id = '$employee'
     ORDER BY period SIMILAR TO '[0-9]{4}-[0-9]{2}' DESC, period DESC
"""
ONE = "employee_id = '$employee' AND period = '$period'"


def build() -> db.Dashboard:
    n = Numbering()
    figures = (
        n(stat.Panel())
        .title("Period figures")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT target, valid_adds, gross_adds, pending_adds, removed_adds, new_to_bank,
                       attainment, pace, projection, status, quality_score, anomaly_score,
                       profile_unknown_adds, unverified_adds, inherited_adds
                  FROM v_employee_period_scores
                 WHERE {ONE}
            """)
        )
        .height(5)
        .span(24)
    )
    quality = (
        n(barchart.Panel())
        .title("Quality components (0–1)")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT c.component, c.value
                  FROM v_employee_period_scores s,
                       LATERAL (VALUES ('customer_match', s.quality_customer_match),
                                       ('engagement', s.quality_engagement),
                                       ('retention', s.quality_retention),
                                       ('responsiveness', s.quality_responsiveness),
                                       ('personal_touch', s.quality_personal_touch))
                               AS c(component, value)
                 WHERE s.{ONE}
            """)
        )
        .x_field("component")
        .height(9)
        .span(10)
    )
    reasons = (
        n(table.Panel())
        .title("Anomaly reasons")
        .description("Each signal's contribution to the anomaly score and the evidence for it.")
        .datasource(POSTGRES)
        .with_target(
            Sql(f"""
                SELECT r ->> 'code' AS reason,
                       (r ->> 'contribution')::double precision AS contribution,
                       r -> 'evidence' AS evidence
                  FROM v_employee_period_scores s, jsonb_array_elements(s.reasons) AS r
                 WHERE s.{ONE}
                 ORDER BY contribution DESC
            """)
        )
        .height(9)
        .span(14)
    )
    history = (
        n(table.Panel())
        .title("History over periods of the same kind")
        .datasource(POSTGRES)
        .with_target(
            Sql("""
                SELECT period, target, valid_adds, attainment, status, quality_score,
                       anomaly_score, flagged, closed
                  FROM v_employee_period_scores
                 WHERE employee_id = '$employee'
                   AND regexp_replace(period, '[0-9]', '', 'g')
                       = regexp_replace('$period', '[0-9]', '', 'g')
                 ORDER BY period DESC
                 LIMIT 24
            """)
        )
        .height(8)
        .span(12)
    )
    daily = (
        n(timeseries.Panel())
        .title("Adds and removals per day")
        .datasource(POSTGRES)
        .with_target(
            Sql(
                """
                SELECT $__timeGroupAlias(occurred_at, 1d),
                       count(*) FILTER (WHERE change_type IN
                         ('add_external_contact', 'add_half_external_contact')) AS adds,
                       count(*) FILTER (WHERE change_type IN
                         ('del_external_contact', 'del_follow_user')) AS removals
                  FROM contact_event
                 WHERE employee_id = '$employee' AND $__timeFilter(occurred_at)
                 GROUP BY 1
                 ORDER BY 1
            """,
                fmt="time_series",
            )
        )
        .height(8)
        .span(12)
    )
    alerts = (
        n(table.Panel())
        .title("Alerts about this employee")
        .datasource(POSTGRES)
        .with_target(
            Sql("""
                SELECT received_at AS "time", alertname, status, period, summary, channel,
                       recipient, notice_state, sent_at, acknowledged_at, resolved_at
                  FROM v_alert_log
                 WHERE employee_id = '$employee' AND $__timeFilter(received_at)
                 ORDER BY received_at DESC
                 LIMIT 100
            """)
        )
        .height(8)
        .span(12)
    )
    contacts = (
        n(table.Panel())
        .title("Newest contacts")
        .datasource(POSTGRES)
        .with_target(
            Sql("""
                SELECT ec.external_userid, ec.first_added_at, ec.add_way, ec.state,
                       ec.customer_msgs, ec.one_to_one_msgs, c.is_customer, c.customer_tier,
                       c.first_employee_id = ec.employee_id AS new_to_bank
                  FROM employee_contact ec LEFT JOIN contact c USING (external_userid)
                 WHERE ec.employee_id = '$employee'
                   AND ec.first_added_at BETWEEN $__timeFrom() AND $__timeTo()
                 ORDER BY ec.first_added_at DESC
                 LIMIT 50
            """)
        )
        .height(8)
        .span(12)
    )
    return (
        db.Dashboard("WeCom quota · employee drill-down")
        .uid("wq-employee-drilldown")
        .tags(["wecom-quota", "business"])
        .time("now-90d", "now")
        .timezone("Asia/Shanghai")
        .with_variable(sql_variable("branch", "Branch", BRANCH))
        .with_variable(sql_variable("team", "Team", TEAM))
        .with_variable(sql_variable("employee", "Employee", EMPLOYEE))
        .with_variable(sql_variable("period", "Period", PERIOD))
        .with_panel(figures)
        .with_panel(quality)
        .with_panel(reasons)
        .with_panel(history)
        .with_panel(daily)
        .with_panel(alerts)
        .with_panel(contacts)
    )

-- Scoring state (issue 5): org history, per (employee, contact) relation state, contacts'
-- profiles and customer links, removals, chat metadata, materialised scores, period outcomes.

-- Org history: an employee who moves team keeps past periods where they were.
CREATE TABLE employee_org (
    employee_id text NOT NULL,
    effective_at timestamptz NOT NULL,
    branch_id text NOT NULL,
    team_id text NOT NULL,
    supervisor_id text,
    role text NOT NULL,
    active boolean NOT NULL,
    PRIMARY KEY (employee_id, effective_at)
);

-- One row per external contact: WeCom profile (enrichment or the bank's contact_profile),
-- the bank's customer link, and who added it first in the whole bank (new-to-bank).
CREATE TABLE contact (
    external_userid text PRIMARY KEY,
    contact_type smallint,
    corp_name text,
    unionid text,
    profile_at timestamptz,
    is_customer boolean,
    customer_tier text,
    assigned_employee_id text,
    link_at timestamptz,
    first_added_at timestamptz,
    first_employee_id text
);

-- One row per (employee, external contact): the relation's state. Bounded by relations, not
-- by events. first_added_at is the earliest add by event time, however late it arrives.
CREATE TABLE employee_contact (
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    first_added_at timestamptz,
    last_added_at timestamptz,
    add_count int NOT NULL DEFAULT 0,
    add_way int,
    state text,
    oper_userid text,
    first_customer_msg_at timestamptz,
    customer_msgs int NOT NULL DEFAULT 0,
    one_to_one_msgs int NOT NULL DEFAULT 0,
    mass_msgs int NOT NULL DEFAULT 0,
    group_msgs int NOT NULL DEFAULT 0,
    PRIMARY KEY (employee_id, external_userid)
);
CREATE INDEX employee_contact_added ON employee_contact (employee_id, first_added_at);
CREATE INDEX employee_contact_window ON employee_contact (first_added_at);
CREATE INDEX employee_contact_contact ON employee_contact (external_userid);

-- Every removal, by either side; DELETE_BY_TRANSFER is kept (and ignored by the rules).
CREATE TABLE contact_removal (
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    removed_at timestamptz NOT NULL,
    removed_by text NOT NULL CHECK (removed_by IN ('employee', 'customer')),
    source text,
    PRIMARY KEY (employee_id, external_userid, removed_at, removed_by)
);

-- Chat metadata (never content), once by message_id; partitioned by month of sending.
CREATE TABLE message (
    message_id text NOT NULL,
    sent_at timestamptz NOT NULL,
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    direction text NOT NULL,
    kind text NOT NULL,
    PRIMARY KEY (message_id, sent_at)
) PARTITION BY RANGE (sent_at);
CREATE TABLE message_default PARTITION OF message DEFAULT;
DO $$
DECLARE m date := date '2024-01-01';
BEGIN
  WHILE m < date '2030-01-01' LOOP
    EXECUTE format(
      'CREATE TABLE message_%s PARTITION OF message FOR VALUES FROM (%L) TO (%L)',
      to_char(m, 'YYYYMM'), m::timestamp AT TIME ZONE 'UTC',
      (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    m := m + interval '1 month';
  END LOOP;
END $$;
CREATE INDEX message_employee_time ON message (employee_id, sent_at);

ALTER TABLE employee_period_stats ADD COLUMN unknown_time_events int NOT NULL DEFAULT 0;

-- Scores per employee and period, recomputed from the state above whenever an input changes
-- (score_dirty) or a window closes. API, views and alerts all read this one table.
CREATE TABLE employee_period_score (
    employee_id text NOT NULL,
    period text NOT NULL,
    branch_id text NOT NULL,
    team_id text NOT NULL,
    supervisor_id text,
    role text NOT NULL,
    target int,
    gross_adds int NOT NULL,
    first_adds int NOT NULL,
    new_to_bank int NOT NULL,
    valid_adds int NOT NULL,
    pending_adds int NOT NULL,
    removed_adds int NOT NULL,
    attainment double precision,
    pace double precision,
    projection double precision,
    status text,
    quality_score double precision,
    quality jsonb NOT NULL,
    anomaly_score double precision NOT NULL DEFAULT 0,
    flagged boolean NOT NULL DEFAULT false,
    reasons jsonb NOT NULL DEFAULT '[]',
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (period, employee_id)
);
CREATE INDEX employee_period_score_org ON employee_period_score (period, branch_id, team_id);

CREATE TABLE score_dirty (
    employee_id text NOT NULL,
    period text NOT NULL,
    PRIMARY KEY (employee_id, period)
);

-- Outcomes decided at close, and every later revision (late events).
CREATE TABLE period_outcome (
    period text NOT NULL,
    employee_id text NOT NULL,
    target int,
    valid_adds int NOT NULL,
    status text,
    revision int NOT NULL DEFAULT 0,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, employee_id)
);
CREATE TABLE period_revision (
    revision_id bigserial PRIMARY KEY,
    period text NOT NULL,
    employee_id text NOT NULL,
    revision int NOT NULL,
    old_valid_adds int NOT NULL,
    new_valid_adds int NOT NULL,
    old_status text,
    new_status text,
    outcome_flipped boolean NOT NULL,
    revised_at timestamptz NOT NULL DEFAULT now()
);

-- Things done once (pace checkpoints, stale-data episodes), surviving restarts.
CREATE TABLE scheduler_mark (
    mark text PRIMARY KEY,
    done_at timestamptz NOT NULL DEFAULT now()
);

-- When WeCom data last arrived (DataStale).
CREATE TABLE ingest_watermark (
    source text PRIMARY KEY,
    last_received_at timestamptz NOT NULL,
    last_event_at timestamptz
);

CREATE VIEW v_employee_period_scores AS
SELECT s.period, s.employee_id, e.name AS employee_name, s.branch_id, s.team_id,
       s.supervisor_id, s.role, s.target, s.gross_adds, s.first_adds, s.new_to_bank,
       s.valid_adds, s.pending_adds, s.removed_adds, s.attainment, s.pace, s.projection,
       s.status, s.quality_score,
       (s.quality ->> 'customer_match')::double precision AS quality_customer_match,
       (s.quality ->> 'engagement')::double precision AS quality_engagement,
       (s.quality ->> 'retention')::double precision AS quality_retention,
       (s.quality ->> 'responsiveness')::double precision AS quality_responsiveness,
       (s.quality ->> 'personal_touch')::double precision AS quality_personal_touch,
       s.anomaly_score, s.flagged, s.reasons, s.computed_at,
       (pc.period IS NOT NULL) AS closed
  FROM employee_period_score s
  LEFT JOIN employee e USING (employee_id)
  LEFT JOIN period_close pc ON pc.period = s.period;

CREATE VIEW v_team_period_summary AS
SELECT period, branch_id, team_id,
       count(*) AS employees,
       sum(target) AS target,
       sum(gross_adds) AS gross_adds,
       sum(valid_adds) AS valid_adds,
       sum(pending_adds) AS pending_adds,
       sum(removed_adds) AS removed_adds,
       CASE WHEN sum(target) > 0 THEN sum(valid_adds)::double precision / sum(target) END
         AS attainment,
       count(*) FILTER (WHERE status = 'on_track') AS on_track,
       count(*) FILTER (WHERE status = 'behind') AS behind,
       count(*) FILTER (WHERE status = 'met') AS met,
       count(*) FILTER (WHERE status = 'missed') AS missed,
       avg(quality_score) AS quality_score,
       avg(anomaly_score) AS anomaly_score,
       count(*) FILTER (WHERE flagged) AS flagged
  FROM employee_period_score
 GROUP BY period, branch_id, team_id;

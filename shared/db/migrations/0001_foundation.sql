-- Foundation: offsets stored with the data, org, targets, contact events, per-period aggregates,
-- period closes, and the notifier's alerts and outbox.

-- Kafka offsets committed in the same transaction as the data they produced (effectively-once).
CREATE TABLE consumer_offset (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- The org as the bank's HR stream says it is now (history arrives with issue 5).
CREATE TABLE employee (
    employee_id text PRIMARY KEY,
    name text NOT NULL,
    branch_id text NOT NULL,
    team_id text NOT NULL,
    supervisor_id text,
    role text NOT NULL,
    active boolean NOT NULL,
    robot_webhook text,
    email text,
    as_of timestamptz NOT NULL,
    event_id text NOT NULL
);
CREATE INDEX employee_team ON employee (branch_id, team_id);

CREATE TABLE target (
    scope text NOT NULL CHECK (scope IN ('employee', 'team', 'branch', 'role')),
    scope_id text NOT NULL,
    period text NOT NULL,
    metric text NOT NULL,
    value int NOT NULL CHECK (value >= 0),
    as_of timestamptz NOT NULL,
    PRIMARY KEY (scope, scope_id, period, metric)
);

-- Every contact change event once, by event_id (deterministic from the fact, which includes
-- its time, so the partition key can be part of the key): duplicates change nothing.
-- Partitioned by month of event time; out-of-range times land in the default partition.
CREATE TABLE contact_event (
    event_id text NOT NULL,
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    change_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    state text,
    source text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE contact_event_default PARTITION OF contact_event DEFAULT;
DO $$
DECLARE m date := date '2024-01-01';
BEGIN
  WHILE m < date '2030-01-01' LOOP
    EXECUTE format(
      'CREATE TABLE contact_event_%s PARTITION OF contact_event FOR VALUES FROM (%L) TO (%L)',
      to_char(m, 'YYYYMM'), m::timestamp AT TIME ZONE 'UTC',
      (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    m := m + interval '1 month';
  END LOOP;
END $$;
CREATE INDEX contact_event_employee_time ON contact_event (employee_id, occurred_at);

-- Per employee and period (day, week, month, quarter keys of docs/contract.md).
CREATE TABLE employee_period_stats (
    employee_id text NOT NULL,
    period text NOT NULL,
    gross_adds int NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (employee_id, period)
);
CREATE INDEX employee_period_stats_period ON employee_period_stats (period);

CREATE TABLE period_close (
    period text PRIMARY KEY,
    closed_at timestamptz NOT NULL DEFAULT now(),
    closed_by text NOT NULL
);

-- Notifier: one row per breach event received, one outbox row per notice to deliver.
CREATE TABLE alert (
    alert_id bigserial PRIMARY KEY,
    breach_event_id text NOT NULL UNIQUE,
    alertname text NOT NULL,
    status text NOT NULL,
    employee_id text,
    period text NOT NULL,
    supervisor_id text,
    team_id text,
    branch_id text,
    summary text NOT NULL,
    details jsonb NOT NULL,
    starts_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz
);

CREATE TABLE notice_outbox (
    notice_id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alert (alert_id),
    channel text NOT NULL,
    recipient text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    sent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notice_outbox_due ON notice_outbox (next_attempt_at) WHERE state = 'pending';

-- Notifier (issue 7): the notice's identity as columns with a unique key, digests (several
-- notices to one recipient in one message), a delivery log, silences, robot rate limits,
-- disabled routes and ops notices, escalation and resolution of alerts.

ALTER TABLE alert
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN escalation_level int NOT NULL DEFAULT 0,
    ADD COLUMN escalated_at timestamptz,
    ADD COLUMN acknowledged_by text;
-- A resolved breach finds the firing alert of the same condition.
CREATE INDEX alert_condition ON alert (alertname, employee_id, period);
-- The escalation sweep looks only at open alerts.
CREATE INDEX alert_open ON alert (alert_id)
    WHERE status = 'firing' AND acknowledged_at IS NULL AND resolved_at IS NULL;

-- A digest: the notices of one recipient and period sent as one message (split into `parts`
-- when a channel's size limit needs it). Its idempotency key is fixed when it is formed, so a
-- digest re-sent after a crash carries the same key.
CREATE TABLE notice_digest (
    digest_id bigserial PRIMARY KEY,
    channel text NOT NULL,
    recipient text NOT NULL,
    destination text NOT NULL,
    period text NOT NULL,
    group_key text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    parts_sent int NOT NULL DEFAULT 0,
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX notice_digest_due ON notice_digest (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notice_digest_group ON notice_digest (group_key, created_at);

-- Notices: one per (alert name, employee, period, channel, recipient, status), by the database.
ALTER TABLE notice_outbox
    ADD COLUMN alertname text,
    ADD COLUMN employee_key text,
    ADD COLUMN period text,
    ADD COLUMN status text,
    ADD COLUMN level int NOT NULL DEFAULT 0,
    ADD COLUMN destination text NOT NULL DEFAULT '',
    ADD COLUMN group_key text,
    ADD COLUMN digest_id bigint REFERENCES notice_digest (digest_id),
    ADD COLUMN silence_id bigint,
    ADD COLUMN held_reason text;
UPDATE notice_outbox n
   SET alertname = a.alertname, employee_key = coalesce(a.employee_id, '-'), period = a.period,
       status = a.status, group_key = n.idempotency_key
  FROM alert a WHERE a.alert_id = n.alert_id;
ALTER TABLE notice_outbox
    ALTER COLUMN alertname SET NOT NULL,
    ALTER COLUMN employee_key SET NOT NULL,
    ALTER COLUMN period SET NOT NULL,
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN group_key SET NOT NULL,
    DROP CONSTRAINT notice_outbox_state_check,
    ADD CONSTRAINT notice_outbox_state_check
        CHECK (state IN ('pending', 'queued', 'sent', 'dead', 'silenced', 'superseded'));
CREATE UNIQUE INDEX notice_once
    ON notice_outbox (alertname, employee_key, period, channel, recipient, status);
CREATE INDEX notice_outbox_group ON notice_outbox (group_key) WHERE state = 'pending';
CREATE INDEX notice_outbox_digest ON notice_outbox (digest_id);

-- Every attempt to deliver a part of a digest, whatever its outcome.
CREATE TABLE notice_delivery_log (
    log_id bigserial PRIMARY KEY,
    digest_id bigint NOT NULL REFERENCES notice_digest (digest_id),
    channel text NOT NULL,
    part int NOT NULL,
    outcome text NOT NULL
        CHECK (outcome IN ('sent', 'retry', 'dead', 'rate_limited', 'disabled', 'held')),
    detail text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notice_delivery_log_digest ON notice_delivery_log (digest_id);

-- Silences: label matchers and a time window; a matching notice is recorded as silenced.
CREATE TABLE silence (
    silence_id bigserial PRIMARY KEY,
    matchers jsonb NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by text NOT NULL,
    comment text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expired_at timestamptz
);

-- Per group robot (keyed by a hash of its URL: the key in it is a secret), the send times of
-- the last minute, and a pause after WeCom refused with 45009.
CREATE TABLE robot_rate (
    robot text PRIMARY KEY,
    sent_at timestamptz[] NOT NULL DEFAULT '{}',
    blocked_until timestamptz
);

-- Destinations that answered "invalid key" (93000): nothing more is sent there until fixed.
CREATE TABLE disabled_destination (
    channel text NOT NULL,
    destination text NOT NULL,
    reason text NOT NULL,
    disabled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, destination)
);

-- What operations must look at (a disabled robot, dead letters).
CREATE TABLE ops_notice (
    ops_notice_id bigserial PRIMARY KEY,
    kind text NOT NULL,
    detail text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW v_alert_log AS
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.summary, a.starts_at, a.received_at, a.acknowledged_at, a.resolved_at,
       a.escalation_level, n.channel, n.recipient, n.level AS notice_level, n.state AS notice_state,
       n.attempts, n.sent_at, n.last_error
  FROM alert a LEFT JOIN notice_outbox n USING (alert_id);

-- The review loop (docs/console.md): every anomaly flag becomes a case that a person decides.
-- A case holds a snapshot of the evidence as the score row stood when it opened; decisions are
-- kept apart (one row each, the audit log has them too). At most one open case per employee
-- and period; a dismissed case is not reopened unless the score rises by REVIEW_REOPEN_MARGIN
-- (then a new case, `reopened_from` naming the old one).
CREATE TABLE review_case (
    case_id bigserial PRIMARY KEY,
    employee_id text NOT NULL,
    period text NOT NULL,
    branch_id text,
    team_id text,
    supervisor_id text,
    anomaly_score double precision NOT NULL,
    reasons jsonb NOT NULL DEFAULT '[]',
    figures jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
    opened_at timestamptz NOT NULL,
    decided_at timestamptz,
    decided_by text,
    decision_reason text,
    reopened_from bigint REFERENCES review_case (case_id)
);
CREATE UNIQUE INDEX review_case_one_open ON review_case (employee_id, period)
    WHERE status = 'open';
CREATE INDEX review_case_by_period ON review_case (period, employee_id);
CREATE INDEX review_case_by_status ON review_case (status, case_id);

-- A flag of another kind of period (a week, a quarter) attached to the case of a month it
-- overlaps (REVIEW_CASE_PERIOD_KINDS), with the score it had.
CREATE TABLE review_case_link (
    employee_id text NOT NULL,
    period text NOT NULL,
    case_id bigint NOT NULL REFERENCES review_case (case_id),
    anomaly_score double precision NOT NULL,
    reasons jsonb NOT NULL DEFAULT '[]',
    linked_at timestamptz NOT NULL,
    PRIMARY KEY (employee_id, period)
);

CREATE TABLE review_decision (
    decision_id bigserial PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES review_case (case_id),
    decision text NOT NULL CHECK (decision IN ('confirm', 'dismiss')),
    reason text NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    employee_id text,
    decided_at timestamptz NOT NULL,
    request_id text
);
CREATE INDEX review_decision_case ON review_decision (case_id);

-- The console's sign-in sessions: the cookie carries a random id, stored here only as its
-- SHA-256 (as api_token keeps tokens); an issued token's session names the token's hash, so
-- revoking the token ends the session at the next request.
CREATE TABLE console_session (
    session_hash text PRIMARY KEY,
    csrf text NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    employee_id text,
    via text NOT NULL,
    token_hash text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_session_expiry ON console_session (expires_at);

-- The dashboards' role reads none of them: judgements about people and sign-in sessions.
REVOKE ALL ON review_case, review_case_link, review_decision, console_session FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON review_case, review_case_link, review_decision, console_session
            FROM wq_reader;
    END IF;
END $$;

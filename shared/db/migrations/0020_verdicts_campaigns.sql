-- A reviewer's verdict on one contact of one employee (docs/console.md): `genuine` (a real
-- customer whatever the automatic rules suspect) or `gamed`. Validity, flags and scores follow
-- it; the newest verdict on a relation replaces the one before (the audit log keeps them all).
CREATE TABLE contact_verdict (
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    verdict text NOT NULL CHECK (verdict IN ('genuine', 'gamed')),
    reason text NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    decided_at timestamptz NOT NULL,
    PRIMARY KEY (employee_id, external_userid)
);
CREATE INDEX contact_verdict_contact ON contact_verdict (external_userid);

-- A known campaign: a channel `state` (QR code) a team uses within a time window. A burst of
-- adds through it is context in the employee's favour, not an anomaly, unless its quality is low.
CREATE TABLE campaign (
    campaign_id bigserial PRIMARY KEY,
    name text NOT NULL,
    state text NOT NULL,
    team_id text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX campaign_state ON campaign (state, team_id);

REVOKE ALL ON contact_verdict FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON contact_verdict FROM wq_reader;
    END IF;
END $$;

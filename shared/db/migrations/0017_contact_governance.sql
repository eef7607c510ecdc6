-- Data governance (PIPL, SECURITY.md "Personal data: retention and erasure"): contact-level
-- data older than CONTACT_DATA_RETENTION_MONTHS is purged, and one contact's data is erased on
-- request (`wecom-quota erase`), without changing the figures of closed periods.

-- One row: how far the purge has gone, and a generation that every purge and erasure moves on
-- (a score recomputed from a snapshot taken before it is not stored: services/scorer/refresh.py).
-- Contact-level records about a time before `purged_before` are dropped when they are consumed
-- again (a replay of the source topics, which keep everything): counted, never stored.
CREATE TABLE contact_governance (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation bigint NOT NULL DEFAULT 0,
    purged_before timestamptz,      -- records about a time before it are dropped at intake
    purge_done_before timestamptz   -- every row about a time before it has been deleted
);
INSERT INTO contact_governance DEFAULT VALUES;

-- The periods whose contact-level data was (partly) purged: their figures (score rows,
-- counters, outcomes, revisions) are kept as they stood and no longer move; a recount cannot
-- check them (`python -m services.scorer.verify` skips them and says so).
CREATE TABLE purged_period (
    period text PRIMARY KEY,
    purged_before timestamptz NOT NULL,
    purged_at timestamptz NOT NULL
);

-- The erasure list: a keyed hash (HMAC-SHA256 under ERASURE_HMAC_KEY) of each external contact
-- erased, never the id. The scorer drops the records of a listed contact when it meets them
-- again (a replay of a topic, which is immutable until its retention ends); the notifier
-- blanks the id in a breach's details.
CREATE TABLE erased_contact (
    erasure_id bigserial PRIMARY KEY,
    contact_hmac text NOT NULL UNIQUE,
    erased_at timestamptz NOT NULL
);

-- What erased contacts still count in closed periods (their figures stay as they were closed):
-- per employee and period, the counters' share of the erased relations and add events, so a
-- recount from the stored facts plus this equals the kept counters.
CREATE TABLE erasure_carry (
    employee_id text NOT NULL,
    period text NOT NULL,
    gross_adds int NOT NULL DEFAULT 0,
    first_adds int NOT NULL DEFAULT 0,
    new_to_bank int NOT NULL DEFAULT 0,
    valid_adds int NOT NULL DEFAULT 0,
    pending_adds int NOT NULL DEFAULT 0,
    removed_adds int NOT NULL DEFAULT 0,
    profile_unknown_adds int NOT NULL DEFAULT 0,
    unverified_adds int NOT NULL DEFAULT 0,
    inherited_adds int NOT NULL DEFAULT 0,
    PRIMARY KEY (employee_id, period)
);

-- The purge deletes by time: indexes for the tables without one on it.
CREATE INDEX contact_removal_time ON contact_removal (removed_at);
CREATE INDEX message_time ON message (sent_at);
CREATE INDEX alert_starts ON alert (starts_at);

-- The dashboards' role reads none of them (the erasure list is nobody's business but the
-- services'); the services read and write them (the default privileges).
REVOKE ALL ON contact_governance, purged_period, erased_contact, erasure_carry FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON contact_governance, purged_period, erased_contact, erasure_carry
            FROM wq_reader;
    END IF;
END $$;

-- What closing a period waits for (issue: complete figures): how far each contact-event
-- partition has been consumed by event time, and how far each bank source has declared
-- itself complete. Written in the scorer's batch transactions, read when a period is due.
CREATE TABLE contact_progress (
    topic text NOT NULL,
    partition integer NOT NULL,
    latest_event_at timestamptz,  -- NULL: assigned, nothing consumed yet
    consumed_at timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE source_progress (
    source text PRIMARY KEY,
    complete_through timestamptz NOT NULL
);

-- A period whose close is held: why and since when (by the scorer's clock). The row is written
-- in the transaction that publishes the one CloseHeld notice of the period, and deleted in the
-- one that publishes its resolution.
CREATE TABLE close_hold (
    period text PRIMARY KEY,
    reasons text[] NOT NULL,
    held_since timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- When the scorer first stored each add (its clock): an add waits PROFILE_WAIT_HOURS for its
-- contact's profile from then, so a backfilled month waits for its lookups.
ALTER TABLE employee_contact ADD COLUMN seen_at timestamptz;
CREATE INDEX employee_contact_seen ON employee_contact (seen_at) WHERE seen_at IS NOT NULL;

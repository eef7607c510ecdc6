-- Quota figures kept by deltas (incremental scoring): each relation's standing as last
-- counted, and the counters of every (employee, period) it counts in. Both are changed in the
-- transaction that stores the records (and the offsets) that changed the standing, or in the
-- one that runs its timer: a relation's verdict changes with time alone when its profile wait
-- or its retention window ends (next_change_at), taken with FOR UPDATE SKIP LOCKED.
CREATE TABLE relation_standing (
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    first_added_at timestamptz,  -- NULL: counted nowhere yet (a row that only holds the lock)
    status text,
    new_to_bank boolean NOT NULL DEFAULT false,
    removed boolean NOT NULL DEFAULT false,
    profile_unknown boolean NOT NULL DEFAULT false,
    unverified boolean NOT NULL DEFAULT false,
    inherited boolean NOT NULL DEFAULT false,
    next_change_at timestamptz,
    PRIMARY KEY (employee_id, external_userid)
);
CREATE INDEX relation_standing_due ON relation_standing (next_change_at)
    WHERE next_change_at IS NOT NULL;

CREATE TABLE quota_counter (
    employee_id text NOT NULL,
    period text NOT NULL,
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

-- The validity rules the standings were judged under: another set of rules (a bank switch
-- changed) has every standing judged again from the stored relations at start-up.
CREATE TABLE quota_rules (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    fingerprint text NOT NULL,
    rebuilt_at timestamptz NOT NULL
);

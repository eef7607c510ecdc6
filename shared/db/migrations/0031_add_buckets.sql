-- The anomaly signals are judged on an employee's adds counted by ten minutes and channel
-- (services/scorer/domain/features.py), kept by deltas like the quota counters: the
-- transaction that judges a relation (services/scorer/tally.py, `settle`) takes its old signs
-- out of its bucket and puts its new ones in. The refresh and the close read a period's
-- buckets, not its relations; the verifier counts them both ways. Campaigns are left out (an
-- add's campaign is looked up as its relation is read, and ops register campaigns after the
-- fact): an employee whose team has a campaign in the period is judged from its relations.
--
-- A relation's standing keeps what it counts in its bucket (`feature_bits`: bit i is the i-th
-- of `features.FIELDS`). NULL: judged before this migration; the start-up rebuild that a new
-- standing version brings judges every relation again.
ALTER TABLE relation_standing
    ADD COLUMN feature_bits int;

CREATE TABLE add_bucket (
    employee_id text NOT NULL,
    span_start timestamptz NOT NULL,  -- the start of the local ten minutes of the first adds
    channel text NOT NULL,            -- the channel state, else 'add_way:<n>'
    adds int NOT NULL DEFAULT 0,
    hollow int NOT NULL DEFAULT 0,
    silent int NOT NULL DEFAULT 0,
    customers int NOT NULL DEFAULT 0,
    conversations int NOT NULL DEFAULT 0,
    talkers int NOT NULL DEFAULT 0,
    engaged int NOT NULL DEFAULT 0,
    hollow_engaged int NOT NULL DEFAULT 0,
    peer int NOT NULL DEFAULT 0,
    staff int NOT NULL DEFAULT 0,
    quick int NOT NULL DEFAULT 0,
    re_added int NOT NULL DEFAULT 0,
    after_window int NOT NULL DEFAULT 0,
    employee_removed int NOT NULL DEFAULT 0,
    noncustomers int NOT NULL DEFAULT 0,
    writers int NOT NULL DEFAULT 0,
    genuine int NOT NULL DEFAULT 0,
    PRIMARY KEY (employee_id, span_start, channel)
);
-- The retention purge deletes the buckets of adds before its cutoff (their periods frozen).
CREATE INDEX add_bucket_span ON add_bucket (span_start);

-- Notifier (issue 7): the daily digest per supervisor, and what ops must hear (a disabled
-- robot, a dead letter), ride in the same outbox as alert digests (claimed with FOR UPDATE
-- SKIP LOCKED, retried, dead-lettered, logged). Their content is a snapshot (column
-- `snapshot`) taken when they are planned, so a part sent again is the same part.
ALTER TABLE notice_digest
    ADD COLUMN kind text NOT NULL DEFAULT 'alerts' CHECK (kind IN ('alerts', 'daily', 'ops')),
    ADD COLUMN day date,
    ADD COLUMN snapshot jsonb,
    ADD CONSTRAINT notice_digest_daily_has_snapshot
        CHECK (kind <> 'daily' OR (day IS NOT NULL AND snapshot IS NOT NULL)),
    ADD CONSTRAINT notice_digest_ops_has_snapshot CHECK (kind <> 'ops' OR snapshot IS NOT NULL);
-- Exactly one daily digest per channel, destination, recipient and day.
CREATE UNIQUE INDEX daily_digest_once ON notice_digest (channel, destination, recipient, day)
    WHERE kind = 'daily';

-- The days whose digests were planned (one transaction with the digests): a restart neither
-- plans a day again nor forgets one; a gap between planned days is reported to ops.
CREATE TABLE daily_digest_day (
    day date PRIMARY KEY,
    digests int NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now()
);

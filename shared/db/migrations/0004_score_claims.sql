-- Dirty scores are claimed in a short transaction and cleared when their recomputation is
-- stored, so no long-running transaction holds the rows the consumer marks: a mark made after
-- the claim (marked_at > claimed_at) keeps the row dirty for another round; a claim left by a
-- crashed process expires.
ALTER TABLE score_dirty
    ADD COLUMN marked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN claimed_at timestamptz;
CREATE INDEX score_dirty_unclaimed ON score_dirty (marked_at) WHERE claimed_at IS NULL;

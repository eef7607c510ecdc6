-- The refresh claims dirty rows oldest mark first (services/scorer/refresh.py, CLAIM_SQL). Its
-- condition (not claimed, or marked again since the claim, or a claim past its lease) is an OR
-- that the partial index on unclaimed rows cannot serve, so every claim read and sorted the
-- whole table: 125 ms a claim over the 260,000 rows a drain leaves dirty. With every row's mark
-- indexed, a claim reads the oldest rows in order and stops at its batch (4 ms).
CREATE INDEX score_dirty_marked ON score_dirty (marked_at);
DROP INDEX score_dirty_unclaimed;

-- One counter row per (employee, period) written by a batch: the gross adds join the quota
-- counters (they were a table of their own, employee_period_stats, upserted beside them), so a
-- batch moves every count of a row in one statement and reads the totals back from it
-- (RETURNING) to write the score row's quota columns.
ALTER TABLE quota_counter ADD COLUMN gross_adds int NOT NULL DEFAULT 0;
INSERT INTO quota_counter AS q (employee_id, period, gross_adds)
SELECT employee_id, period, gross_adds FROM employee_period_stats
ON CONFLICT (employee_id, period) DO UPDATE SET gross_adds = EXCLUDED.gross_adds;
DROP TABLE employee_period_stats;
CREATE INDEX quota_counter_period ON quota_counter (period);

-- When the score row's quota columns were last written from the counters: pace, projection
-- and status move with working time, so rows not written for a while are written again
-- (services/scorer/refresh.py, `Refresher.sweep`).
ALTER TABLE employee_period_score ADD COLUMN quota_at timestamptz;

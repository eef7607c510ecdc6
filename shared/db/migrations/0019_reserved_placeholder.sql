-- Placeholder, nothing else: version 0019 is reserved for the scoring-path work done alongside
-- the review loop (branch review-console), and the migrator refuses gaps. When that work's own
-- 0019 lands, this file is dropped in its favour (a database that applied this placeholder is a
-- test or local one: recreate it, or mark 0019 as applied with that migration's checksum).
SELECT 1;

-- The rows every batch rewrites (an employee's counters and score row per period, several times
-- a second at a bank's peak) leave room in their pages for their next version: PostgreSQL then
-- updates them in place (a HOT update, no new index entries) instead of moving them, and the
-- tables stay small. Pages written from now on keep the room; existing pages as they are.
ALTER TABLE employee_period_score SET (fillfactor = 70);
ALTER TABLE quota_counter SET (fillfactor = 70);

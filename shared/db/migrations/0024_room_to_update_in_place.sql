-- The rows every batch rewrites (an employee's counters and score row per period, several times
-- a second at a bank's peak) leave room in their pages for their next version: PostgreSQL then
-- updates them within their page (a HOT update: no new index entries) instead of moving them;
-- in a 2,000 events/s benchmark 78 % of the score rows' updates and 85 % of the counters' were
-- HOT. Pages written from now on keep the room; existing pages as they are.
ALTER TABLE employee_period_score SET (fillfactor = 70);
ALTER TABLE quota_counter SET (fillfactor = 70);

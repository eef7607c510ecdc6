-- A counter row's `version` moves with every change a batch or a timer adds to it (it starts
-- at 1); a score row's `quota_version` is the version its quota and quality columns were
-- written from. The read API computes an open period's quota figures from the counters as it
-- reads them; the score rows' copies are written by the refresh after the row's settle time,
-- and only from a version at least as new as the one they hold: a refresh that read the
-- counters before a later write never puts an older figure back.
ALTER TABLE quota_counter ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE employee_period_score ADD COLUMN quota_version bigint NOT NULL DEFAULT 0;

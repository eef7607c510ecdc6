-- A score whose employee has no org record yet is deferred, not dropped: `deferrals` counts
-- the attempts, so that the retry backs off (5 s, 10 s, ... up to 10 min) instead of spinning
-- for an id HR never sends; new input for the row makes it due again at once.
ALTER TABLE score_dirty ADD COLUMN deferrals int NOT NULL DEFAULT 0;

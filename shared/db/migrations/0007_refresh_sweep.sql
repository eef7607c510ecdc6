-- When the scorer last marked what time alone changes (retention and engagement windows that
-- ended, open periods' pace: services/scorer/refresh.py, `Refresher.sweep`). A restarted
-- scorer sweeps from here, not the last 40 days again: at a national bank's size that was
-- ~3 million score rows recomputed after every restart. One row, shared by all instances.
CREATE TABLE refresh_sweep (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    swept_at timestamptz NOT NULL
);

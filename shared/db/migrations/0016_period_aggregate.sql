-- Bank-wide figures of a period that take seconds to compute (the peers' baseline, the dense
-- blocks of the contact graph), stored so that every scorer process judges against the same
-- version (services/scorer/bankwide.py). `seconds` is how long the computation took and
-- `stored_at` when it was stored, by PostgreSQL's clock: a version is reused for ten times as
-- long as it took (at least its kind's floor), then computed again.
CREATE TABLE period_aggregate (
    period text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('baseline', 'blocks')),
    value jsonb NOT NULL,
    seconds double precision NOT NULL,
    stored_at timestamptz NOT NULL,
    PRIMARY KEY (period, kind)
);

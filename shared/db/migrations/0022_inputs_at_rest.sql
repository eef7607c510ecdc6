-- Scores brought to rest (services/scorer/at_rest.py). Bank-wide figures and scores computed
-- while records were arriving used the inputs of their moment; once the inputs stop changing,
-- the scorer recomputes them from the final inputs, so that the same inputs give the same
-- figures whatever the order, batching or number of instances that applied them.
--
-- The inputs' version is the sum of the scorer's stored offsets plus `overrides` (moved on by
-- every reviewer verdict and campaign) plus the governance generation (erasures, purges): it
-- grows with every change of what the scores are computed from. `at_rest` is the version the
-- scores were last brought to rest at; a bank-wide figure computed before it is not reused.
ALTER TABLE period_aggregate ADD COLUMN inputs_version bigint NOT NULL DEFAULT 0;

CREATE TABLE scoring_inputs (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    overrides bigint NOT NULL DEFAULT 0,
    at_rest bigint NOT NULL DEFAULT -1,
    at_rest_since timestamptz
);
INSERT INTO scoring_inputs DEFAULT VALUES;

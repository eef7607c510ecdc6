-- Scores brought to rest (services/scorer/at_rest.py). Bank-wide figures and scores computed
-- while records were arriving used the inputs of their moment; once the inputs stop changing,
-- the scorer recomputes them from the final inputs, so that the same inputs give the same
-- figures whatever the order, batching or number of instances that applied them.
--
-- The inputs' version is the sum of the scorer group's stored offsets plus `changes` (moved on
-- by every reviewer verdict and campaign, every batch of due timers and every rebuild under
-- new rules) plus the governance generation (erasures, purges). `at_rest` is the version of
-- the last pass that brought the scores to rest: a bank-wide figure of an open period computed
-- from other inputs is not reused after it. `rested` is set when that pass has marked every
-- open row, at `rested_at`.
ALTER TABLE period_aggregate ADD COLUMN inputs_version bigint NOT NULL DEFAULT 0;

CREATE TABLE scoring_inputs (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    changes bigint NOT NULL DEFAULT 0,
    at_rest bigint NOT NULL DEFAULT -1,
    rested bigint NOT NULL DEFAULT -1,
    rested_at timestamptz
);
INSERT INTO scoring_inputs DEFAULT VALUES;

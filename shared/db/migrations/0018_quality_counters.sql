-- Quality kept by deltas, like the quota (services/scorer/domain/tally.py): each relation's
-- standing also says what the quality components count of it, and the counters of every
-- (employee, period) it counts in move with it in the same transaction. Chat figures are kept
-- the same way: one row per customer-initiated chat-day (asked, first reply that day), counted
-- into the period counters when it changes; the median first reply is kept per (employee,
-- period) from those rows. The standings are judged again at the next start-up (the rules'
-- fingerprint includes the standing's version), which also counts the stored messages' chat
-- days: nothing is computed here.
ALTER TABLE relation_standing
    ADD COLUMN considered boolean NOT NULL DEFAULT false,
    ADD COLUMN matched boolean NOT NULL DEFAULT false,
    ADD COLUMN tier text,
    ADD COLUMN engaged boolean,
    ADD COLUMN retained boolean;

ALTER TABLE quota_counter
    ADD COLUMN considered_adds int NOT NULL DEFAULT 0,
    ADD COLUMN matched_adds int NOT NULL DEFAULT 0,
    ADD COLUMN engaged_adds int NOT NULL DEFAULT 0,
    ADD COLUMN engagement_decided int NOT NULL DEFAULT 0,
    ADD COLUMN engagement_pending int NOT NULL DEFAULT 0,
    ADD COLUMN retained_adds int NOT NULL DEFAULT 0,
    ADD COLUMN retention_decided int NOT NULL DEFAULT 0,
    ADD COLUMN retention_pending int NOT NULL DEFAULT 0,
    ADD COLUMN customer_chats int NOT NULL DEFAULT 0,
    ADD COLUMN answered_same_day int NOT NULL DEFAULT 0,
    ADD COLUMN one_to_one_sent int NOT NULL DEFAULT 0,
    ADD COLUMN mass_sent int NOT NULL DEFAULT 0,
    ADD COLUMN median_reply_seconds float8,
    -- matched, considered adds by customer tier: {"<tier>": n}
    ADD COLUMN tiers jsonb NOT NULL DEFAULT '{}';

ALTER TABLE erasure_carry
    ADD COLUMN considered_adds int NOT NULL DEFAULT 0,
    ADD COLUMN matched_adds int NOT NULL DEFAULT 0,
    ADD COLUMN engaged_adds int NOT NULL DEFAULT 0,
    ADD COLUMN engagement_decided int NOT NULL DEFAULT 0,
    ADD COLUMN engagement_pending int NOT NULL DEFAULT 0,
    ADD COLUMN retained_adds int NOT NULL DEFAULT 0,
    ADD COLUMN retention_decided int NOT NULL DEFAULT 0,
    ADD COLUMN retention_pending int NOT NULL DEFAULT 0,
    ADD COLUMN customer_chats int NOT NULL DEFAULT 0,
    ADD COLUMN answered_same_day int NOT NULL DEFAULT 0,
    ADD COLUMN one_to_one_sent int NOT NULL DEFAULT 0,
    ADD COLUMN mass_sent int NOT NULL DEFAULT 0;

-- A customer-initiated chat-day (local day of the business time zone): when the customer
-- first wrote one-to-one that day, and the employee's first one-to-one reply after it.
CREATE TABLE chat_day (
    employee_id text NOT NULL,
    external_userid text NOT NULL,
    day date NOT NULL,
    asked timestamptz NOT NULL,
    reply timestamptz,
    PRIMARY KEY (employee_id, external_userid, day)
);
CREATE INDEX chat_day_employee ON chat_day (employee_id, day);
CREATE INDEX chat_day_contact ON chat_day (external_userid);

-- Per-name counts held as a JSON object ({"<tier>": n}) added like the other counters: the sum
-- of both by name, names whose sum is zero left out.
CREATE FUNCTION wq_add_counts(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT COALESCE(jsonb_object_agg(k, n ORDER BY k), '{}'::jsonb)
  FROM (SELECT k, sum(v::int) AS n
          FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) s (k, v)
         GROUP BY k HAVING sum(v::int) <> 0) t
$$;
ALTER TABLE erasure_carry ADD COLUMN tiers jsonb NOT NULL DEFAULT '{}';

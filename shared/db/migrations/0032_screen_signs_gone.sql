-- The anomaly screen gave way to the features kept by deltas (migration 0031): an employee's
-- anomaly is judged on its buckets, so the screen's yes/no signs on each standing are read by
-- nothing any more. The channel stays (a bucket's key), and so do the index on (employee, first
-- add) and the customer and conversation signs (the talkers' chats and the peers' baseline).
ALTER TABLE relation_standing
    DROP COLUMN hollow,
    DROP COLUMN silent,
    DROP COLUMN peer,
    DROP COLUMN quick,
    DROP COLUMN re_added,
    DROP COLUMN after_window;

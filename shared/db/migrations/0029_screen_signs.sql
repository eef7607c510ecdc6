-- What the anomaly screen counts of a relation is kept with its standing by the transaction
-- that judges it (services/scorer/tally.py, `settle`; services/scorer/domain/screen.py,
-- `signs`): the channel its QR bursts are counted in, whether it is hollow, whether the contact
-- never wrote, a peer institution, removed within the retention window, re-added, removed by
-- the employee just after the window. The refresh and the close count them per employee and
-- period, and read and judge the relations only of employees for whom a signal can fire. NULL:
-- judged before this migration; such an employee's relations are read as before, until they are
-- judged again (nothing is judged again for this: a new period's relations all have them). The
-- verifier counts the screen both ways.
ALTER TABLE relation_standing
    ADD COLUMN channel text,
    ADD COLUMN hollow boolean,
    ADD COLUMN silent boolean,
    ADD COLUMN peer boolean,
    ADD COLUMN quick boolean,
    ADD COLUMN re_added boolean,
    ADD COLUMN after_window boolean;

-- The screen reads one employee's standings of one period, not all of the employee's history.
CREATE INDEX relation_standing_employee_added ON relation_standing (employee_id, first_added_at);

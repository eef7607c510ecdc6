-- An employee's segment of work, when the bank states it on the `employee` record (issue #20):
-- acquisition, servicing or counter. The anomaly signals compare an employee with peers of the
-- same segment; NULL: not stated, the scorer infers it from the employee's adds.
ALTER TABLE employee ADD COLUMN segment text
    CHECK (segment IN ('acquisition', 'servicing', 'counter'));

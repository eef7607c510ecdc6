-- What the peers' baseline counts of a relation is kept with its standing by the transaction
-- that judges it (services/scorer/tally.py, `settle`): whether the contact is a matched bank
-- customer and whether the customer has written at least twice (a conversation). A relation
-- is judged again when either changes (a customer link or profile, the customer's first and
-- second message). The baseline then reads the month's standings alone, by their first add,
-- instead of every relation joined with its contact. NULL: judged before this migration, read
-- the old way until the relation is judged again (nothing is judged again for this: a new
-- period's relations all have them). The verifier counts the baseline both ways.
ALTER TABLE relation_standing
    ADD COLUMN customer boolean,
    ADD COLUMN conversation boolean;

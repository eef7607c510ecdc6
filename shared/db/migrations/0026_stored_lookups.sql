-- A relation's facts that are looked up per relation (a staff account, a handover, a
-- reviewer's verdict, whether it was removed since its add) are stored with its standing by
-- the transaction that judges it (services/scorer/tally.py, `settle`), so that the reads of
-- whole periods (the refresh, the close) take them from here instead of five lookups per
-- relation. `derived`: the row holds them; a row without them (judged before this migration)
-- has them looked up as it is read, until its relation is judged again. Nothing is judged
-- again for this (a bank's whole history would be, at start-up): a new period's relations
-- all have them. The verifier checks them against the lookups.
ALTER TABLE relation_standing
    ADD COLUMN derived boolean NOT NULL DEFAULT false,
    ADD COLUMN staff_account_of text,
    ADD COLUMN handed_over boolean NOT NULL DEFAULT false,
    ADD COLUMN review text,
    ADD COLUMN removed_since_add boolean NOT NULL DEFAULT false;

-- The retention purge finds the standings of relations added before its cutoff (and those of
-- relations never added, `first_added_at` NULL) by this index, not by reading every standing.
CREATE INDEX relation_standing_added ON relation_standing (first_added_at);

-- The retention purge finds the contacts with nothing about them since its cutoff (their
-- first add, profile and customer link all before it) by this index, not by reading every
-- contact of the bank for each chunk of 5,000 under the hold that stops the consumer
-- (services/scorer/contact_data.py, PURGES: the expression is the purge's, verbatim).
CREATE INDEX contact_last_fact
    ON contact ((coalesce(GREATEST(first_added_at, profile_at, link_at), '-infinity')));

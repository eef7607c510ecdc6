-- The retention purge deletes in chunks of 5,000 rows under the hold that stops the consumer
-- (services/scorer/contact_data.py, PURGES): each chunk finds its rows by an index, not by
-- reading the whole table (a contact chunk read all 10,000,000 contacts of a bank in 2 s).
-- The contacts with nothing about them since the cutoff (first add, profile and customer link
-- all before it), in the order the purge goes through them, chunk after chunk from where the
-- last stopped (CONTACTS_PURGE_SQL): the expression is the purge's, verbatim.
CREATE INDEX contact_last_fact
    ON contact ((coalesce(GREATEST(first_added_at, profile_at, link_at), '-infinity')),
                external_userid);
-- The chat-days asked before the cutoff.
CREATE INDEX chat_day_asked ON chat_day (asked);

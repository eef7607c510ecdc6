-- Contacts that more than one employee has added. Kept by the batch that adds the second
-- employee's relation (it holds the contact row's lock), so that the anomaly rules' cross-team
-- overlap reads the few shared contacts of an employee's period instead of looking up every
-- relation's contact among all employees' relations.
ALTER TABLE contact ADD COLUMN shared boolean NOT NULL DEFAULT false;
UPDATE contact c SET shared = true
  FROM (SELECT external_userid FROM employee_contact WHERE first_added_at IS NOT NULL
         GROUP BY external_userid HAVING count(*) >= 2) s
 WHERE s.external_userid = c.external_userid;
CREATE INDEX contact_shared ON contact (external_userid) WHERE shared;

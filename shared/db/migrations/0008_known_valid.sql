-- An add is not valid until it is known to be (issue 17): whether WeCom's profile of a contact
-- is known, HR's staff accounts, and the scores' counts of adds waiting for a profile, judged
-- unverified, and inherited.

-- NULL: no profile yet; true: WeCom's profile is known; false: WeCom said no such contact.
ALTER TABLE contact ADD COLUMN profile_found boolean;
UPDATE contact SET profile_found = true WHERE profile_at IS NOT NULL;
CREATE INDEX contact_unionid ON contact (unionid) WHERE unionid IS NOT NULL;

-- An employee's own personal WeChat (from HR): never a valid add for anyone. The employee may
-- not be known yet (HR's streams arrive in any order): kept all the same.
CREATE TABLE staff_account (
    employee_id text NOT NULL,
    unionid text,
    external_userid text,
    as_of timestamptz NOT NULL,
    event_id text NOT NULL,
    CHECK (unionid IS NOT NULL OR external_userid IS NOT NULL),
    UNIQUE NULLS NOT DISTINCT (employee_id, unionid, external_userid)
);
CREATE INDEX staff_account_unionid ON staff_account (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX staff_account_contact ON staff_account (external_userid)
    WHERE external_userid IS NOT NULL;

-- The receiving side of a handover is found by the giver's DELETE_BY_TRANSFER of the contact.
CREATE INDEX contact_removal_transfer ON contact_removal (external_userid, removed_at)
    WHERE source = 'DELETE_BY_TRANSFER';

ALTER TABLE employee_period_score
    ADD COLUMN profile_unknown_adds int NOT NULL DEFAULT 0,
    ADD COLUMN unverified_adds int NOT NULL DEFAULT 0,
    ADD COLUMN inherited_adds int NOT NULL DEFAULT 0;

-- The views keep their columns (dashboards read them by name) and gain the new ones at the end.
CREATE OR REPLACE VIEW v_employee_period_scores AS
SELECT s.period, s.employee_id, e.name AS employee_name, s.branch_id, s.team_id,
       s.supervisor_id, s.role, s.target, s.gross_adds, s.first_adds, s.new_to_bank,
       s.valid_adds, s.pending_adds, s.removed_adds, s.attainment, s.pace, s.projection,
       s.status, s.quality_score,
       (s.quality ->> 'customer_match')::double precision AS quality_customer_match,
       (s.quality ->> 'engagement')::double precision AS quality_engagement,
       (s.quality ->> 'retention')::double precision AS quality_retention,
       (s.quality ->> 'responsiveness')::double precision AS quality_responsiveness,
       (s.quality ->> 'personal_touch')::double precision AS quality_personal_touch,
       s.anomaly_score, s.flagged, s.reasons, s.computed_at,
       (pc.period IS NOT NULL) AS closed,
       s.profile_unknown_adds, s.unverified_adds, s.inherited_adds
  FROM employee_period_score s
  LEFT JOIN employee e USING (employee_id)
  LEFT JOIN period_close pc ON pc.period = s.period;

CREATE OR REPLACE VIEW v_team_period_summary AS
SELECT period, branch_id, team_id,
       count(*) AS employees,
       sum(target) AS target,
       sum(gross_adds) AS gross_adds,
       sum(valid_adds) AS valid_adds,
       sum(pending_adds) AS pending_adds,
       sum(removed_adds) AS removed_adds,
       CASE WHEN sum(target) > 0 THEN sum(valid_adds)::double precision / sum(target) END
         AS attainment,
       count(*) FILTER (WHERE status = 'on_track') AS on_track,
       count(*) FILTER (WHERE status = 'behind') AS behind,
       count(*) FILTER (WHERE status = 'met') AS met,
       count(*) FILTER (WHERE status = 'missed') AS missed,
       avg(quality_score) AS quality_score,
       avg(anomaly_score) AS anomaly_score,
       count(*) FILTER (WHERE flagged) AS flagged,
       sum(profile_unknown_adds) AS profile_unknown_adds,
       sum(unverified_adds) AS unverified_adds,
       sum(inherited_adds) AS inherited_adds
  FROM employee_period_score
 GROUP BY period, branch_id, team_id;

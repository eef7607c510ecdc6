-- Secrets at rest (SECURITY.md): a group robot's webhook URL carries the robot's key, and the
-- notifier's outbox names a webhook by its URL. Neither may reach the dashboards' role.
--
-- Robot URLs leave `employee` (which dashboards read) for `employee_robot`, which only the
-- services read: whoever writes an employee row (the scorer, from the bank's records), a
-- trigger moves the URL aside and leaves the marker `(kept apart)` in `employee.robot_webhook`.
-- The notifier seals a URL it finds in `url_plain` (AES-256-GCM under NOTIFIER_ROBOT_KEYS,
-- shared/sealed.py) at start and within a second while it runs, and opens it only to send.
CREATE TABLE employee_robot (
    employee_id text PRIMARY KEY,
    url_plain text,       -- as the bank's record gave it, until the notifier seals it
    sealed bytea,         -- shared/sealed.py: key id, nonce, ciphertext and tag
    key_id text,          -- the key it is sealed under (rotation re-seals the others)
    url_sha256 text NOT NULL,  -- hex SHA-256 of the URL: the same URL again is not re-staged
    updated_at timestamptz NOT NULL DEFAULT now(),  -- when the URL last arrived (the trigger)
    CHECK ((url_plain IS NULL) <> (sealed IS NULL)),
    CHECK ((sealed IS NULL) = (key_id IS NULL))
);
CREATE INDEX employee_robot_unsealed ON employee_robot (employee_id) WHERE url_plain IS NOT NULL;

-- After the row is written (an upsert whose update is refused, an older record, changes
-- nothing), the URL moves aside and the row keeps a marker instead; a record without a URL
-- forgets the kept one. The marker's own update does not fire the trigger again.
CREATE FUNCTION employee_robot_aside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.robot_webhook IS NULL OR NEW.robot_webhook = '' THEN
        DELETE FROM employee_robot WHERE employee_id = NEW.employee_id;
    ELSE
        INSERT INTO employee_robot AS r (employee_id, url_plain, url_sha256)
        VALUES (NEW.employee_id, NEW.robot_webhook,
                encode(sha256(convert_to(NEW.robot_webhook, 'UTF8')), 'hex'))
        ON CONFLICT (employee_id) DO UPDATE
           SET url_plain = EXCLUDED.url_plain, sealed = NULL, key_id = NULL,
               url_sha256 = EXCLUDED.url_sha256, updated_at = now()
         WHERE r.url_sha256 <> EXCLUDED.url_sha256;
        UPDATE employee SET robot_webhook = '(kept apart)' WHERE employee_id = NEW.employee_id;
    END IF;
    RETURN NULL;
END $$;

-- The URLs already kept move aside first (the notifier seals them when it starts).
INSERT INTO employee_robot (employee_id, url_plain, url_sha256)
SELECT employee_id, robot_webhook, encode(sha256(convert_to(robot_webhook, 'UTF8')), 'hex')
  FROM employee
 WHERE robot_webhook IS NOT NULL AND robot_webhook <> '';
UPDATE employee SET robot_webhook = '(kept apart)'
 WHERE robot_webhook IS NOT NULL AND robot_webhook <> '';

CREATE TRIGGER employee_robot_aside AFTER INSERT OR UPDATE OF robot_webhook ON employee
    FOR EACH ROW WHEN (NEW.robot_webhook IS DISTINCT FROM '(kept apart)')
    EXECUTE FUNCTION employee_robot_aside();
COMMENT ON COLUMN employee.robot_webhook IS
    'Since migration 0014 never a URL: ''(kept apart)'' when the employee names a group robot, '
    'whose URL employee_robot keeps (sealed)';

-- Webhook URLs name their notices in the outbox (recipient, destination, keys): the alert log
-- the dashboards read shows no recipient for a webhook, as GET /v1/alerts does not, and error
-- texts lose any URL (the notifier no longer writes one, services/notifier/channels/webhook.py).
CREATE OR REPLACE VIEW v_alert_log AS
SELECT a.alert_id, a.alertname, a.status, a.employee_id, a.period, a.supervisor_id, a.team_id,
       a.branch_id, a.summary, a.starts_at, a.received_at, a.acknowledged_at, a.resolved_at,
       a.escalation_level, n.channel,
       CASE WHEN n.channel = 'webhook' THEN NULL ELSE n.recipient END AS recipient,
       n.level AS notice_level, n.state AS notice_state, n.attempts, n.sent_at,
       regexp_replace(n.last_error, 'https?://[^[:space:]''"]*', '(url)', 'g') AS last_error
  FROM alert a LEFT JOIN notice_outbox n USING (alert_id);
UPDATE notice_outbox SET last_error = regexp_replace(last_error, 'https?://[^[:space:]''"]*', '(url)', 'g')
 WHERE last_error ~ 'https?://';
UPDATE notice_digest SET last_error = regexp_replace(last_error, 'https?://[^[:space:]''"]*', '(url)', 'g')
 WHERE last_error ~ 'https?://';
UPDATE notice_delivery_log SET detail = regexp_replace(detail, 'https?://[^[:space:]''"]*', '(url)', 'g')
 WHERE detail ~ 'https?://';
UPDATE ops_notice SET detail = regexp_replace(detail, 'https?://[^[:space:]''"]*', '(url)', 'g')
 WHERE detail ~ 'https?://';

-- Least privilege: the services keep robots; the dashboards' role reads neither robots nor the
-- outbox's tables (its alert log is v_alert_log above).
REVOKE ALL ON employee_robot FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON employee_robot, notice_outbox, notice_digest, notice_delivery_log,
                      ops_notice FROM wq_reader;
    END IF;
END $$;

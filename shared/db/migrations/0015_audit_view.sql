-- The audit log as the dashboards show it (SECURITY.md): who (actor, role, employee id), what
-- (action, target), when and the request id of each state-changing call. Never `before` and
-- `after`, which may hold personal data; the dashboards' role still reads neither `audit_log`
-- nor `api_token` themselves.
CREATE VIEW v_audit_recent AS
SELECT audit_id, at, actor, role, employee_id, action, target, request_id
  FROM audit_log;

-- Read-only for everyone: the default privileges would let the services write through it.
REVOKE ALL ON v_audit_recent FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_app') THEN
        REVOKE ALL ON v_audit_recent FROM wq_app;
        GRANT SELECT ON v_audit_recent TO wq_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON v_audit_recent FROM wq_reader;
        GRANT SELECT ON v_audit_recent TO wq_reader;
    END IF;
END $$;

-- Access control: API tokens the system issues (only their SHA-256 is kept) and the audit log
-- of every state-changing call (append-only). See SECURITY.md.
CREATE TABLE api_token (
    token_id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    token_hash text NOT NULL UNIQUE,  -- hex SHA-256 of the token; the token itself is never kept
    role text NOT NULL CHECK (role IN ('admin', 'risk', 'supervisor', 'viewer', 'ingest')),
    employee_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CHECK (role <> 'supervisor' OR employee_id IS NOT NULL)
);

CREATE TABLE audit_log (
    audit_id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,        -- the token's name or the SSO subject
    role text NOT NULL,
    employee_id text,
    action text NOT NULL,       -- e.g. period.close, alert.ack, silence.create, token.revoke
    target text NOT NULL,
    before jsonb,
    after jsonb,
    request_id text
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only for everyone, the owner included: a row is never changed or removed.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Least privilege (the default privileges of deploy/postgres/schema_grants.sql gave more): the
-- services insert and read the audit log, never change it; tokens are revoked, never deleted;
-- dashboards (wq_reader) see neither table.
REVOKE ALL ON audit_log, api_token FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_app') THEN
        REVOKE ALL ON audit_log, api_token FROM wq_app;
        GRANT SELECT, INSERT ON audit_log TO wq_app;
        GRANT SELECT, INSERT, UPDATE ON api_token TO wq_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') THEN
        REVOKE ALL ON audit_log, api_token FROM wq_reader;
    END IF;
END $$;

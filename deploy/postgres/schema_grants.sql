-- Schema privileges of one database, run as its owner (wq_owner): by deploy/postgres/roles.sql
-- for the main database, and by the tests for each database they create. Plain SQL, no psql
-- variables, so any client can run it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO wq_app, wq_reader;
-- Objects that migrations (run as wq_owner) create later get the right grants automatically:
-- the services read and write data but cannot change the schema; dashboards only read.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO wq_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO wq_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT ON TABLES TO wq_reader;
